package dev.vouch.backend.bazelhttp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.OutputFile;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.vouch.backend.BackendException;
import dev.vouch.backend.Scope;
import dev.vouch.backend.resilience.ResilienceRegistries;
import dev.vouch.backend.resilience.ResilientCallGuard;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.digest.DigestSet;
import dev.vouch.validation.ActionVerdict;
import dev.vouch.validation.CompletenessValidator;
import dev.vouch.validation.Mode;
import dev.vouch.validation.ValidationMetrics;
import dev.vouch.validation.ValidationRequest;
import dev.vouch.validation.Verdict;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import reactor.test.StepVerifier;

/**
 * How the {@code http} backend reports a cache that misbehaves: every failure is UNKNOWN with a
 * reason, never MISS or PARTIAL (STYLE "Errors are results, never silence"). The cache is the JDK's
 * own HTTP server, scripted per test.
 */
class BazelHttpBackendFailuresTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(20);
    private static final Scope SCOPE = Scope.of("");
    private static final byte[] BLOB = "an output".getBytes(StandardCharsets.UTF_8);
    private static final Digest BLOB_DIGEST = DigestFunction.SHA256.digestOf(BLOB);
    private static final Digest ACTION = DigestFunction.SHA256.digestOf("an action".getBytes(StandardCharsets.UTF_8));
    private static final byte[] RESULT = ActionResult.newBuilder()
            .addOutputFiles(OutputFile.newBuilder().setPath("out/file").setDigest(BLOB_DIGEST.toProto()))
            .build().toByteArray();

    private HttpServer server;
    private ExecutorService serverThreads;
    private final CountDownLatch release = new CountDownLatch(1);
    private final BlockingQueue<HttpExchange> seen = new LinkedBlockingQueue<>();
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

    @Test
    void serverErrorOnHeadIsUnknownNotPartial() {
        serve(exchange -> {
            if (exchange.getRequestMethod().equals("GET") && exchange.getRequestURI().getPath().equals("/prefix/ac/" + ACTION.hash())) {
                respond(exchange, 200, RESULT);
            } else {
                respond(exchange, 500, "disk on fire".getBytes(StandardCharsets.UTF_8));
            }
        });
        backend = backend(Map.of(), new VouchProperties.Auth(null, null, null), Duration.ofSeconds(5));

        ActionVerdict verdict = validate();

        assertThat(verdict.verdict()).as(verdict.toString()).isEqualTo(Verdict.UNKNOWN);
        assertThat(verdict.reason()).contains("HEAD").contains("500");
        assertThat(verdict.missing()).isEmpty();
    }

    @Test
    void unauthorizedIsUnknownNotMiss() {
        serve(exchange -> respond(exchange, 401, new byte[0]));
        backend = backend(Map.of(), new VouchProperties.Auth(null, null, null), Duration.ofSeconds(5));

        ActionVerdict verdict = validate();

        assertThat(verdict.verdict()).as(verdict.toString()).isEqualTo(Verdict.UNKNOWN);
        assertThat(verdict.reason()).contains("401");
    }

    @Test
    void connectionRefusedIsUnknown() throws IOException {
        int closedPort;
        try (ServerSocket socket = new ServerSocket(0)) {
            closedPort = socket.getLocalPort();
        }
        backend = backend(URI.create("http://127.0.0.1:" + closedPort), Map.of(), new VouchProperties.Auth(null, null, null),
                Duration.ofSeconds(5));

        ActionVerdict verdict = validate();

        assertThat(verdict.verdict()).as(verdict.toString()).isEqualTo(Verdict.UNKNOWN);
        assertThat(verdict.reason()).containsIgnoringCase("refused");
        StepVerifier.create(backend.findMissing(SCOPE, DigestSet.of(BLOB_DIGEST)))
                .expectError(BackendException.class)
                .verify(TIMEOUT);
    }

    @Test
    void serverThatNeverAnswersIsUnknownAfterCallTimeout() {
        serve(exchange -> {
            try {
                release.await(1, TimeUnit.MINUTES);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        backend = backend(Map.of(), new VouchProperties.Auth(null, null, null), Duration.ofMillis(500));

        long start = System.nanoTime();
        ActionVerdict verdict = validate();

        assertThat(verdict.verdict()).as(verdict.toString()).isEqualTo(Verdict.UNKNOWN);
        assertThat(verdict.reason()).contains("no answer within 500ms");
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(10));
        StepVerifier.create(backend.findMissing(SCOPE, DigestSet.of(BLOB_DIGEST)))
                .expectError(BackendException.class)
                .verify(TIMEOUT);
        StepVerifier.create(backend.readBlob(SCOPE, BLOB_DIGEST))
                .expectError(BackendException.class)
                .verify(TIMEOUT);
    }

    @Test
    void headOfAbsentBlobIsMissingAndOthersPresent() {
        serve(exchange -> {
            String path = exchange.getRequestURI().getPath();
            if (path.equals("/prefix/ac/" + ACTION.hash())) {
                respond(exchange, 200, RESULT);
            } else {
                respond(exchange, 404, new byte[0]);
            }
        });
        backend = backend(Map.of(), new VouchProperties.Auth(null, null, null), Duration.ofSeconds(5));

        ActionVerdict verdict = validate();

        assertThat(verdict.verdict()).as(verdict.toString()).isEqualTo(Verdict.PARTIAL);
        assertThat(verdict.missing()).singleElement().satisfies(m -> assertThat(m.digest()).isEqualTo(BLOB_DIGEST));
    }

    @Test
    void garbledActionResultIsUnknown() {
        serve(exchange -> respond(exchange, 200, new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff}));
        backend = backend(Map.of(), new VouchProperties.Auth(null, null, null), Duration.ofSeconds(5));

        ActionVerdict verdict = validate();

        assertThat(verdict.verdict()).as(verdict.toString()).isEqualTo(Verdict.UNKNOWN);
        assertThat(verdict.reason()).contains("not a valid ActionResult");
    }

    @Test
    void malformedActionResultsDoNotOpenTheCircuit() {
        repeatedEntriesLeaveTheCircuitClosed(new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff},
                "malformed ActionResult: Action Cache entry " + ACTION + " is not a valid ActionResult");
    }

    /** Too large to be an ActionResult is an answer about the data too: a planted huge entry must not open the circuit. */
    @Test
    void oversizedActionResultsDoNotOpenTheCircuit() {
        repeatedEntriesLeaveTheCircuitClosed(new byte[2 << 20],
                "malformed ActionResult: Action Cache entry " + ACTION + " is larger than 1048576 bytes "
                        + "(vouch.limits.max-action-result-bytes)");
    }

    private void repeatedEntriesLeaveTheCircuitClosed(byte[] entry, String reasonPrefix) {
        serve(exchange -> respond(exchange, 200, entry));
        // a window of 4 calls, judged from the 4th, opens at 50% failures
        VouchProperties.Resilience settings = new VouchProperties.Resilience(
                new VouchProperties.CircuitBreakerSettings(50, Duration.ofSeconds(5), 80, 4, 4, Duration.ofSeconds(30), 3),
                null, null, null);
        ResilientCallGuard guard = new ResilientCallGuard("flaky", settings, Duration.ofSeconds(5),
                ResilienceRegistries.create());
        backend = (BazelHttpBackend) new BazelHttpBackendFactory(config -> guard).create(config(
                URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/prefix"), Map.of(),
                new VouchProperties.Auth(null, null, null), Duration.ofSeconds(5)));

        // malformed data is an answer about the data: it says nothing against the backend
        List<ActionVerdict> verdicts = new java.util.ArrayList<>();
        for (int i = 0; i < 8; i++) {
            verdicts.add(validate());
        }

        assertThat(guard.circuitBreaker().getState()).as("last reason: %s", verdicts.get(7).reason())
                .isEqualTo(CircuitBreaker.State.CLOSED);
        assertThat(guard.circuitBreaker().getMetrics().getNumberOfFailedCalls()).isZero();
        assertThat(verdicts).allSatisfy(verdict -> {
            assertThat(verdict.verdict()).as(verdict.toString()).isEqualTo(Verdict.UNKNOWN);
            assertThat(verdict.reason()).startsWith(reasonPrefix);
        });
    }

    @Test
    void basicAuthAndStaticHeadersArrive() throws InterruptedException {
        serve(exchange -> respond(exchange, 404, new byte[0]));
        backend = backend(Map.of("x-cache-tenant", "team-a"), new VouchProperties.Auth("ci", "s3cret", null),
                Duration.ofSeconds(5));

        StepVerifier.create(backend.getActionResult(SCOPE, ACTION)).expectComplete().verify(TIMEOUT);
        StepVerifier.create(backend.findMissing(SCOPE, DigestSet.of(BLOB_DIGEST))).expectNext(DigestSet.of(BLOB_DIGEST))
                .expectComplete().verify(TIMEOUT);

        for (String method : List.of("GET", "HEAD")) {
            HttpExchange request = seen.poll(10, TimeUnit.SECONDS);
            assertThat(request).isNotNull();
            assertThat(request.getRequestMethod()).isEqualTo(method);
            assertThat(request.getRequestHeaders().getFirst("Authorization")).isEqualTo("Basic Y2k6czNjcmV0");
            assertThat(request.getRequestHeaders().getFirst("X-Cache-Tenant")).isEqualTo("team-a");
        }
    }

    @Test
    void bearerTokenArrives() throws InterruptedException {
        serve(exchange -> respond(exchange, 404, new byte[0]));
        backend = backend(Map.of(), new VouchProperties.Auth(null, null, "tok-123"), Duration.ofSeconds(5));

        StepVerifier.create(backend.getActionResult(SCOPE, ACTION)).expectComplete().verify(TIMEOUT);

        HttpExchange request = seen.poll(10, TimeUnit.SECONDS);
        assertThat(request.getRequestHeaders().getFirst("Authorization")).isEqualTo("Bearer tok-123");
        assertThat(request.getRequestURI().getPath()).isEqualTo("/prefix/ac/" + ACTION.hash());
    }

    @Test
    void basicAndBearerTogetherAreRefusedAtStartUp() {
        assertThatThrownBy(() -> new BazelHttpBackendFactory().create(config(URI.create("http://127.0.0.1:1"), Map.of(),
                new VouchProperties.Auth("ci", "pw", "tok"), Duration.ofSeconds(1))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("backend 'flaky'").hasMessageContaining("not both");
    }

    private ActionVerdict validate() {
        CompletenessValidator validator = new CompletenessValidator(instance -> backend,
                VouchProperties.Limits.defaults(),
                new ValidationMetrics(new SimpleMeterRegistry()));
        return validator.validate(new ValidationRequest(SCOPE, Mode.EXISTENCE, List.of(ACTION), false))
                .single().block(TIMEOUT);
    }

    private void serve(Consumer<HttpExchange> handler) {
        try {
            server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        serverThreads = Executors.newCachedThreadPool();
        server.setExecutor(serverThreads);
        server.createContext("/", exchange -> {
            seen.add(exchange);
            handler.accept(exchange);
        });
        server.start();
    }

    private static void respond(HttpExchange exchange, int status, byte[] body) {
        try (exchange) {
            boolean head = exchange.getRequestMethod().equals("HEAD");
            exchange.sendResponseHeaders(status, head || body.length == 0 ? -1 : body.length);
            if (!head && body.length > 0) {
                exchange.getResponseBody().write(body);
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private BazelHttpBackend backend(Map<String, String> headers, VouchProperties.Auth auth, Duration callTimeout) {
        URI base = URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/prefix");
        return backend(base, headers, auth, callTimeout);
    }

    private static BazelHttpBackend backend(URI base, Map<String, String> headers, VouchProperties.Auth auth,
            Duration callTimeout) {
        return (BazelHttpBackend) new BazelHttpBackendFactory().create(config(base, headers, auth, callTimeout));
    }

    private static VouchProperties.Backend config(URI base, Map<String, String> headers, VouchProperties.Auth auth,
            Duration callTimeout) {
        return new VouchProperties.Backend("flaky", VouchProperties.BackendType.HTTP, null, base, null, headers, null, auth,
                callTimeout, 4);
    }
}
