package dev.vouch.jmh;

import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.digest.DigestSet;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * DigestSet on the digests of one batch of 100 actions: 5,200 distinct digests, 1% of them absent
 * from the CAS. Scores are per digest. Each operation alone ({@link #of}, {@link #partition},
 * {@link #filter}, {@link #minus}, {@link #contains}, {@link #union}) and {@link #validatorChain},
 * the set work of one mode EXISTENCE request after its walk, as {@code CompletenessValidator}
 * chains it (checkClosures, findMissing, judge at commit a562150; it must follow the validator).
 *
 * <p>The digests live across operations, so their hashes' String hash codes are cached; in a
 * request they are new, and the first hash of each costs more (ClosureWalkBenchmark has that).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class DigestSetBenchmark {
    public static final int DIGESTS = 5_200;
    public static final int ABSENT = DIGESTS / 100;
    private static final int CLOSURES = 100;
    private static final int FIND_MISSING_BATCH = 10_000;

    /** What the chain found: the missing digests, the digests confirmed present and the problems the verdicts name. */
    public record Chained(DigestSet missing, int confirmedPresent, int problems) {
    }

    private List<Digest> digests;
    private DigestSet all;
    private DigestSet firstHalf;
    private DigestSet secondHalf;
    private Set<Digest> absent;
    private DigestSet absentSet;
    private List<List<Digest>> closures;
    private Set<Digest> trees;

    /** JMH only: logging as in production (JmhBenchmarkSetupTest calls only {@link #setUp}). */
    @Setup(Level.Trial)
    public void productionLogging() {
        ProductionLogging.apply();
    }

    @Setup(Level.Trial)
    public void setUp() {
        digests = Workload.blobDigests("digest", 0, DIGESTS);
        all = DigestSet.of(digests);
        firstHalf = DigestSet.of(digests.subList(0, DIGESTS / 2));
        secondHalf = DigestSet.of(digests.subList(DIGESTS / 2, DIGESTS));
        // every 100th digest, never a closure's first (its Tree, which the walk confirmed)
        List<Digest> gone = new ArrayList<>();
        for (int i = 50; i < DIGESTS; i += 100) {
            gone.add(digests.get(i));
        }
        absent = new HashSet<>(gone);
        absentSet = DigestSet.of(gone);
        int perClosure = DIGESTS / CLOSURES;
        closures = new ArrayList<>();
        trees = ConcurrentHashMap.newKeySet();
        for (int c = 0; c < CLOSURES; c++) {
            closures.add(digests.subList(c * perClosure, (c + 1) * perClosure));
            trees.add(digests.get(c * perClosure));
        }

        expect("of", of().size(), DIGESTS);
        expect("partition", partition().size(), 1);
        expect("partition size", partition().get(0).size(), DIGESTS);
        expect("filter", filter().size(), DIGESTS - ABSENT);
        expect("minus", minus().size(), DIGESTS - ABSENT);
        expect("contains", contains(), DIGESTS);
        expect("union", union().size(), DIGESTS);
        Chained chained = validatorChain();
        if (!chained.missing().equals(absentSet)) {
            throw new IllegalStateException("the chain found " + chained.missing().size() + " missing, not the "
                    + ABSENT + " absent");
        }
        expect("confirmed present", chained.confirmedPresent(), DIGESTS - CLOSURES - ABSENT);
        expect("problems", chained.problems(), ABSENT);
    }

    private static void expect(String what, int actual, int expected) {
        if (actual != expected) {
            throw new IllegalStateException(what + ": " + actual + ", expected " + expected);
        }
    }

    /** The 52 digests absent from the CAS. */
    public DigestSet absent() {
        return absentSet;
    }

    @Benchmark
    @OperationsPerInvocation(DIGESTS)
    public DigestSet of() {
        return DigestSet.of(digests);
    }

    @Benchmark
    @OperationsPerInvocation(DIGESTS)
    public List<DigestSet> partition() {
        return all.partition(FIND_MISSING_BATCH);
    }

    @Benchmark
    @OperationsPerInvocation(DIGESTS)
    public DigestSet filter() {
        return all.filter(d -> !absent.contains(d));
    }

    @Benchmark
    @OperationsPerInvocation(DIGESTS)
    public DigestSet minus() {
        return all.minus(absentSet);
    }

    @Benchmark
    @OperationsPerInvocation(DIGESTS)
    public int contains() {
        int found = 0;
        for (Digest digest : digests) {
            if (all.contains(digest)) {
                found++;
            }
        }
        return found;
    }

    @Benchmark
    @OperationsPerInvocation(DIGESTS)
    public DigestSet union() {
        return firstHalf.union(secondHalf);
    }

    /**
     * The union of 100 closures of 52, less the Trees the walk read; one existence check (the
     * embedded backend filters the set it is given); the answer kept to what was asked, the rest
     * confirmed present; then each verdict's lookups of its closure's digests.
     */
    @Benchmark
    @OperationsPerInvocation(DIGESTS)
    public Chained validatorChain() {
        Set<Digest> known = new LinkedHashSet<>();
        for (List<Digest> closure : closures) {
            known.addAll(closure);
        }
        Set<Digest> walkAbsent = ConcurrentHashMap.newKeySet();
        Set<Digest> walkCorrupt = ConcurrentHashMap.newKeySet();
        known.removeIf(d -> d.isEmptyBlob(DigestFunction.SHA256) || trees.contains(d) || walkAbsent.contains(d)
                || walkCorrupt.contains(d));
        List<DigestSet> parts = known.isEmpty() ? List.of() : DigestSet.of(known).partition(FIND_MISSING_BATCH);
        Set<Digest> missing = new LinkedHashSet<>(walkAbsent);
        int confirmed = 0;
        for (DigestSet part : parts) {
            DigestSet answer = part.filter(absent::contains);
            DigestSet named = answer.filter(part::contains);
            named.forEach(missing::add);
            // the validator computes this for its presence window whether or not the request uses it
            confirmed += part.minus(named).size();
        }
        Map<Digest, String> undecided = new HashMap<>();
        int problems = 0;
        for (List<Digest> closure : closures) {
            for (Digest digest : closure) {
                if (undecided.get(digest) != null) {
                    throw new IllegalStateException("undecided " + digest);
                }
            }
            for (Digest digest : closure) {
                if (missing.contains(digest)) {
                    problems++;
                }
            }
            for (Digest digest : closure) {
                if (walkCorrupt.contains(digest)) {
                    problems++;
                }
            }
        }
        return new Chained(DigestSet.of(missing), confirmed, problems);
    }
}
