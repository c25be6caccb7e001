package dev.vouch.validation;

import build.bazel.remote.execution.v2.ActionResult;
import dev.vouch.backend.Scope;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.jmh.ProductionLogging;
import dev.vouch.jmh.Workload;
import dev.vouch.jmh.WorkloadBackend;
import com.google.protobuf.InvalidProtocolBufferException;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import reactor.core.publisher.Flux;

/**
 * One request's engine work per action, at the issue 11 workload shape ({@link Workload}): an
 * operation is one batch of 100 actions, and the score is per action. The backend is in memory
 * and answers on the benchmark thread, so the score is Vouch's own CPU, not the store's.
 *
 * <ul>
 *   <li>{@link #walk}: ClosureWalker turning 100 ActionResults into closures, as one request does:
 *       each Tree read (through {@code readSmallBlob}), hash-checked, parsed and indexed, and its
 *       files added with their paths, charged to the request's budget.
 *   <li>{@link #validate}: the whole mode EXISTENCE validation of a batch (AC lookups, walk, one
 *       existence check of the union, verdicts): 90 HIT, 5 PARTIAL, 5 MISS.
 * </ul>
 *
 * The 2,000 actions are sent as 20 batches in turn, so a batch is not still in the CPU caches from
 * the operation before; the backend parses each ActionResult it returns, as real ones do. Here in the validation package because ClosureWalker is package-private.
 */
@State(org.openjdk.jmh.annotations.Scope.Thread)
@BenchmarkMode(org.openjdk.jmh.annotations.Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class ClosureWalkBenchmark {
    private static final long SEED = 11;
    private static final Scope SCOPE = Scope.of("");
    private static final VouchProperties.Limits LIMITS = VouchProperties.Limits.defaults();

    /** What one walk of a batch produced: the closures, their blobs and bytes, and the Trees it read. */
    public record Walked(int closures, long blobs, long bytes, int treesRead) {
    }

    private Workload workload;
    private WorkloadBackend backend;
    private MemoryBudget memory;
    private CompletenessValidator validator;
    private List<List<byte[]>> results;
    private List<ValidationRequest> requests;
    private int next;
    // what the next invocation sends
    private List<ActionResult> batchResults;
    private ValidationRequest batchRequest;

    /** JMH only: logging as in production (JmhBenchmarkSetupTest calls only {@link #setUp}). */
    @Setup(Level.Trial)
    public void productionLogging() {
        ProductionLogging.apply();
    }

    @Setup(Level.Trial)
    public void setUp() {
        workload = Workload.generate(SEED);
        backend = new WorkloadBackend(workload);
        memory = new MemoryBudget(LIMITS.validationHeapBytes());
        validator = new CompletenessValidator(instance -> backend, LIMITS,
                new ValidationMetrics(new SimpleMeterRegistry()));
        List<List<Workload.Action>> batches = workload.batches();
        results = batches.stream()
                .map(batch -> batch.stream().map(action -> action.result().toByteArray()).toList())
                .toList();
        requests = batches.stream()
                .map(batch -> new ValidationRequest(SCOPE, Mode.EXISTENCE,
                        batch.stream().map(Workload.Action::digest).toList(), false))
                .toList();
        // every batch once, each checked: a benchmark that measures the wrong work is worse than none
        // (each round of the 20 ends where it began, at the first batch)
        for (List<Workload.Action> batch : batches) {
            nextBatch();
            check(batch, walk());
        }
        for (List<Workload.Action> batch : batches) {
            nextBatch();
            check(batch, validate());
        }
        if (memory.usedBytes() != 0) {
            throw new IllegalStateException("walks left " + memory.usedBytes() + " bytes charged to the memory budget");
        }
    }

    public Workload workload() {
        return workload;
    }

    /**
     * Before each operation, untimed: the next batch, round the 20, with its ActionResults parsed
     * afresh, so the walk decodes their digests and paths as a request's walk does (a message
     * parsed once and walked again would hand back the strings it decoded the first time).
     */
    @Setup(Level.Invocation)
    public void nextBatch() {
        batchResults = new ArrayList<>(Workload.BATCH);
        for (byte[] result : results.get(next)) {
            try {
                batchResults.add(ActionResult.parseFrom(result));
            } catch (InvalidProtocolBufferException e) {
                throw new IllegalStateException(e);
            }
        }
        batchRequest = requests.get(next);
        next = (next + 1) % results.size();
    }

    @Benchmark
    @OperationsPerInvocation(Workload.BATCH)
    public Walked walk() {
        try (RequestBudget budget = new RequestBudget(LIMITS, memory)) {
            ClosureWalker walker = new ClosureWalker(backend, SCOPE, LIMITS, budget);
            // as the validator walks them: up to action-concurrency at once (here each completes at once)
            List<Closure> closures = Flux.fromIterable(batchResults)
                    .flatMap(walker::walk, LIMITS.actionConcurrency())
                    .collectList()
                    .block();
            long blobs = 0;
            long bytes = 0;
            for (Closure closure : closures) {
                blobs += closure.blobCount();
                bytes += closure.byteCount();
            }
            return new Walked(closures.size(), blobs, bytes, walker.confirmedPresent().size());
        }
    }

    @Benchmark
    @OperationsPerInvocation(Workload.BATCH)
    public List<ActionVerdict> validate() {
        return validator.validate(batchRequest).collectList().block();
    }

    private static void check(List<Workload.Action> batch, Walked walked) {
        long bytes = batch.stream().mapToLong(Workload.Action::closureBytes).sum();
        Walked expected = new Walked(batch.size(), (long) batch.size() * Workload.BLOBS_PER_ACTION, bytes, batch.size());
        if (!walked.equals(expected)) {
            throw new IllegalStateException("walk of a batch gave " + walked + ", expected " + expected);
        }
    }

    /** Every action of {@code batch} has the verdict the workload made it for, and a PARTIAL names its one missing blob. */
    static void check(List<Workload.Action> batch, List<ActionVerdict> verdicts) {
        Map<Digest, ActionVerdict> byAction = new HashMap<>();
        verdicts.forEach(v -> byAction.put(v.action(), v));
        if (verdicts.size() != batch.size() || byAction.size() != batch.size()) {
            throw new IllegalStateException(verdicts.size() + " verdicts for " + batch.size() + " actions");
        }
        for (Workload.Action action : batch) {
            ActionVerdict verdict = byAction.get(action.digest());
            Verdict expected = !action.inActionCache() ? Verdict.MISS
                    : action.absent() != null ? Verdict.PARTIAL : Verdict.HIT;
            boolean right = verdict != null && verdict.verdict() == expected && verdict.corrupt().isEmpty()
                    && switch (expected) {
                        case MISS -> verdict.missing().isEmpty();
                        case PARTIAL -> verdict.missing().size() == 1
                                && verdict.missing().get(0).digest().equals(action.absent())
                                && verdict.blobsReferenced() == Workload.BLOBS_PER_ACTION
                                && verdict.bytesReferenced() == action.closureBytes();
                        default -> verdict.missing().isEmpty()
                                && verdict.blobsReferenced() == Workload.BLOBS_PER_ACTION
                                && verdict.bytesReferenced() == action.closureBytes();
                    };
            if (!right) {
                throw new IllegalStateException("action " + action.digest() + ": expected " + expected + ", got "
                        + verdict);
            }
        }
    }
}
