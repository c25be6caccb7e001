package dev.vouch.backend.bazelhttp;

import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.OutputFile;
import com.sun.net.httpserver.HttpServer;
import dev.vouch.backend.Scope;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.validation.ActionVerdict;
import dev.vouch.validation.BlobKind;
import dev.vouch.validation.BlobProblem;
import dev.vouch.validation.CompletenessValidator;
import dev.vouch.validation.Mode;
import dev.vouch.validation.ValidationMetrics;
import dev.vouch.validation.ValidationRequest;
import dev.vouch.validation.Verdict;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A cache that answers {@code GET /cas/<hash>} with 64 MiB for a digest of 1 byte: the {@code http}
 * backend stops at once (with or without a Content-Length saying so) and the blob is corrupt.
 */
class BazelHttpUnderstatedSizeTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(20);
    private static final long LIE_BYTES = 64L << 20;
    private static final Digest UNDERSTATED =
            new Digest(DigestFunction.SHA256.digestOf("the real blob".getBytes(StandardCharsets.UTF_8)).hash(), 1);
    private static final Digest ACTION = DigestFunction.SHA256.digestOf("an action".getBytes(StandardCharsets.UTF_8));
    private static final byte[] RESULT = ActionResult.newBuilder()
            .addOutputFiles(OutputFile.newBuilder().setPath("out/file").setDigest(UNDERSTATED.toProto()))
            .build().toByteArray();

    private final AtomicLong sent = new AtomicLong();
    private final CountDownLatch bodyDone = new CountDownLatch(1);
    private HttpServer server;
    private ExecutorService serverThreads;
    private BazelHttpBackend backend;

    @AfterEach
    void stop() throws Exception {
        if (backend != null) {
            backend.close();
        }
        server.stop(0);
        serverThreads.shutdownNow();
    }

    @ParameterizedTest(name = "content-length stated: {0}")
    @ValueSource(booleans = {true, false})
    void longBodyIsCorruptAndNotReadToTheEnd(boolean statesLength) throws Exception {
        start(exchange -> {
            if (exchange.getRequestURI().getPath().endsWith("/ac/" + ACTION.hash())) {
                exchange.sendResponseHeaders(200, RESULT.length);
                exchange.getResponseBody().write(RESULT);
                exchange.close();
                return;
            }
            // 0: chunked, so only the bytes themselves can tell
            exchange.sendResponseHeaders(200, statesLength ? LIE_BYTES : 0);
            byte[] block = new byte[64 * 1024];
            try (OutputStream body = exchange.getResponseBody()) {
                for (long n = 0; n < LIE_BYTES; n += block.length) {
                    body.write(block);
                    sent.addAndGet(block.length);
                }
            } catch (IOException closedByTheClient) {
                // what a reader that stopped early does to us
            } finally {
                bodyDone.countDown();
            }
        });

        ActionVerdict verdict = new CompletenessValidator(instance -> backend, VouchProperties.Limits.defaults(),
                new ValidationMetrics(new SimpleMeterRegistry()))
                .validate(new ValidationRequest(Scope.of(""), Mode.FETCH, List.of(ACTION), false))
                .single().block(TIMEOUT);

        assertThat(verdict.verdict()).as(verdict.toString()).isEqualTo(Verdict.PARTIAL);
        assertThat(verdict.corrupt()).containsExactly(new BlobProblem(UNDERSTATED, BlobKind.OUTPUT_FILE, List.of("out/file")));
        assertThat(bodyDone.await(TIMEOUT.toSeconds(), TimeUnit.SECONDS)).as("the server gave up sending").isTrue();
        // socket buffers take a few MiB whatever the reader does; reading to the end would be 64
        assertThat(sent.get()).isLessThan(16L << 20);
    }

    private void start(com.sun.net.httpserver.HttpHandler handler) throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        serverThreads = Executors.newCachedThreadPool();
        server.setExecutor(serverThreads);
        server.createContext("/prefix/", exchange -> {
            try {
                handler.handle(exchange);
            } finally {
                exchange.close();
            }
        });
        server.start();
        backend = (BazelHttpBackend) new BazelHttpBackendFactory().create(new VouchProperties.Backend("web",
                VouchProperties.BackendType.HTTP, null,
                URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/prefix"), null, Map.of(), null, null,
                Duration.ofSeconds(10), 4));
    }
}
