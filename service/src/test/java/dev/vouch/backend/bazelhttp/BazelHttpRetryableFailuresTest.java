package dev.vouch.backend.bazelhttp;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import dev.vouch.backend.BackendException;
import dev.vouch.backend.Scope;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import reactor.test.StepVerifier;

/** Which failures of an HTTP cache the resilience layer may retry: "not now" yes, "no" never. */
class BazelHttpRetryableFailuresTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(20);
    private static final Scope SCOPE = Scope.of("");
    private static final Digest ACTION = DigestFunction.SHA256.digestOf("an action".getBytes(StandardCharsets.UTF_8));

    private HttpServer server;
    private ExecutorService serverThreads;
    private final CountDownLatch release = new CountDownLatch(1);
    private BazelHttpBackend backend;

    @AfterEach
    void stop() throws Exception {
        release.countDown();
        if (backend != null) {
            backend.close();
        }
        if (server != null) {
            server.stop(0);
            serverThreads.shutdownNow();
        }
    }

    @ParameterizedTest
    @CsvSource({"429, true", "502, true", "503, true", "504, true", "400, false", "401, false", "403, false", "500, false"})
    void statusDecidesWhetherAFailureIsRetryable(int status, boolean retryable) throws IOException {
        serve(status);
        backend = backend("http://127.0.0.1:" + server.getAddress().getPort(), Duration.ofSeconds(5));

        StepVerifier.create(backend.getActionResult(SCOPE, ACTION))
                .expectErrorSatisfies(e -> {
                    assertThat(e).isInstanceOf(BackendException.class).hasMessageContaining("HTTP " + status);
                    assertThat(((BackendException) e).retryable()).isEqualTo(retryable);
                })
                .verify(TIMEOUT);
    }

    @Test
    void refusedConnectionIsRetryable() throws IOException {
        int closedPort;
        try (ServerSocket socket = new ServerSocket(0)) {
            closedPort = socket.getLocalPort();
        }
        backend = backend("http://127.0.0.1:" + closedPort, Duration.ofSeconds(5));

        StepVerifier.create(backend.getActionResult(SCOPE, ACTION))
                .expectErrorSatisfies(e -> assertThat(((BackendException) e).retryable()).isTrue())
                .verify(TIMEOUT);
    }

    @Test
    void callTimeoutIsRetryable() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        serverThreads = Executors.newCachedThreadPool();
        server.setExecutor(serverThreads);
        server.createContext("/", exchange -> {
            try {
                release.await(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            exchange.close();
        });
        server.start();
        backend = backend("http://127.0.0.1:" + server.getAddress().getPort(), Duration.ofMillis(300));

        StepVerifier.create(backend.getActionResult(SCOPE, ACTION))
                .expectErrorSatisfies(e -> {
                    assertThat(e).hasMessageContaining("no answer within");
                    assertThat(((BackendException) e).retryable()).isTrue();
                })
                .verify(TIMEOUT);
    }

    private void serve(int status) throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        serverThreads = Executors.newCachedThreadPool();
        server.setExecutor(serverThreads);
        server.createContext("/", exchange -> {
            try (exchange) {
                exchange.sendResponseHeaders(status, -1);
            }
        });
        server.start();
    }

    private static BazelHttpBackend backend(String base, Duration callTimeout) {
        return (BazelHttpBackend) new BazelHttpBackendFactory().create(new VouchProperties.Backend("flaky",
                VouchProperties.BackendType.HTTP, null, URI.create(base), null, Map.of(), null, null, callTimeout, 4));
    }
}
