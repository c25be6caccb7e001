package dev.vouch.validation;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import dev.vouch.backend.Scope;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.faults.Fault;
import dev.vouch.faults.FaultPlan;
import dev.vouch.faults.FaultyBackend;
import dev.vouch.faults.FaultyBackend.Injected;
import dev.vouch.faults.FaultyBackend.Operation;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;
import org.slf4j.LoggerFactory;
import reactor.core.Disposable;
import reactor.core.scheduler.Schedulers;
import reactor.test.scheduler.VirtualTimeScheduler;

/**
 * The engine fails closed, whatever the cache holds and however the backend misbehaves: random
 * ActionResult closures x random presence (absent and corrupt blobs, absent AC entries) x random
 * fault schedules, in both modes, judged against the truth computed from the model. Hangs and
 * delays run in virtual time, so ten thousand cases take seconds.
 */
class FailClosedPropertyTest {
    private static final ValidationMetrics METRICS = new ValidationMetrics(new SimpleMeterRegistry());
    private static final FaultPlan.Timing TIMING = new FaultPlan.Timing(Duration.ofMillis(50), Duration.ofSeconds(5));
    private static final List<Fault> CALL_FAULTS =
            List.of(Fault.RETRYABLE_ERROR, Fault.FATAL_ERROR, Fault.TIMEOUT, Fault.HANG, Fault.DELAY, Fault.EMPTY);
    private static Level savedLevel;

    // every injected fault is logged as a warning by the engine; ten thousand cases of that is noise
    @BeforeContainer
    static void quietEngine() {
        Logger engine = (Logger) LoggerFactory.getLogger("dev.vouch.validation");
        savedLevel = engine.getLevel();
        engine.setLevel(Level.ERROR);
    }

    @AfterContainer
    static void restoreEngineLogging() {
        ((Logger) LoggerFactory.getLogger("dev.vouch.validation")).setLevel(savedLevel);
    }

    @Property(tries = 10000)
    void hitOnlyWhenEveryBlobWasConfirmed(
            @ForAll long modelSeed,
            @ForAll Mode mode,
            @ForAll("faultRates") double faultRate,
            @ForAll long faultSeed,
            @ForAll @IntRange(min = 1, max = 4) int concurrency,
            @ForAll("batchSizes") int findMissingBatchSize) {
        boolean fetch = mode == Mode.FETCH;
        ClosureModel model = new ClosureModel(modelSeed, fetch);
        FakeCacheBackend cache = new FakeCacheBackend();
        model.contents.keySet().forEach(digest -> {
            byte[] stored = model.stored(digest);
            if (stored != null) {
                cache.putUnder(digest, stored);
            }
        });
        model.actions.stream().filter(ClosureModel.Action::stored)
                .forEach(action -> cache.putAction(action.name(), action.result()));

        VirtualTimeScheduler time = VirtualTimeScheduler.create();
        FaultyBackend backend = new FaultyBackend(cache, FaultPlan.seeded(faultSeed, faultRate, faults(fetch)),
                TIMING, time);
        VouchProperties.Limits limits = new VouchProperties.Limits(1000, 4194304, 1_000_000, 268435456L,
                findMissingBatchSize, concurrency, concurrency);
        // hashing in place keeps every step on the virtual clock
        CompletenessValidator validator = new CompletenessValidator(instance -> backend, limits, METRICS,
                System::nanoTime, Schedulers.immediate());
        ValidationRequest request = new ValidationRequest(Scope.of(""), mode, model.request, false);

        List<ActionVerdict> verdicts = runInVirtualTime(validator, request, time);

        List<Injected> injected = backend.injected();
        String context = model + "\n  mode " + mode + ", batch " + findMissingBatchSize + ", faults injected: "
                + injected + "\n  verdicts: " + verdicts;
        assertThat(verdicts.stream().map(ActionVerdict::index).sorted().toList())
                .as("every position answered exactly once\n%s", context)
                .isEqualTo(java.util.stream.IntStream.range(0, request.actions().size()).boxed().toList());
        boolean healthy = injected.stream().allMatch(i -> i.fault() == Fault.DELAY);
        for (ActionVerdict verdict : verdicts) {
            Digest action = request.actions().get(verdict.index());
            ClosureModel.Truth truth = model.truth(action);
            String about = "position " + verdict.index() + ": " + verdict + "\n  truth: " + truth + "\n" + context;
            assertThat(verdict.action()).as(about).isEqualTo(action);
            checkFailClosed(verdict, truth, fetch, injected, about);
            if (healthy) {
                // delays only: the verdict must be exactly the truth
                assertThat(verdict.verdict()).as(about).isEqualTo(truth.verdict());
                assertThat(digests(verdict.missing())).as(about).isEqualTo(truth.missing());
                assertThat(digests(verdict.corrupt())).as(about).isEqualTo(truth.corrupt());
            }
        }
    }

    private static void checkFailClosed(ActionVerdict verdict, ClosureModel.Truth truth, boolean fetch,
            List<Injected> injected, String about) {
        switch (verdict.verdict()) {
            case HIT -> assertThat(truth.verdict()).as("false HIT\n%s", about).isEqualTo(Verdict.HIT);
            case MISS -> assertThat(truth.verdict() == Verdict.MISS
                    || injected.contains(new Injected(Operation.GET_ACTION_RESULT, verdict.action(), Fault.EMPTY)))
                    .as("MISS for an action the AC holds, with no injected empty answer\n%s", about).isTrue();
            case PARTIAL -> {
                assertThat(truth.verdict()).as("PARTIAL for an action the AC lacks\n%s", about).isNotEqualTo(Verdict.MISS);
                assertThat(verdict.missing().size() + verdict.corrupt().size()).as(about).isPositive();
                Set<Digest> emptiedTrees = subjects(injected, Operation.GET_TREE, Set.of(Fault.EMPTY));
                for (BlobProblem missing : verdict.missing()) {
                    // an empty GetTree answer claims its root is gone: the only "missing" the backend made up
                    assertThat(truth.missing().contains(missing.digest()) || emptiedTrees.contains(missing.digest()))
                            .as("PARTIAL names %s missing, which it is not\n%s", missing.digest(), about).isTrue();
                }
                Set<Digest> damagedReads = subjects(injected, Operation.READ_BLOB,
                        Set.of(Fault.EMPTY, Fault.CORRUPT, Fault.TRUNCATE));
                for (BlobProblem corrupt : verdict.corrupt()) {
                    assertThat(truth.corrupt().contains(corrupt.digest()) || damagedReads.contains(corrupt.digest()))
                            .as("PARTIAL names %s corrupt, which it is not\n%s", corrupt.digest(), about).isTrue();
                    // EXISTENCE reads only Tree and Directory blobs, and calls one corrupt only when its bytes are
                    assertThat(fetch || corrupt.kind() == BlobKind.OUTPUT_DIRECTORY_TREE || corrupt.kind() == BlobKind.DIRECTORY)
                            .as("corrupt %s blob in mode EXISTENCE\n%s", corrupt.kind(), about).isTrue();
                }
            }
            case UNKNOWN -> {
                assertThat(injected).as("UNKNOWN with no fault injected\n%s", about).isNotEmpty();
                assertThat(verdict.reason()).as(about).isNotBlank().doesNotContain("internal error");
            }
        }
    }

    /** Runs the validation to its end, moving virtual time on while hangs and delays wait for it. */
    private static List<ActionVerdict> runInVirtualTime(CompletenessValidator validator, ValidationRequest request,
            VirtualTimeScheduler time) {
        List<ActionVerdict> verdicts = new CopyOnWriteArrayList<>();
        AtomicBoolean done = new AtomicBoolean();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Disposable run = validator.validate(request).subscribe(verdicts::add, failure::set, () -> done.set(true));
        try {
            for (int step = 0; step < 10_000 && !done.get() && failure.get() == null; step++) {
                time.advanceTimeBy(Duration.ofMillis(500));
            }
        } finally {
            run.dispose();
            time.dispose();
        }
        assertThat(failure.get()).as("the verdict stream never fails").isNull();
        assertThat(done).as("the validation ends once every hang has timed out").isTrue();
        return verdicts.stream().sorted(Comparator.comparingInt(ActionVerdict::index)).toList();
    }

    private static Map<Operation, List<Fault>> faults(boolean fetch) {
        Map<Operation, List<Fault>> faults = new EnumMap<>(Operation.class);
        faults.put(Operation.CAPABILITIES, CALL_FAULTS);
        List<Fault> lookup = new ArrayList<>(CALL_FAULTS);
        lookup.add(Fault.CORRUPT);
        faults.put(Operation.GET_ACTION_RESULT, lookup);
        faults.put(Operation.FIND_MISSING, CALL_FAULTS);
        faults.put(Operation.GET_TREE, CALL_FAULTS);
        List<Fault> reads = new ArrayList<>(CALL_FAULTS);
        reads.add(Fault.TRUNCATE);
        reads.add(Fault.RESET_MID_STREAM);
        if (fetch) {
            // EXISTENCE trusts the bytes of the Tree and Directory blobs it reads: corruption is FETCH's to catch
            reads.add(Fault.CORRUPT);
        }
        faults.put(Operation.READ_BLOB, reads);
        return faults;
    }

    private static Set<Digest> subjects(List<Injected> injected, Operation operation, Set<Fault> kinds) {
        return injected.stream().filter(i -> i.operation() == operation && kinds.contains(i.fault()))
                .map(Injected::subject).collect(Collectors.toSet());
    }

    private static Set<Digest> digests(List<BlobProblem> problems) {
        return problems.stream().map(BlobProblem::digest).collect(Collectors.toCollection(java.util.LinkedHashSet::new));
    }

    @Provide
    Arbitrary<Double> faultRates() {
        return Arbitraries.of(0.0, 0.02, 0.1, 0.3, 0.7);
    }

    @Provide
    Arbitrary<Integer> batchSizes() {
        return Arbitraries.of(1, 2, 3, 10000);
    }
}
