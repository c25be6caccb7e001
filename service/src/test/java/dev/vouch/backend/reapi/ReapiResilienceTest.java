package dev.vouch.backend.reapi;

import static dev.vouch.backend.reapi.ReapiTestServer.TIMEOUT;
import static dev.vouch.backend.reapi.ReapiTestServer.config;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import build.bazel.remote.execution.v2.ActionCacheGrpc;
import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.GetActionResultRequest;
import build.bazel.remote.execution.v2.OutputFile;
import dev.vouch.backend.CacheBackend;
import dev.vouch.backend.Deadline;
import dev.vouch.backend.Scope;
import dev.vouch.backend.embedded.InMemoryBlobStore;
import dev.vouch.backend.resilience.ResilienceRegistries;
import dev.vouch.backend.resilience.ResilientCallGuard;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.front.grpc.TestFronts;
import dev.vouch.validation.ActionVerdict;
import dev.vouch.validation.BlobKind;
import dev.vouch.validation.BlobProblem;
import dev.vouch.validation.CompletenessValidator;
import dev.vouch.validation.Mode;
import dev.vouch.validation.ValidationMetrics;
import dev.vouch.validation.ValidationRequest;
import dev.vouch.validation.Verdict;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.protobuf.ProtoUtils;
import io.grpc.stub.ServerCalls;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Mono;

/** The resilience guard around each call of a real {@link ReapiBackend}, against a REAPI server on loopback. */
class ReapiResilienceTest {
    private static final VouchProperties.Limits LIMITS =
            VouchProperties.Limits.defaults();
    /** A window of {@code window} calls, 3 attempts per call, backoff of a few milliseconds. */
    private static VouchProperties.Resilience resilience(int window) {
        return new VouchProperties.Resilience(
                new VouchProperties.CircuitBreakerSettings(50, Duration.ofSeconds(5), 80, window, window,
                        Duration.ofSeconds(30), 3),
                new VouchProperties.RetrySettings(3, Duration.ofMillis(10), 2, 0.5, Duration.ofMillis(100)),
                new VouchProperties.BulkheadSettings(64),
                new VouchProperties.TimeLimiterSettings(null));
    }

    private final List<AutoCloseable> open = new ArrayList<>();
    private ResilientCallGuard guard;

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : open) {
            c.close();
        }
    }

    private ReapiTestServer server() {
        ReapiTestServer server = ReapiTestServer.start(64 * 1024);
        open.add(server);
        return server;
    }

    private ReapiBackend resilient(String target, int window) {
        return resilient(target, resilience(window));
    }

    /** A backend whose every call goes through {@link #guard}, built from {@code settings}. */
    private ReapiBackend resilient(String target, VouchProperties.Resilience settings) {
        guard = new ResilientCallGuard("remote", settings, Duration.ofSeconds(10), ResilienceRegistries.create());
        ReapiBackend backend = new ReapiBackend(config(target), guard);
        open.add(0, backend);
        return backend;
    }

    private static ActionVerdict validate(CacheBackend backend, Digest action) {
        return validation(backend, action).block(TIMEOUT);
    }

    /** A validation of one action within a request deadline of {@code deadline}. */
    private static ActionVerdict validate(CacheBackend backend, Digest action, Duration deadline) {
        return validation(backend, action).contextWrite(context -> Deadline.in(deadline).addTo(context)).block(TIMEOUT);
    }

    private static Mono<ActionVerdict> validation(CacheBackend backend, Digest action) {
        CompletenessValidator validator = new CompletenessValidator(instance -> backend, LIMITS,
                new ValidationMetrics(new SimpleMeterRegistry()));
        return validator.validate(new ValidationRequest(Scope.of(""), Mode.EXISTENCE, List.of(action), false))
                .single();
    }

    /** One stored action with one output file, on {@code server}. */
    private static Digest storeCompileAction(ReapiTestServer server) {
        Digest object = server.put("a.o".getBytes(StandardCharsets.UTF_8));
        return server.putAction("compile", ActionResult.newBuilder().addOutputFiles(file("out/a.o", object)).build());
    }

    private static OutputFile file(String path, Digest digest) {
        return OutputFile.newBuilder().setPath(path).setDigest(digest.toProto()).build();
    }

    @Test
    void unavailableFromTheServerIsRetried() {
        ReapiTestServer server = server();
        Digest a = server.put("a.o".getBytes(StandardCharsets.UTF_8));
        Digest b = server.put("b.o".getBytes(StandardCharsets.UTF_8));
        Digest action = server.putAction("compile", ActionResult.newBuilder()
                .addOutputFiles(file("out/a.o", a)).addOutputFiles(file("out/b.o", b)).build());
        server.store.evictBlob(b);
        server.failNext("GetActionResult", Status.UNAVAILABLE.withDescription("restarting"), 2);
        server.failNext("FindMissingBlobs", Status.RESOURCE_EXHAUSTED, 1);
        ReapiBackend backend = resilient(server.target(), 20);

        ActionVerdict verdict = validate(backend, action);

        assertThat(verdict.verdict()).as(verdict.toString()).isEqualTo(Verdict.PARTIAL);
        assertThat(verdict.missing()).containsExactly(new BlobProblem(b, BlobKind.OUTPUT_FILE, List.of("out/b.o")));
        assertThat(server.calls("GetActionResult")).isEqualTo(3);
        assertThat(server.calls("FindMissingBlobs")).isEqualTo(2);
    }

    @Test
    void invalidArgumentFromTheServerIsNotRetried() {
        ReapiTestServer server = server();
        server.fail("GetActionResult", Status.INVALID_ARGUMENT.withDescription("no such digest function"));
        ReapiBackend backend = resilient(server.target(), 20);

        ActionVerdict verdict = validate(backend, server.putAction("compile", ActionResult.getDefaultInstance()));

        assertThat(verdict.verdict()).isEqualTo(Verdict.UNKNOWN);
        assertThat(verdict.reason()).contains("INVALID_ARGUMENT: no such digest function");
        assertThat(server.calls("GetActionResult")).isEqualTo(1);
    }

    @Test
    void actionCacheMissIsNeitherRetriedNorAFailure() {
        ReapiTestServer server = server();
        ReapiBackend backend = resilient(server.target(), 20);
        Digest neverBuilt = server.put("unrelated".getBytes(StandardCharsets.UTF_8));

        for (int i = 0; i < 5; i++) {
            assertThat(validate(backend, neverBuilt).verdict()).isEqualTo(Verdict.MISS);
        }

        assertThat(server.calls("GetActionResult")).isEqualTo(5);
        assertThat(guard.circuitBreaker().getState()).isEqualTo(CircuitBreaker.State.CLOSED);
        assertThat(guard.circuitBreaker().getMetrics().getNumberOfFailedCalls()).isZero();
    }

    @Test
    void serverThatIsDownOpensTheCircuit() throws IOException {
        ReapiBackend backend = resilient("grpc://127.0.0.1:" + ReapiTestServer.closedPort(), 4);
        Digest action = new Digest("0".repeat(64), 1);

        // each validation's capabilities call is refused 3 times; the window judges after 4 calls
        ActionVerdict first = validate(backend, action);
        ActionVerdict second = validate(backend, action);

        assertThat(first.verdict()).isEqualTo(Verdict.UNKNOWN);
        assertThat(first.reason()).contains("UNAVAILABLE");
        assertThat(guard.circuitBreaker().getState()).isEqualTo(CircuitBreaker.State.OPEN);
        assertThat(second.verdict()).isEqualTo(Verdict.UNKNOWN);
        ActionVerdict third = validate(backend, action);
        assertThat(third.verdict()).isEqualTo(Verdict.UNKNOWN);
        assertThat(third.reason()).contains("circuit open");
    }

    @Test
    void serverRestartedOnTheSamePortIsAHitRightAfterTheOpenStateWait() throws Exception {
        ReapiTestServer first = server();
        int port = first.port();
        Digest action = storeCompileAction(first);
        Duration openWait = Duration.ofMillis(300);
        // four calls judged, no retries: each validation while the server is down costs one call
        ReapiBackend backend = resilient(first.target(), new VouchProperties.Resilience(
                new VouchProperties.CircuitBreakerSettings(50, Duration.ofSeconds(5), 80, 4, 4, openWait, 3),
                new VouchProperties.RetrySettings(1, Duration.ofMillis(10), 2, 0.5, Duration.ofMillis(100)),
                new VouchProperties.BulkheadSettings(64),
                new VouchProperties.TimeLimiterSettings(null)));
        AtomicLong openedAt = new AtomicLong();
        guard.circuitBreaker().getEventPublisher().onStateTransition(event -> {
            if (event.getStateTransition().getToState() == CircuitBreaker.State.OPEN) {
                openedAt.set(System.nanoTime());
            }
        });
        assertThat(validate(backend, action).verdict()).isEqualTo(Verdict.HIT);

        first.close();
        List<ActionVerdict> whileDown = new ArrayList<>();
        await().atMost(Duration.ofSeconds(10)).until(() -> {
            whileDown.add(validate(backend, action));
            return guard.circuitBreaker().getState() == CircuitBreaker.State.OPEN;
        });
        assertThat(whileDown).extracting(ActionVerdict::verdict).containsOnly(Verdict.UNKNOWN);
        assertThat(whileDown.get(0).reason()).contains("UNAVAILABLE");

        // the same port, the same data, listening again before the circuit probes
        ReapiTestServer second = ReapiTestServer.onPort(port, 64 * 1024);
        open.add(second);
        assertThat(storeCompileAction(second)).isEqualTo(action);
        await().atMost(openWait.plusSeconds(5)).pollInterval(Duration.ofMillis(5))
                .until(() -> System.nanoTime() - openedAt.get() >= openWait.toNanos());

        ActionVerdict afterWait = validate(backend, action);

        assertThat(afterWait.verdict()).as(afterWait.toString()).isEqualTo(Verdict.HIT);
        assertThat(guard.circuitBreaker().getState()).isIn(CircuitBreaker.State.HALF_OPEN, CircuitBreaker.State.CLOSED);
    }

    @Test
    void serverThatHangsOpensTheCircuitThroughCallsCutByTheDeadline() {
        ReapiTestServer server = server();
        Digest action = storeCompileAction(server);
        ReapiBackend backend = resilient(server.target(), 4);
        assertThat(validate(backend, action).verdict()).isEqualTo(Verdict.HIT);
        // connected, capabilities known: now every call is accepted and never answered
        server.hangAll();

        // each request gives up after 300 ms; the lookups it cut (at 3/4 of that) must count
        for (int i = 0; i < 4; i++) {
            ActionVerdict verdict = validate(backend, action, Duration.ofMillis(300));
            assertThat(verdict.verdict()).as(verdict.toString()).isEqualTo(Verdict.UNKNOWN);
        }

        assertCircuitOpens("after 4 requests cut by their deadline");
        long start = System.nanoTime();
        ActionVerdict refused = validate(backend, action, Duration.ofSeconds(10));
        assertThat(refused.verdict()).isEqualTo(Verdict.UNKNOWN);
        assertThat(refused.reason()).contains("circuit open");
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(2));
    }

    @Test
    void serverThatHangsFromTheStartOpensTheCircuit() {
        ReapiTestServer server = server();
        Digest action = storeCompileAction(server);
        server.hangAll();
        ReapiBackend backend = resilient(server.target(), 4);

        // nothing is known yet: each request's capabilities call runs within its 300 ms and fails;
        // a request that comes while one is in flight shares its answer
        List<ActionVerdict> cut = new ArrayList<>();
        for (int i = 0; i < 8 && guard.circuitBreaker().getState() != CircuitBreaker.State.OPEN; i++) {
            cut.add(validate(backend, action, Duration.ofMillis(300)));
        }

        assertThat(cut).extracting(ActionVerdict::verdict).containsOnly(Verdict.UNKNOWN);
        assertCircuitOpens("after " + cut.size() + " requests cut by their deadline");
        long start = System.nanoTime();
        ActionVerdict refused = validate(backend, action, Duration.ofSeconds(10));
        assertThat(refused.reason()).contains("circuit open");
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(2));
    }

    @Test
    void malformedActionResultsDoNotOpenTheCircuit() throws IOException {
        Digest action = new Digest("0".repeat(64), 1);
        repeatedEntriesLeaveTheCircuitClosed(new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff}, action,
                "malformed ActionResult: Action Cache entry " + action + " is not a valid ActionResult");
    }

    /** An entry too large to be an ActionResult (refused by its length prefix) is an answer too, not a failure. */
    @Test
    void oversizedActionResultsDoNotOpenTheCircuit() throws IOException {
        Digest action = new Digest("0".repeat(64), 1);
        repeatedEntriesLeaveTheCircuitClosed(new byte[2 << 20], action, "malformed ActionResult: Action Cache entry "
                + action + " is larger than 1048576 bytes (vouch.limits.max-action-result-bytes)");
    }

    private void repeatedEntriesLeaveTheCircuitClosed(byte[] entry, Digest action, String reasonPrefix)
            throws IOException {
        // a server whose Action Cache answers bytes that are no ActionResult
        MethodDescriptor<GetActionResultRequest, byte[]> raw = ActionCacheGrpc.getGetActionResultMethod()
                .toBuilder(ProtoUtils.marshaller(GetActionResultRequest.getDefaultInstance()), new RawBytes())
                .build();
        Server server = ServerBuilder.forPort(0)
                .addService(ServerServiceDefinition.builder(ActionCacheGrpc.SERVICE_NAME)
                        .addMethod(raw, ServerCalls.asyncUnaryCall((request, response) -> {
                            response.onNext(entry);
                            response.onCompleted();
                        }))
                        .build())
                .addService(TestFronts.plain(new InMemoryBlobStore(), 64 * 1024).capabilities())
                .build()
                .start();
        open.add(() -> server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS));
        ReapiBackend backend = resilient("grpc://127.0.0.1:" + server.getPort(), 4);

        List<ActionVerdict> verdicts = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            verdicts.add(validate(backend, action));
        }

        assertThat(guard.circuitBreaker().getState()).as("last reason: %s", verdicts.get(7).reason())
                .isEqualTo(CircuitBreaker.State.CLOSED);
        assertThat(guard.circuitBreaker().getMetrics().getNumberOfFailedCalls()).isZero();
        assertThat(verdicts).allSatisfy(verdict -> {
            assertThat(verdict.verdict()).as(verdict.toString()).isEqualTo(Verdict.UNKNOWN);
            assertThat(verdict.reason()).startsWith(reasonPrefix);
        });
    }

    private static final class RawBytes implements MethodDescriptor.Marshaller<byte[]> {
        @Override
        public InputStream stream(byte[] value) {
            return new ByteArrayInputStream(value);
        }

        @Override
        public byte[] parse(InputStream stream) {
            try {
                return stream.readAllBytes();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /** The circuit is open, or about to be: resilience4j refuses calls a moment before it reports OPEN. */
    private void assertCircuitOpens(String when) {
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(guard.circuitBreaker().getState())
                .as("circuit %s, %s calls failed", when, guard.circuitBreaker().getMetrics().getNumberOfFailedCalls())
                .isEqualTo(CircuitBreaker.State.OPEN));
    }
}
