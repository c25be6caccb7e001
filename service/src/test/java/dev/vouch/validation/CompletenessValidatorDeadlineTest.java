package dev.vouch.validation;

import static dev.vouch.validation.CompletenessValidatorTest.file;
import static dev.vouch.validation.CompletenessValidatorTest.request;
import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.ActionResult;
import dev.vouch.backend.Deadline;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Flux;
import reactor.test.StepVerifier;

/**
 * The request deadline in the engine, on virtual time: what is decided in time keeps its verdict,
 * the rest is UNKNOWN "deadline exceeded", every position answered once, and the backend work
 * still running is cancelled.
 */
class CompletenessValidatorDeadlineTest {
    private static final Duration DEADLINE = Duration.ofSeconds(2);
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    private final FakeCacheBackend fake = new FakeCacheBackend();
    private final HangingBackend backend = new HangingBackend(fake);

    @Test
    void hangingBackend() {
        backend.hangAllLookups();
        Digest a = fake.putAction("a", hitResult("a"));
        Digest b = fake.putAction("b", hitResult("b"));

        List<ActionVerdict> verdicts = validateWithin(DEADLINE, VouchProperties.Limits.defaults(),
                request(Mode.EXISTENCE, false, a, b, a));

        assertThat(verdicts).extracting(ActionVerdict::verdict)
                .containsExactly(Verdict.UNKNOWN, Verdict.UNKNOWN, Verdict.UNKNOWN);
        assertThat(verdicts).extracting(ActionVerdict::reason).containsOnly("deadline exceeded");
        assertThat(backend.cancelled()).isEqualTo(2);
    }

    @Test
    void answeredWithinTheDeadlineNotAfter() {
        backend.hangAllLookups();
        Digest a = fake.putAction("a", hitResult("a"));

        StepVerifier.withVirtualTime(() -> withDeadline(DEADLINE, validator(VouchProperties.Limits.defaults())
                        .validate(request(Mode.EXISTENCE, false, a))))
                .expectSubscription()
                .expectNoEvent(Duration.ofMillis(1000))
                .thenAwait(DEADLINE.minusMillis(1000))
                .assertNext(v -> assertThat(v.reason()).isEqualTo("deadline exceeded"))
                .expectComplete()
                .verify(TIMEOUT);
    }

    @Test
    void fastActionsKeepTheirVerdictsWhileOneHangs() {
        Digest hit = fake.putAction("hit", hitResult("present"));
        Digest gone = fake.absentBlob("evicted");
        Digest partial = fake.putAction("partial", ActionResult.newBuilder().addOutputFiles(file("out/p", gone)).build());
        Digest miss = fake.actionDigest("never stored");
        Digest slow = fake.putAction("slow", hitResult("slow output"));
        backend.hangLookupOf(slow);

        List<ActionVerdict> verdicts = validateWithin(DEADLINE, VouchProperties.Limits.defaults(),
                request(Mode.EXISTENCE, false, hit, slow, partial, miss));

        assertThat(verdicts).extracting(ActionVerdict::verdict)
                .containsExactly(Verdict.HIT, Verdict.UNKNOWN, Verdict.PARTIAL, Verdict.MISS);
        assertThat(verdicts.get(1).reason()).isEqualTo("deadline exceeded");
        assertThat(verdicts.get(2).missing()).extracting(BlobProblem::digest).containsExactly(gone);
        assertThat(backend.cancelled()).isEqualTo(1);
    }

    @Test
    void hangingExistenceCheck() {
        backend.hangFindMissing();
        Digest stored = fake.putAction("stored", hitResult("out"));
        Digest miss = fake.actionDigest("absent");

        List<ActionVerdict> verdicts = validateWithin(DEADLINE, VouchProperties.Limits.defaults(),
                request(Mode.EXISTENCE, false, stored, miss));

        // the MISS was known before the deadline and stays; the unconfirmed closure is never a HIT
        assertThat(verdicts).extracting(ActionVerdict::verdict).containsExactly(Verdict.UNKNOWN, Verdict.MISS);
        assertThat(verdicts.get(0).reason()).isEqualTo("deadline exceeded");
        assertThat(backend.cancelled()).isEqualTo(1);
    }

    @Test
    void hangingReadInFetchMode() {
        backend.hangReads();
        Digest stored = fake.putAction("stored", hitResult("out"));

        List<ActionVerdict> verdicts = validateWithin(DEADLINE, VouchProperties.Limits.defaults(),
                request(Mode.FETCH, false, stored));

        assertThat(verdicts).singleElement().satisfies(v -> {
            assertThat(v.verdict()).isEqualTo(Verdict.UNKNOWN);
            assertThat(v.reason()).isEqualTo("deadline exceeded");
        });
        assertThat(backend.cancelled()).isEqualTo(1);
    }

    @Test
    void deadlineAlreadyPassed() {
        Digest stored = fake.putAction("stored", hitResult("out"));

        List<ActionVerdict> verdicts = validateWithin(Duration.ZERO, VouchProperties.Limits.defaults(),
                request(Mode.EXISTENCE, false, stored));

        assertThat(verdicts).extracting(ActionVerdict::verdict).containsExactly(Verdict.UNKNOWN);
    }

    @Test
    void decidedInTimeIsUntouched() {
        Digest stored = fake.putAction("stored", hitResult("out"));

        List<ActionVerdict> verdicts = validateWithin(DEADLINE, VouchProperties.Limits.defaults(),
                request(Mode.EXISTENCE, false, stored));

        assertThat(verdicts).extracting(ActionVerdict::verdict).containsExactly(Verdict.HIT);
    }

    @Test
    void requestBlobBoundMakesTheOverflowUnknown() {
        Digest first = fake.putAction("first", ActionResult.newBuilder()
                .addOutputFiles(file("a1", fake.putBlob("a1"))).addOutputFiles(file("a2", fake.putBlob("a2"))).build());
        Digest second = fake.putAction("second", ActionResult.newBuilder()
                .addOutputFiles(file("b1", fake.putBlob("b1"))).addOutputFiles(file("b2", fake.putBlob("b2"))).build());
        VouchProperties.Limits threeBlobs = new VouchProperties.Limits(1000, 4194304, 1_000_000, 268435456L, 10000,
                1, 8, Duration.ofSeconds(30), Duration.ofMinutes(5), 64, 3L, Duration.ofSeconds(1), 64L << 20, 1 << 20, 40, Duration.ZERO);

        List<ActionVerdict> verdicts = CompletenessValidatorTest.validate(validator(threeBlobs),
                request(Mode.EXISTENCE, false, first, second));

        assertThat(verdicts).extracting(ActionVerdict::verdict).containsExactly(Verdict.HIT, Verdict.UNKNOWN);
        assertThat(verdicts.get(1).reason()).contains("vouch.limits.max-blobs-per-request");
        // the dropped closure was never queried
        assertThat(fake.allQueried()).hasSize(2);
    }

    // --- helpers

    /** Every verdict, in request order, under a deadline of {@code timeout} on virtual time. */
    private List<ActionVerdict> validateWithin(Duration timeout, VouchProperties.Limits limits,
            ValidationRequest request) {
        List<ActionVerdict> verdicts = new ArrayList<>();
        StepVerifier.withVirtualTime(() -> withDeadline(timeout, validator(limits).validate(request)))
                .thenAwait(timeout)
                .recordWith(ArrayList::new)
                .thenConsumeWhile(v -> true)
                .consumeRecordedWith(verdicts::addAll)
                .expectComplete()
                .verify(TIMEOUT);
        verdicts.sort(Comparator.comparingInt(ActionVerdict::index));
        Map<Integer, Long> perIndex = verdicts.stream()
                .collect(Collectors.groupingBy(ActionVerdict::index, Collectors.counting()));
        assertThat(perIndex).as("one verdict per position").hasSize(request.actions().size()).allSatisfy((i, n) ->
                assertThat(n).isEqualTo(1));
        return verdicts;
    }

    private static Flux<ActionVerdict> withDeadline(Duration timeout, Flux<ActionVerdict> verdicts) {
        // the deadline is taken at subscription, on the virtual clock StepVerifier installed
        return verdicts.contextWrite(context -> Deadline.in(timeout).addTo(context));
    }

    private ActionResult hitResult(String content) {
        return ActionResult.newBuilder().addOutputFiles(file("out/" + content, fake.putBlob(content))).build();
    }

    private CompletenessValidator validator(VouchProperties.Limits limits) {
        return new CompletenessValidator(instance -> backend, limits, new ValidationMetrics(new SimpleMeterRegistry()));
    }
}
