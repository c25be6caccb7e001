package dev.vouch.faults;

import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.OutputFile;
import dev.vouch.backend.BackendException;
import dev.vouch.backend.Scope;
import dev.vouch.backend.embedded.EmbeddedBackend;
import dev.vouch.backend.embedded.InMemoryBlobStore;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.faults.FaultyBackend.Injected;
import dev.vouch.faults.FaultyBackend.Operation;
import dev.vouch.validation.CompletenessValidator;
import dev.vouch.validation.Mode;
import dev.vouch.validation.ValidationMetrics;
import dev.vouch.validation.ValidationRequest;
import dev.vouch.validation.Verdict;
import io.grpc.Status;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Flux;
import reactor.core.scheduler.Schedulers;
import reactor.test.StepVerifier;
import reactor.test.scheduler.VirtualTimeScheduler;

/** The faults of {@link FaultyBackend} are what a client of a real backend would see. */
class FaultyBackendTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(10);
    private static final Scope SCOPE = Scope.of("");
    private static final FaultPlan.Timing TIMING = new FaultPlan.Timing(Duration.ofMillis(200), Duration.ofSeconds(5));

    private final InMemoryBlobStore store = new InMemoryBlobStore();
    private final EmbeddedBackend cache = new EmbeddedBackend("cache", store, 4 << 20);
    private final byte[] blob = randomBytes(100_000);
    private final Digest blobDigest = DigestFunction.SHA256.digestOf(blob);
    private final Digest action = DigestFunction.SHA256.digestOf("an action".getBytes());

    FaultyBackendTest() {
        store.write(blobDigest, Flux.just(ByteBuffer.wrap(blob))).block(TIMEOUT);
        store.putActionResult(action, ActionResult.newBuilder()
                .addOutputFiles(OutputFile.newBuilder().setPath("out/big").setDigest(blobDigest.toProto()))
                .build().toByteArray()).block(TIMEOUT);
    }

    private FaultyBackend faulty(FaultPlan plan, VirtualTimeScheduler time) {
        return new FaultyBackend(cache, plan, TIMING, time);
    }

    @Test
    void hangEndsInATimeoutAfterItsLimitInVirtualTime() {
        VirtualTimeScheduler time = VirtualTimeScheduler.create();
        FaultyBackend backend = faulty(FaultPlan.always(Operation.GET_ACTION_RESULT, Fault.HANG), time);

        StepVerifier.withVirtualTime(() -> backend.getActionResult(SCOPE, action), () -> time, Long.MAX_VALUE)
                .expectSubscription()
                .expectNoEvent(Duration.ofMillis(4999))
                .thenAwait(Duration.ofMillis(1))
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(BackendException.class)
                        .hasMessageContaining("injected hang"))
                .verify(TIMEOUT);
    }

    @Test
    void hangWithoutLimitNeverAnswers() {
        VirtualTimeScheduler time = VirtualTimeScheduler.create();
        FaultyBackend backend = new FaultyBackend(cache, FaultPlan.always(Operation.FIND_MISSING, Fault.HANG),
                new FaultPlan.Timing(Duration.ZERO, null), time);

        StepVerifier.withVirtualTime(() -> backend.findMissing(SCOPE, dev.vouch.digest.DigestSet.of(blobDigest)),
                        () -> time, Long.MAX_VALUE)
                .expectSubscription()
                .expectNoEvent(Duration.ofDays(1))
                .thenCancel()
                .verify(TIMEOUT);
    }

    @Test
    void delayAnswersCorrectlyButLate() {
        VirtualTimeScheduler time = VirtualTimeScheduler.create();
        FaultyBackend backend = faulty(FaultPlan.always(Operation.GET_ACTION_RESULT, Fault.DELAY), time);

        StepVerifier.withVirtualTime(() -> backend.getActionResult(SCOPE, action), () -> time, Long.MAX_VALUE)
                .expectSubscription()
                .expectNoEvent(Duration.ofMillis(199))
                .thenAwait(Duration.ofMillis(1))
                .assertNext(result -> assertThat(result.getOutputFilesCount()).isEqualTo(1))
                .verifyComplete();
    }

    @Test
    void retryableAndFatalErrorsCarryTheirGrpcStatus() {
        FaultyBackend retryable = faulty(FaultPlan.always(Operation.READ_BLOB, Fault.RETRYABLE_ERROR), null);
        FaultyBackend fatal = faulty(FaultPlan.always(Operation.READ_BLOB, Fault.FATAL_ERROR), null);

        StepVerifier.create(retryable.readBlob(SCOPE, blobDigest))
                .expectErrorSatisfies(e -> assertThat(Status.fromThrowable(e.getCause()).getCode())
                        .isEqualTo(Status.Code.UNAVAILABLE))
                .verify(TIMEOUT);
        StepVerifier.create(fatal.readBlob(SCOPE, blobDigest))
                .expectErrorSatisfies(e -> assertThat(Status.fromThrowable(e.getCause()).getCode())
                        .isEqualTo(Status.Code.INTERNAL))
                .verify(TIMEOUT);
    }

    @Test
    void corruptReadKeepsTheLengthAndChangesOneByte() {
        FaultyBackend backend = faulty(FaultPlan.always(Operation.READ_BLOB, Fault.CORRUPT), null);

        byte[] read = concat(backend.readBlob(SCOPE, blobDigest).collectList().block(TIMEOUT));

        assertThat(read).hasSameSizeAs(blob);
        int differing = 0;
        for (int i = 0; i < blob.length; i++) {
            differing += read[i] != blob[i] ? 1 : 0;
        }
        assertThat(differing).isEqualTo(1);
        // the stored blob is untouched: the next healthy read is intact
        assertThat(concat(cache.readBlob(SCOPE, blobDigest).collectList().block(TIMEOUT))).isEqualTo(blob);
    }

    @Test
    void truncatedReadEndsCleanlyHalfWay() {
        FaultyBackend backend = faulty(FaultPlan.always(Operation.READ_BLOB, Fault.TRUNCATE), null);

        byte[] read = concat(backend.readBlob(SCOPE, blobDigest).collectList().block(TIMEOUT));

        assertThat(read).isEqualTo(Arrays.copyOf(blob, blob.length / 2));
    }

    @Test
    void resetMidStreamFailsAfterHalfTheBytes() {
        FaultyBackend backend = faulty(FaultPlan.always(Operation.READ_BLOB, Fault.RESET_MID_STREAM), null);
        List<ByteBuffer> received = new ArrayList<>();

        StepVerifier.create(backend.readBlob(SCOPE, blobDigest))
                .recordWith(() -> received)
                .thenConsumeWhile(chunk -> true)
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(BackendException.class)
                        .hasMessageContaining("connection reset"))
                .verify(TIMEOUT);
        assertThat(concat(received)).hasSize(blob.length / 2);
    }

    @Test
    void emptyActionCacheAnswerIsRecordedAsInjected() {
        FaultyBackend backend = faulty(FaultPlan.always(Operation.GET_ACTION_RESULT, Fault.EMPTY), null);

        StepVerifier.create(backend.getActionResult(SCOPE, action)).verifyComplete();

        assertThat(backend.injected()).containsExactly(new Injected(Operation.GET_ACTION_RESULT, action, Fault.EMPTY));
    }

    @Test
    void seededPlanReplaysTheSameSchedule() {
        Map<Operation, List<Fault>> faults = Map.of(Operation.READ_BLOB,
                List.of(Fault.RETRYABLE_ERROR, Fault.CORRUPT, Fault.TIMEOUT));
        FaultPlan first = FaultPlan.seeded(7, 0.5, faults);
        FaultPlan second = FaultPlan.seeded(7, 0.5, faults);
        List<Fault> a = new ArrayList<>();
        List<Fault> b = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            a.add(first.next(Operation.READ_BLOB));
            b.add(second.next(Operation.READ_BLOB));
        }

        assertThat(a).isEqualTo(b).contains(Fault.NONE, Fault.RETRYABLE_ERROR, Fault.CORRUPT, Fault.TIMEOUT);
    }

    @Test
    void flappingPlanAlternatesHealthyAndFaultyPeriods() {
        FaultPlan plan = FaultPlan.flapping(2, 3, Fault.RETRYABLE_ERROR);
        List<Fault> seen = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            seen.add(plan.next(Operation.FIND_MISSING));
        }

        Fault ok = Fault.NONE;
        Fault bad = Fault.RETRYABLE_ERROR;
        assertThat(seen).containsExactly(ok, ok, bad, bad, bad, ok, ok, bad, bad, bad);
    }

    @Test
    void engineAnswersUnknownWhenTheExistenceCheckHangs() {
        VirtualTimeScheduler time = VirtualTimeScheduler.create();
        FaultyBackend backend = faulty(FaultPlan.always(Operation.FIND_MISSING, Fault.HANG), time);
        CompletenessValidator validator = new CompletenessValidator(instance -> backend,
                VouchProperties.Limits.defaults(),
                new ValidationMetrics(new SimpleMeterRegistry()));

        StepVerifier.withVirtualTime(() -> validator.validate(new ValidationRequest(SCOPE, Mode.EXISTENCE,
                        List.of(action), false)).subscribeOn(Schedulers.immediate()), () -> time, Long.MAX_VALUE)
                .expectSubscription()
                .expectNoEvent(Duration.ofMillis(4999))
                .thenAwait(Duration.ofMillis(1))
                .assertNext(verdict -> {
                    assertThat(verdict.verdict()).isEqualTo(Verdict.UNKNOWN);
                    assertThat(verdict.reason()).contains("existence check failed").contains("injected hang");
                })
                .verifyComplete();
    }

    private static byte[] concat(List<ByteBuffer> chunks) {
        int size = chunks.stream().mapToInt(ByteBuffer::remaining).sum();
        ByteBuffer all = ByteBuffer.allocate(size);
        chunks.forEach(c -> all.put(c.duplicate()));
        return all.array();
    }

    private static byte[] randomBytes(int size) {
        byte[] bytes = new byte[size];
        new Random(3).nextBytes(bytes);
        return bytes;
    }
}
