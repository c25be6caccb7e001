package dev.vouch.jmh;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestSet;
import dev.vouch.validation.ActionVerdict;
import dev.vouch.validation.ClosureWalkBenchmark;
import dev.vouch.validation.Verdict;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * The JMH benchmarks kept honest by the normal build: each one's setup (which checks its own
 * work) and one call of each benchmark method (after its per-invocation setup, if it has one), as
 * plain Java, with the answers checked. Times
 * nothing; {@code bench/jmh} does that.
 */
class JmhBenchmarkSetupTest {

    @Test
    void closureWalk() {
        ClosureWalkBenchmark benchmark = new ClosureWalkBenchmark();
        benchmark.setUp();
        List<Workload.Action> firstBatch = benchmark.workload().batches().get(0);

        benchmark.nextBatch();
        ClosureWalkBenchmark.Walked walked = benchmark.walk();

        assertThat(walked.closures()).isEqualTo(Workload.BATCH);
        assertThat(walked.blobs()).isEqualTo(Workload.BATCH * Workload.BLOBS_PER_ACTION);
        assertThat(walked.bytes()).isEqualTo(firstBatch.stream().mapToLong(Workload.Action::closureBytes).sum());
        assertThat(walked.treesRead()).isEqualTo(Workload.BATCH);

        // the next batch: the benchmark goes round all 20
        List<Workload.Action> secondBatch = benchmark.workload().batches().get(1);
        benchmark.nextBatch();
        List<ActionVerdict> verdicts = benchmark.validate();

        assertThat(verdicts).extracting(ActionVerdict::action)
                .containsExactlyInAnyOrderElementsOf(secondBatch.stream().map(Workload.Action::digest).toList());
        assertThat(verdicts.stream().collect(Collectors.groupingBy(ActionVerdict::verdict, Collectors.counting())))
                .containsExactlyInAnyOrderEntriesOf(Map.of(Verdict.HIT, 90L, Verdict.PARTIAL, 5L, Verdict.MISS, 5L));
        Map<Digest, Workload.Action> byDigest = secondBatch.stream()
                .collect(Collectors.toMap(Workload.Action::digest, Function.identity()));
        for (ActionVerdict verdict : verdicts) {
            Workload.Action action = byDigest.get(verdict.action());
            assertThat(verdict.missing()).extracting(problem -> problem.digest())
                    .as("missing blobs of %s", verdict.action())
                    .containsExactlyElementsOf(action.absent() == null ? List.of() : List.of(action.absent()));
        }
    }

    @Test
    void digestSet() {
        DigestSetBenchmark benchmark = new DigestSetBenchmark();
        benchmark.setUp();
        DigestSet absent = benchmark.absent();
        assertThat(absent.size()).isEqualTo(DigestSetBenchmark.ABSENT);

        assertThat(benchmark.of().size()).isEqualTo(DigestSetBenchmark.DIGESTS);
        assertThat(benchmark.partition()).singleElement().isEqualTo(benchmark.of());
        assertThat(benchmark.filter().size()).isEqualTo(DigestSetBenchmark.DIGESTS - DigestSetBenchmark.ABSENT);
        assertThat(benchmark.filter().toList()).doesNotContainAnyElementsOf(absent);
        assertThat(benchmark.minus()).isEqualTo(benchmark.filter());
        assertThat(benchmark.contains()).isEqualTo(DigestSetBenchmark.DIGESTS);
        assertThat(benchmark.union()).isEqualTo(benchmark.of());
        assertThat(benchmark.union().toList()).isEqualTo(benchmark.of().toList());

        DigestSetBenchmark.Chained chained = benchmark.validatorChain();

        assertThat(chained.missing()).isEqualTo(absent);
        // 5,200 less the 100 Trees the walk read, less the absent
        assertThat(chained.confirmedPresent()).isEqualTo(5_048);
        assertThat(chained.problems()).isEqualTo(DigestSetBenchmark.ABSENT);
    }

    @Test
    void storeExistence() throws IOException {
        StoreExistenceBenchmark benchmark = new StoreExistenceBenchmark();
        // the smallest store one query fits in, so the build stays fast (bench/jmh seeds 50,000)
        benchmark.storedBlobs = StoreExistenceBenchmark.QUERY - StoreExistenceBenchmark.ABSENT;
        benchmark.ioThreads = 4;
        benchmark.setUp();
        try {
            DigestSet expected = benchmark.nextExpected();

            DigestSet missing = benchmark.findMissing();

            assertThat(missing.size()).isEqualTo(StoreExistenceBenchmark.ABSENT);
            assertThat(missing).isEqualTo(expected);
        } finally {
            benchmark.tearDown();
        }
    }
}
