package dev.vouch.validation;

import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.OutputFile;
import dev.vouch.backend.Scope;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * The cache front's presence window in the engine: blobs a front lookup confirmed present are not
 * asked about again for {@code vouch.front.presence-ttl}, measured on a clock the test moves; absence
 * is never remembered, the validation API never uses the window, and EXISTENCE does not vouch for FETCH.
 */
class PresenceWindowTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(10);
    private static final Scope SCOPE = Scope.of("");

    private final AtomicLong nanos = new AtomicLong();
    private final FakeCacheBackend backend = new FakeCacheBackend();
    private final CompletenessValidator validator = new CompletenessValidator(instance -> backend,
            VouchProperties.Limits.defaults(), new ValidationMetrics(new SimpleMeterRegistry()),
            new PresenceWindow(Duration.ofSeconds(5), Duration.ZERO, 1000, nanos::get));

    private final Digest output = backend.putBlob("output");
    private final Digest action = backend.putAction("compile", ActionResult.newBuilder()
            .addOutputFiles(OutputFile.newBuilder().setPath("out/a.o").setDigest(output.toProto())).build());

    @Test
    void confirmedBlobsAreNotAskedAgainWithinTheWindow() {
        assertThat(front(Mode.EXISTENCE).verdict()).isEqualTo(Verdict.HIT);
        assertThat(backend.findMissingCalls).hasSize(1);

        nanos.addAndGet(Duration.ofSeconds(4).toNanos());
        assertThat(front(Mode.EXISTENCE).verdict()).isEqualTo(Verdict.HIT);

        assertThat(backend.findMissingCalls).hasSize(1);
    }

    /** The trade-off the window makes, and its end: an eviction inside it is seen only after it. */
    @Test
    void anEvictionIsSeenOnceTheWindowEnds() {
        assertThat(front(Mode.EXISTENCE).verdict()).isEqualTo(Verdict.HIT);
        backend.evict(output);

        nanos.addAndGet(Duration.ofSeconds(4).toNanos());
        assertThat(front(Mode.EXISTENCE).verdict()).isEqualTo(Verdict.HIT);
        nanos.addAndGet(Duration.ofSeconds(2).toNanos());
        ActionVerdict after = front(Mode.EXISTENCE);

        assertThat(after.verdict()).isEqualTo(Verdict.PARTIAL);
        assertThat(after.missing()).extracting(BlobProblem::digest).containsExactly(output);
    }

    @Test
    void absenceIsNotRemembered() {
        backend.evict(output);
        assertThat(front(Mode.EXISTENCE).verdict()).isEqualTo(Verdict.PARTIAL);

        backend.putBlob("output");

        assertThat(front(Mode.EXISTENCE).verdict()).isEqualTo(Verdict.HIT);
        assertThat(backend.findMissingCalls).hasSize(2);
    }

    @Test
    void theValidationApiAlwaysAsks() {
        assertThat(front(Mode.EXISTENCE).verdict()).isEqualTo(Verdict.HIT);
        backend.evict(output);

        ActionVerdict api = validator.validate(new ValidationRequest(SCOPE, Mode.EXISTENCE, List.of(action), false))
                .next().block(TIMEOUT);

        assertThat(api.verdict()).isEqualTo(Verdict.PARTIAL);
        assertThat(backend.findMissingCalls).hasSize(2);
    }

    /** The API's own window (vouch.limits.presence-ttl), shorter than the front's here. */
    @Test
    void theValidationApisWindowWhenTurnedOnIsItsOwnLength() {
        CompletenessValidator withApiWindow = new CompletenessValidator(instance -> backend, VouchProperties.Limits.defaults(),
                new ValidationMetrics(new SimpleMeterRegistry()),
                new PresenceWindow(Duration.ofSeconds(5), Duration.ofSeconds(2), 1000, nanos::get));
        ValidationRequest api = new ValidationRequest(SCOPE, Mode.EXISTENCE, List.of(action), false, false);

        assertThat(withApiWindow.validate(api).next().block(TIMEOUT).verdict()).isEqualTo(Verdict.HIT);
        backend.evict(output);
        nanos.addAndGet(Duration.ofSeconds(1).toNanos());
        assertThat(withApiWindow.validate(api).next().block(TIMEOUT).verdict()).isEqualTo(Verdict.HIT);
        assertThat(backend.findMissingCalls).hasSize(1);

        // past the API's 2 s, though inside the front's 5 s: asked again, and the eviction is seen
        nanos.addAndGet(Duration.ofSeconds(1).toNanos());
        ActionVerdict after = withApiWindow.validate(api).next().block(TIMEOUT);

        assertThat(after.verdict()).isEqualTo(Verdict.PARTIAL);
        assertThat(after.missing()).extracting(BlobProblem::digest).containsExactly(output);
        assertThat(backend.findMissingCalls).hasSize(2);
    }

    @Test
    void theValidationApisWindowNeverRemembersAbsence() {
        CompletenessValidator withApiWindow = new CompletenessValidator(instance -> backend, VouchProperties.Limits.defaults(),
                new ValidationMetrics(new SimpleMeterRegistry()),
                new PresenceWindow(Duration.ZERO, Duration.ofSeconds(60), 1000, nanos::get));
        ValidationRequest api = new ValidationRequest(SCOPE, Mode.EXISTENCE, List.of(action), false, false);
        backend.evict(output);

        for (int i = 0; i < 3; i++) {
            assertThat(withApiWindow.validate(api).next().block(TIMEOUT).verdict()).isEqualTo(Verdict.PARTIAL);
        }

        assertThat(backend.findMissingCalls).hasSize(3);
    }

    @Test
    void existenceDoesNotVouchForFetchButFetchForBoth() {
        assertThat(front(Mode.EXISTENCE).verdict()).isEqualTo(Verdict.HIT);
        assertThat(front(Mode.FETCH).verdict()).isEqualTo(Verdict.HIT);
        assertThat(backend.readsOf(output)).isEqualTo(1);

        assertThat(front(Mode.FETCH).verdict()).isEqualTo(Verdict.HIT);
        assertThat(front(Mode.EXISTENCE).verdict()).isEqualTo(Verdict.HIT);

        assertThat(backend.readsOf(output)).isEqualTo(1);
        assertThat(backend.findMissingCalls).hasSize(1);
    }

    @Test
    void theWindowHoldsAtMostItsMaximumAndForgetsTheOldestFirst() {
        PresenceWindow small = new PresenceWindow(Duration.ofSeconds(5), Duration.ZERO, 4, nanos::get);
        List<Digest> blobs = java.util.stream.IntStream.range(0, 10)
                .mapToObj(i -> dev.vouch.digest.DigestFunction.SHA256.digestOf(("blob " + i).getBytes()))
                .toList();
        for (Digest blob : blobs) {
            small.confirmed(Source.FRONT, "b", SCOPE, "", List.of(blob), Mode.EXISTENCE);
        }

        List<Digest> held = blobs.stream()
                .filter(blob -> small.isPresent(Source.FRONT, "b", SCOPE, "", blob, Mode.EXISTENCE))
                .toList();

        assertThat(held).hasSizeLessThanOrEqualTo(4).isNotEmpty();
        assertThat(held).containsExactlyElementsOf(blobs.subList(blobs.size() - held.size(), blobs.size()));
        assertThat(small.isPresent(Source.API, "b", SCOPE, "", blobs.get(9), Mode.EXISTENCE))
                .as("the API's window is off here").isFalse();
    }

    @Test
    void aZeroTtlRemembersNothing() {
        CompletenessValidator noWindow = new CompletenessValidator(instance -> backend, VouchProperties.Limits.defaults(),
                new ValidationMetrics(new SimpleMeterRegistry()), new PresenceWindow(Duration.ZERO, 1000));

        for (int i = 0; i < 2; i++) {
            assertThat(noWindow.validate(frontRequest(Mode.EXISTENCE)).next().block(TIMEOUT).verdict()).isEqualTo(Verdict.HIT);
        }

        assertThat(backend.findMissingCalls).hasSize(2);
    }

    private ActionVerdict front(Mode mode) {
        return validator.validate(frontRequest(mode)).next().block(TIMEOUT);
    }

    private ValidationRequest frontRequest(Mode mode) {
        return new ValidationRequest(SCOPE, mode, List.of(action), true, Source.FRONT, true);
    }
}
