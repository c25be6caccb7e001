package dev.vouch.backend.bazelhttp;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import dev.vouch.backend.BackendException;
import dev.vouch.backend.Deadline;
import dev.vouch.backend.Scope;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.digest.DigestSet;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import reactor.test.StepVerifier;

/** A cache that accepts requests and never answers: the request's deadline, not the call timeout, ends the wait. */
class BazelHttpDeadlineTest {
    private static final Scope SCOPE = Scope.of("");
    private static final Duration TIMEOUT = Duration.ofSeconds(20);
    private static final Duration DEADLINE = Duration.ofMillis(300);

    private final CountDownLatch release = new CountDownLatch(1);
    private HttpServer server;
    private ExecutorService serverThreads;
    private BazelHttpBackend backend;

    @BeforeEach
    void silentCache() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        serverThreads = Executors.newCachedThreadPool();
        server.setExecutor(serverThreads);
        server.createContext("/", exchange -> {
            try {
                release.await(1, TimeUnit.MINUTES);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            exchange.close();
        });
        server.start();
        URI base = URI.create("http://127.0.0.1:" + server.getAddress().getPort());
        backend = (BazelHttpBackend) new BazelHttpBackendFactory().create(new VouchProperties.Backend("silent",
                VouchProperties.BackendType.HTTP, null, base, null, Map.of(), null, null, Duration.ofSeconds(30), 4));
    }

    @AfterEach
    void stop() throws Exception {
        release.countDown();
        backend.close();
        server.stop(0);
        serverThreads.shutdownNow();
    }

    @Test
    void actionCacheLookupEndsAtTheDeadline() {
        Digest action = DigestFunction.SHA256.digestOf("an action".getBytes(StandardCharsets.UTF_8));

        long start = System.nanoTime();
        StepVerifier.create(backend.getActionResult(SCOPE, action)
                        .contextWrite(context -> Deadline.in(DEADLINE).addTo(context)))
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(BackendException.class)
                        .hasMessageContaining("no answer within"))
                .verify(TIMEOUT);

        assertThat(Duration.ofNanos(System.nanoTime() - start)).isBetween(Duration.ofMillis(250), Duration.ofSeconds(5));
    }

    @Test
    void existenceCheckEndsAtTheDeadline() {
        Digest blob = DigestFunction.SHA256.digestOf("an output".getBytes(StandardCharsets.UTF_8));

        long start = System.nanoTime();
        StepVerifier.create(backend.findMissing(SCOPE, DigestSet.of(blob))
                        .contextWrite(context -> Deadline.in(DEADLINE).addTo(context)))
                .expectError(BackendException.class)
                .verify(TIMEOUT);

        assertThat(Duration.ofNanos(System.nanoTime() - start)).isBetween(Duration.ofMillis(250), Duration.ofSeconds(5));
    }
}
