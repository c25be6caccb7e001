package dev.vouch.backend.resilience;

import static dev.vouch.backend.resilience.ScriptedBackend.Op.FIND_MISSING;
import static dev.vouch.backend.resilience.ScriptedBackend.Op.GET_ACTION_RESULT;
import static dev.vouch.backend.resilience.ScriptedBackend.Op.READ_BLOB;
import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.OutputFile;
import dev.vouch.backend.BackendException;
import dev.vouch.backend.BlobNotFoundException;
import dev.vouch.backend.CacheBackend;
import dev.vouch.backend.Deadline;
import dev.vouch.backend.Scope;
import dev.vouch.backend.metrics.MetricsBackend;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.validation.ActionVerdict;
import dev.vouch.validation.BlobKind;
import dev.vouch.validation.BlobProblem;
import dev.vouch.validation.CompletenessValidator;
import dev.vouch.validation.Mode;
import dev.vouch.validation.ValidationMetrics;
import dev.vouch.validation.ValidationRequest;
import dev.vouch.validation.Verdict;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Mono;
import reactor.test.StepVerifier;
import reactor.test.scheduler.VirtualTimeScheduler;

/**
 * The resilience layer seen through the real validation engine: verdicts and reasons, calls that
 * reach the backend, and the circuit's state. The scripted backend makes one wire call per
 * operation, each guarded. Every wait (backoff, open-state wait, time limit) runs on a virtual
 * clock that the test advances.
 */
class ResilientCallGuardTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    private static final Scope SCOPE = Scope.of("");
    private static final VouchProperties.Limits LIMITS =
            VouchProperties.Limits.defaults();

    private final ScriptedBackend fake = new ScriptedBackend("remote");
    private final ResilienceRegistries registries = ResilienceRegistries.create();
    private VirtualTimeScheduler clock;
    private ResilientCallGuard guard;

    @BeforeEach
    void virtualTime() {
        clock = VirtualTimeScheduler.getOrSet();
    }

    @AfterEach
    void realTime() {
        VirtualTimeScheduler.reset();
    }

    /** A window of {@code window} calls, all judged once full; 50% failures open it for 10s; 3 probes. */
    static VouchProperties.Resilience resilience(int window, int maxAttempts, int bulkhead) {
        return new VouchProperties.Resilience(
                new VouchProperties.CircuitBreakerSettings(50, Duration.ofSeconds(5), 80, window, window,
                        Duration.ofSeconds(10), 3),
                new VouchProperties.RetrySettings(maxAttempts, Duration.ofMillis(50), 2, 0.5, Duration.ofSeconds(2)),
                new VouchProperties.BulkheadSettings(bulkhead),
                new VouchProperties.TimeLimiterSettings(Duration.ofSeconds(1)));
    }

    /** The scripted backend behind a guard with {@code settings}. */
    private ScriptedBackend resilient(VouchProperties.Resilience settings) {
        guard = new ResilientCallGuard("remote", settings, Duration.ofSeconds(30), registries);
        return fake.guardedBy(guard);
    }

    private static Mono<List<ActionVerdict>> validation(CacheBackend backend, Digest... actions) {
        CompletenessValidator validator = new CompletenessValidator(instance -> backend, LIMITS,
                new ValidationMetrics(new SimpleMeterRegistry()));
        return validator.validate(new ValidationRequest(SCOPE, Mode.EXISTENCE, List.of(actions), false))
                .sort(Comparator.comparingInt(ActionVerdict::index))
                .collectList();
    }

    /** A validation that needs no waiting: the scripted backend answers at once. */
    private static List<ActionVerdict> validate(CacheBackend backend, Digest... actions) {
        return validation(backend, actions).block(TIMEOUT);
    }

    private static OutputFile file(String path, Digest digest) {
        return OutputFile.newBuilder().setPath(path).setDigest(digest.toProto()).build();
    }

    private static BackendException unavailable() {
        return new BackendException("remote", "backend remote: GetActionResult failed: UNAVAILABLE: connection refused", true);
    }

    private static BackendException internal() {
        return new BackendException("remote", "backend remote: GetActionResult failed: INTERNAL: disk on fire");
    }

    private Digest[] fourAbsentActions() {
        return new Digest[] {fake.absentBlob("a"), fake.absentBlob("b"), fake.absentBlob("c"), fake.absentBlob("d")};
    }

    @Test
    void circuitOpensAfterFailuresThenAnswersWithoutCallingTheBackend() {
        ScriptedBackend backend = resilient(resilience(4, 1, 64));
        fake.failAlways(GET_ACTION_RESULT, internal());

        // capabilities succeeds, three lookups fail: 3 of 4 calls, over the 50% threshold
        List<ActionVerdict> first = validate(backend, fourAbsentActions());

        assertThat(first).extracting(ActionVerdict::verdict).containsOnly(Verdict.UNKNOWN);
        assertThat(first).extracting(ActionVerdict::reason)
                .filteredOn(reason -> reason.contains("INTERNAL: disk on fire")).hasSize(3);
        assertThat(guard.circuitBreaker().getState()).isEqualTo(CircuitBreaker.State.OPEN);

        // even a backend that has recovered is not asked while the circuit is open
        fake.recover();
        int callsSoFar = fake.totalCalls();
        Digest stored = fake.putAction("compile", ActionResult.newBuilder()
                .addOutputFiles(file("out/a.o", fake.putBlob("a.o"))).build());

        List<ActionVerdict> second = validate(backend, stored);

        assertThat(second).singleElement().satisfies(v -> {
            assertThat(v.verdict()).isEqualTo(Verdict.UNKNOWN);
            assertThat(v.reason()).contains("circuit open").contains("3 of the last 4 calls failed");
        });
        assertThat(fake.totalCalls()).isEqualTo(callsSoFar);
    }

    @Test
    void halfOpenProbesCloseTheCircuitWhenTheBackendRecovers() {
        ScriptedBackend backend = resilient(resilience(4, 1, 64));
        fake.failAlways(GET_ACTION_RESULT, internal());
        validate(backend, fourAbsentActions());
        assertThat(guard.circuitBreaker().getState()).isEqualTo(CircuitBreaker.State.OPEN);
        fake.recover();
        Digest stored = fake.putAction("compile", ActionResult.newBuilder()
                .addOutputFiles(file("out/a.o", fake.putBlob("a.o"))).build());

        clock.advanceTimeBy(Duration.ofSeconds(9));
        assertThat(validate(backend, stored)).singleElement()
                .satisfies(v -> assertThat(v.reason()).contains("circuit open"));

        // past the 10s wait: capabilities, the lookup and the existence check are the 3 probes
        clock.advanceTimeBy(Duration.ofSeconds(2));
        List<ActionVerdict> probed = validate(backend, stored);

        assertThat(probed).singleElement().satisfies(v -> assertThat(v.verdict()).isEqualTo(Verdict.HIT));
        assertThat(guard.circuitBreaker().getState()).isEqualTo(CircuitBreaker.State.CLOSED);
        assertThat(validate(backend, stored)).singleElement()
                .satisfies(v -> assertThat(v.verdict()).isEqualTo(Verdict.HIT));
    }

    @Test
    void transientUnavailableIsRetriedAndTheVerdictFollowsTheData() {
        ScriptedBackend backend = resilient(resilience(20, 3, 64));
        Digest present = fake.putBlob("a.o");
        Digest gone = fake.absentBlob("b.o");
        Digest action = fake.putAction("compile", ActionResult.newBuilder()
                .addOutputFiles(file("out/a.o", present)).addOutputFiles(file("out/b.o", gone)).build());
        fake.failNext(GET_ACTION_RESULT, 2, unavailable());
        fake.failNext(FIND_MISSING, 1, unavailable());

        StepVerifier.create(validation(backend, action))
                // the first retry waits for its backoff, on the virtual clock
                .then(() -> assertThat(fake.calls(GET_ACTION_RESULT)).isEqualTo(1))
                .then(() -> clock.advanceTimeBy(Duration.ofSeconds(1)))
                .assertNext(verdicts -> assertThat(verdicts).singleElement().satisfies(v -> {
                    assertThat(v.verdict()).isEqualTo(Verdict.PARTIAL);
                    assertThat(v.missing()).containsExactly(new BlobProblem(gone, BlobKind.OUTPUT_FILE, List.of("out/b.o")));
                }))
                .verifyComplete();

        assertThat(fake.calls(GET_ACTION_RESULT)).isEqualTo(3);
        assertThat(fake.calls(FIND_MISSING)).isEqualTo(2);
        assertThat(guard.circuitBreaker().getState()).isEqualTo(CircuitBreaker.State.CLOSED);
    }

    @Test
    void retriesGiveUpAfterMaxAttemptsWithTheLastFailure() {
        ScriptedBackend backend = resilient(resilience(20, 3, 64));
        fake.failAlways(GET_ACTION_RESULT, unavailable());

        StepVerifier.create(validation(backend, fake.absentBlob("a")))
                .then(() -> clock.advanceTimeBy(Duration.ofSeconds(5)))
                .assertNext(verdicts -> assertThat(verdicts).singleElement().satisfies(v -> {
                    assertThat(v.verdict()).isEqualTo(Verdict.UNKNOWN);
                    assertThat(v.reason()).contains("UNAVAILABLE: connection refused");
                }))
                .verifyComplete();
        assertThat(fake.calls(GET_ACTION_RESULT)).isEqualTo(3);
    }

    @Test
    void notFoundIsNeverRetriedNorCountedAsAFailure() {
        ScriptedBackend backend = resilient(resilience(4, 3, 64));
        Digest gone = fake.absentBlob("evicted");

        for (int i = 0; i < 10; i++) {
            StepVerifier.create(backend.getActionResult(SCOPE, fake.absentBlob("action " + i))).verifyComplete();
            StepVerifier.create(backend.readBlob(SCOPE, gone))
                    .expectError(BlobNotFoundException.class)
                    .verify(TIMEOUT);
        }
        List<ActionVerdict> verdicts = validate(backend, fake.absentBlob("never built"));

        assertThat(verdicts).singleElement().satisfies(v -> assertThat(v.verdict()).isEqualTo(Verdict.MISS));
        assertThat(fake.calls(GET_ACTION_RESULT)).isEqualTo(11);
        assertThat(fake.calls(READ_BLOB)).isEqualTo(10);
        assertThat(guard.circuitBreaker().getState()).isEqualTo(CircuitBreaker.State.CLOSED);
        assertThat(guard.circuitBreaker().getMetrics().getNumberOfFailedCalls()).isZero();
    }

    @Test
    void nonRetryableFailureIsNotRetried() {
        ScriptedBackend backend = resilient(resilience(20, 3, 64));
        fake.failAlways(GET_ACTION_RESULT, new BackendException("remote",
                "backend remote: GetActionResult failed: INVALID_ARGUMENT: bad digest"));

        List<ActionVerdict> verdicts = validate(backend, fake.absentBlob("a"));

        assertThat(verdicts).singleElement().satisfies(v -> {
            assertThat(v.verdict()).isEqualTo(Verdict.UNKNOWN);
            assertThat(v.reason()).contains("INVALID_ARGUMENT");
        });
        assertThat(fake.calls(GET_ACTION_RESULT)).isEqualTo(1);
    }

    @Test
    void retriesStopAtTheRequestDeadline() {
        ScriptedBackend backend = resilient(resilience(20, 5, 64));
        fake.failAlways(GET_ACTION_RESULT, unavailable());
        Digest action = fake.absentBlob("a");
        // the first backoff is at most 75ms, the second could be 150ms: past a deadline 120ms away
        Deadline deadline = Deadline.in(Duration.ofMillis(120));

        StepVerifier.create(backend.getActionResult(SCOPE, action).contextWrite(deadline::addTo))
                .then(() -> clock.advanceTimeBy(Duration.ofMillis(120)))
                .expectErrorSatisfies(e -> {
                    assertThat(e).isInstanceOf(BackendException.class)
                            .hasMessageContaining("UNAVAILABLE")
                            .hasMessageContaining("not retried: the request deadline is in");
                    assertThat(((BackendException) e).retryable()).isFalse();
                })
                .verify(TIMEOUT);
        assertThat(fake.calls(GET_ACTION_RESULT)).isEqualTo(2);

        // without a deadline the same failure is tried all 5 times
        StepVerifier.create(backend.getActionResult(SCOPE, action))
                .then(() -> clock.advanceTimeBy(Duration.ofSeconds(10)))
                .expectError(BackendException.class)
                .verify(TIMEOUT);
        assertThat(fake.calls(GET_ACTION_RESULT)).isEqualTo(2 + 5);
    }

    @Test
    void bulkheadFullAnswersUnknownWithReasonAndSparesTheCircuit() {
        ScriptedBackend backend = resilient(resilience(20, 1, 1));
        Digest stuck = fake.putAction("stuck", ActionResult.getDefaultInstance());
        Digest other = fake.putAction("other", ActionResult.newBuilder()
                .addOutputFiles(file("out/a.o", fake.putBlob("a.o"))).build());
        fake.hang(stuck);

        StepVerifier.create(validation(backend, stuck, other))
                .then(() -> clock.advanceTimeBy(Duration.ofSeconds(1)))
                .assertNext(verdicts -> {
                    assertThat(verdicts).extracting(ActionVerdict::verdict).containsExactly(Verdict.UNKNOWN, Verdict.UNKNOWN);
                    assertThat(verdicts.get(0).reason()).contains("getActionResult " + stuck + " timed out after 1s");
                    assertThat(verdicts.get(1).reason()).contains("bulkhead full (1 calls in flight)");
                })
                .verifyComplete();
        // the time-out is the backend's failure; our own full bulkhead is not
        assertThat(guard.circuitBreaker().getMetrics().getNumberOfFailedCalls()).isEqualTo(1);
        assertThat(guard.circuitBreaker().getMetrics().getNumberOfBufferedCalls()).isEqualTo(2);
    }

    @Test
    void streamIsRetriedOnlyBeforeItsFirstChunk() {
        ScriptedBackend backend = resilient(resilience(20, 3, 64));
        Digest blob = fake.putBlob("hello world");
        fake.failNext(READ_BLOB, 1, unavailable());

        StepVerifier.create(backend.readBlob(SCOPE, blob).map(ByteBuffer::remaining))
                .then(() -> clock.advanceTimeBy(Duration.ofSeconds(1)))
                .expectNext(11)
                .verifyComplete();
        assertThat(fake.calls(READ_BLOB)).isEqualTo(2);

        // a reader that holds the first chunk cannot be handed the blob from its start again
        fake.failReadsAfterFirstChunk(unavailable());
        StepVerifier.create(backend.readBlob(SCOPE, blob).map(ByteBuffer::remaining))
                .expectNext(1)
                .then(() -> clock.advanceTimeBy(Duration.ofSeconds(1)))
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(BackendException.class)
                        .hasMessageContaining("UNAVAILABLE"))
                .verify(TIMEOUT);
        assertThat(fake.calls(READ_BLOB)).isEqualTo(3);
    }

    @Test
    void prometheusShowsBackendCallsAndCircuitState() {
        PrometheusMeterRegistry prometheus = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        registries.bindTo(prometheus);
        CacheBackend backend = new MetricsBackend(resilient(resilience(4, 1, 64)), prometheus);
        Digest stored = fake.putAction("compile", ActionResult.getDefaultInstance());

        StepVerifier.create(backend.getActionResult(SCOPE, stored)).expectNextCount(1).verifyComplete();
        StepVerifier.create(backend.getActionResult(SCOPE, fake.absentBlob("a"))).verifyComplete();
        fake.failAlways(GET_ACTION_RESULT, internal());
        for (int i = 0; i < 3; i++) {
            StepVerifier.create(backend.getActionResult(SCOPE, stored)).expectError(BackendException.class).verify(TIMEOUT);
        }
        StepVerifier.create(backend.readBlob(SCOPE, fake.absentBlob("gone")))
                .expectErrorSatisfies(e -> assertThat(e).hasMessageContaining("circuit open"))
                .verify(TIMEOUT);

        String scrape = prometheus.scrape();
        String calls = "vouch_backend_call_seconds_count{backend=\"remote\",operation=";
        assertThat(scrape)
                .contains(calls + "\"get_action_result\",outcome=\"success\"} 1")
                .contains(calls + "\"get_action_result\",outcome=\"absent\"} 1")
                // two failures opened the circuit (2 of 4); the third call was refused
                .contains(calls + "\"get_action_result\",outcome=\"error\"} 2")
                .contains(calls + "\"get_action_result\",outcome=\"circuit_open\"} 1")
                .contains(calls + "\"read_blob\",outcome=\"circuit_open\"} 1")
                .contains("vouch_backend_call_seconds_bucket{backend=\"remote\",operation=\"get_action_result\",outcome=\"success\",le=")
                .contains("resilience4j_circuitbreaker_state{name=\"remote\",state=\"open\"} 1.0")
                .contains("resilience4j_circuitbreaker_calls_seconds_count{kind=\"failed\",name=\"remote\"} 2")
                .contains("resilience4j_timelimiter_calls_total{kind=\"successful\",name=\"remote\"}")
                .contains("resilience4j_bulkhead_available_concurrent_calls{name=\"remote\"}")
                .contains("resilience4j_retry_calls_total{kind=\"failed_without_retry\",name=\"remote\"}");
    }
}
