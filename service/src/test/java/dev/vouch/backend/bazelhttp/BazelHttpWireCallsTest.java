package dev.vouch.backend.bazelhttp;

import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.OutputFile;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.vouch.backend.CacheBackend;
import dev.vouch.backend.Scope;
import dev.vouch.backend.embedded.BlobStore;
import dev.vouch.backend.resilience.ResilienceRegistries;
import dev.vouch.backend.resilience.ResilientCallGuard;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.faults.FaultProxy;
import dev.vouch.validation.ActionVerdict;
import dev.vouch.validation.CompletenessValidator;
import dev.vouch.validation.Mode;
import dev.vouch.validation.ValidationMetrics;
import dev.vouch.validation.ValidationRequest;
import dev.vouch.validation.Verdict;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import reactor.core.publisher.Flux;

/**
 * The {@code http} backend's resilience is per wire call: a 10,000-blob existence check is 10,000
 * guarded HEADs, each with its own retry, bulkhead permit, time limit and circuit-breaker record.
 * Against the embedded {@code /cache} of a running Vouch behind a {@link FaultProxy} that adds
 * latency, and against a scripted JDK HTTP server that answers one HEAD with 503.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = "vouch.grpc.port=0")
class BazelHttpWireCallsTest {
    private static final Logger log = LoggerFactory.getLogger(BazelHttpWireCallsTest.class);
    private static final Duration TIMEOUT = Duration.ofSeconds(90);
    private static final int BLOBS = 10_000;
    private static final Path DATA = createTempDirectory().resolve("data");

    @DynamicPropertySource
    static void dataDir(DynamicPropertyRegistry registry) {
        registry.add("vouch.data-dir", DATA::toString);
    }

    @LocalServerPort
    int httpPort;

    @Autowired
    BlobStore store;

    private final List<AutoCloseable> open = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : open) {
            c.close();
        }
    }

    @Test
    void tenThousandBlobClosureOnAHealthyCacheTwentyMillisecondsAwayStaysClosedAndHit() throws IOException {
        List<Digest> blobs = blobs();
        Flux.range(0, BLOBS).flatMap(i -> store.write(blobs.get(i), content(i)), 16).then().block(TIMEOUT);
        Digest action = digest("compile everything");
        store.putActionResult(action, result(blobs).toByteArray()).block(TIMEOUT);
        FaultProxy proxy = FaultProxy.start(httpPort);
        open.add(proxy);
        // 10 ms each way: every HEAD is a 20 ms round trip
        proxy.set(FaultProxy.Faults.slow(Duration.ofMillis(10)));
        Guarded backend = guarded(URI.create("http://127.0.0.1:" + proxy.port() + "/cache"));

        ActionVerdict verdict = validate(backend.backend(), action);
        log.info("{}-blob closure 20 ms away: {} in {} ms, {} wire calls recorded", BLOBS, verdict.verdict(),
                Math.round(verdict.elapsedMillis()), backend.successes());

        assertThat(verdict.verdict()).as(verdict.toString()).isEqualTo(Verdict.HIT);
        assertThat(verdict.blobsReferenced()).isEqualTo(BLOBS);
        CircuitBreaker.Metrics metrics = backend.circuitBreaker().getMetrics();
        assertThat(backend.circuitBreaker().getState()).isEqualTo(CircuitBreaker.State.CLOSED);
        assertThat(metrics.getNumberOfSlowCalls()).as("slow calls (threshold 5s); %s successful calls recorded",
                backend.successes()).isZero();
        assertThat(metrics.getNumberOfFailedCalls()).isZero();
        // the AC GET and every HEAD, each recorded on its own
        assertThat(backend.successes().get()).isEqualTo(BLOBS + 1);
    }

    @Test
    void oneServiceUnavailableCostsOneRetriedHead() throws IOException {
        List<Digest> blobs = blobs();
        Digest action = digest("compile everything");
        byte[] result = result(blobs).toByteArray();
        Digest flaky = blobs.get(BLOBS / 2);
        Map<String, AtomicInteger> heads = new ConcurrentHashMap<>();
        AtomicLong allHeads = new AtomicLong();
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        ExecutorService threads = Executors.newFixedThreadPool(16);
        server.setExecutor(threads);
        server.createContext("/", exchange -> {
            String path = exchange.getRequestURI().getPath();
            if (path.equals("/ac/" + action.hash())) {
                respond(exchange, 200, result.length, result);
                return;
            }
            String hash = path.substring("/cas/".length());
            allHeads.incrementAndGet();
            int seen = heads.computeIfAbsent(hash, h -> new AtomicInteger()).incrementAndGet();
            if (hash.equals(flaky.hash()) && seen == 1) {
                respond(exchange, 503, -1, null);
            } else {
                respond(exchange, 200, blobs.get(0).sizeBytes(), null);
            }
        });
        server.start();
        open.add(() -> {
            server.stop(0);
            threads.shutdownNow();
        });
        Guarded backend = guarded(URI.create("http://127.0.0.1:" + server.getAddress().getPort()));

        ActionVerdict verdict = validate(backend.backend(), action);

        assertThat(verdict.verdict()).as(verdict.toString()).isEqualTo(Verdict.HIT);
        assertThat(heads.get(flaky.hash()).get()).isEqualTo(2);
        assertThat(allHeads.get()).as("HEADs the cache served for %d blobs", BLOBS).isEqualTo(BLOBS + 1);
        assertThat(heads.values()).filteredOn(count -> count.get() != 1).hasSize(1);
    }

    /** A backend with the default resilience settings, and what its circuit breaker recorded. */
    private record Guarded(CacheBackend backend, CircuitBreaker circuitBreaker, AtomicLong successes) {
    }

    private Guarded guarded(URI url) {
        VouchProperties.Backend config = new VouchProperties.Backend("web", VouchProperties.BackendType.HTTP, null, url,
                null, Map.of(), null, null, Duration.ofSeconds(30), 16);
        ResilientCallGuard guard = new ResilientCallGuard(config.name(), config.resilience(), config.callTimeout(),
                ResilienceRegistries.create());
        CacheBackend backend = new BazelHttpBackendFactory(c -> guard).create(config);
        open.add(0, (AutoCloseable) backend);
        AtomicLong successes = new AtomicLong();
        guard.circuitBreaker().getEventPublisher().onSuccess(event -> successes.incrementAndGet());
        return new Guarded(backend, guard.circuitBreaker(), successes);
    }

    private static ActionVerdict validate(CacheBackend backend, Digest action) {
        CompletenessValidator validator = new CompletenessValidator(instance -> backend,
                VouchProperties.Limits.defaults(), new ValidationMetrics(new SimpleMeterRegistry()));
        return validator.validate(new ValidationRequest(Scope.of(""), Mode.EXISTENCE, List.of(action), false))
                .single().block(TIMEOUT);
    }

    private static List<Digest> blobs() {
        List<Digest> blobs = new ArrayList<>(BLOBS);
        for (int i = 0; i < BLOBS; i++) {
            blobs.add(DigestFunction.SHA256.digestOf(content(i)));
        }
        return blobs;
    }

    /** Blob {@code i}: all the same length, each distinct. */
    private static byte[] content(int i) {
        return String.format("output %06d", i).getBytes(StandardCharsets.UTF_8);
    }

    private static ActionResult result(List<Digest> blobs) {
        ActionResult.Builder result = ActionResult.newBuilder();
        for (int i = 0; i < blobs.size(); i++) {
            result.addOutputFiles(OutputFile.newBuilder().setPath("out/f" + i).setDigest(blobs.get(i).toProto()));
        }
        return result.build();
    }

    private static Digest digest(String text) {
        return DigestFunction.SHA256.digestOf(text.getBytes(StandardCharsets.UTF_8));
    }

    /** A HEAD gets {@code length} as its Content-Length and no body. */
    private static void respond(HttpExchange exchange, int status, long length, byte[] body) {
        try (exchange) {
            if (body == null) {
                if (length >= 0) {
                    exchange.getResponseHeaders().set("Content-Length", Long.toString(length));
                }
                exchange.sendResponseHeaders(status, -1);
            } else {
                exchange.sendResponseHeaders(status, body.length);
                exchange.getResponseBody().write(body);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Path createTempDirectory() {
        try {
            return Files.createTempDirectory("vouch-wire-calls-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
