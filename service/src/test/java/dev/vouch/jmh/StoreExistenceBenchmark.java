package dev.vouch.jmh;

import dev.vouch.backend.embedded.DiskBlobStore;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestSet;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import reactor.core.publisher.Flux;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

/**
 * The embedded store's existence check, {@link DiskBlobStore#findMissing}, as one batch of 100
 * actions asks it: 5,200 digests, 1% of them absent, against a store on disk (a temporary
 * directory) holding {@link #storedBlobs} blobs of 64 bytes. The score is per digest. The store
 * runs its I/O on a bounded elastic scheduler as Vouch's {@code vouch-io} (16 threads by default);
 * the benchmark thread waits with {@code block()}, which it may, being no event loop.
 *
 * <p>Successive operations ask about different blobs, 5,148 stored ones at a time round the whole
 * store, so the store's index is not asked about the same few entries over and over.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class StoreExistenceBenchmark {
    public static final int QUERY = 5_200;
    public static final int ABSENT = QUERY / 100;
    private static final Duration TIMEOUT = Duration.ofMinutes(2);
    private static final String STORED = "stored";
    private static final int SEED_CONCURRENCY = 16;

    /** Blobs the store holds; at least {@code QUERY - ABSENT}. */
    @Param("50000")
    public int storedBlobs;

    /** Threads of the store's I/O scheduler ({@code vouch.io.threads}). */
    @Param("16")
    public int ioThreads;

    private Path data;
    private Scheduler io;
    private DiskBlobStore store;
    private List<DigestSet> queries;
    private List<DigestSet> expected;
    private int next;

    /** JMH only: logging as in production (JmhBenchmarkSetupTest calls only {@link #setUp}). */
    @Setup(Level.Trial)
    public void productionLogging() {
        ProductionLogging.apply();
    }

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        if (storedBlobs < QUERY - ABSENT) {
            throw new IllegalStateException("storedBlobs must be at least " + (QUERY - ABSENT));
        }
        data = Files.createTempDirectory("vouch-jmh-store-");
        io = Schedulers.newBoundedElastic(ioThreads, 100_000, "jmh-io");
        store = new DiskBlobStore(data, 1L << 30, io);
        Flux.range(0, storedBlobs)
                .flatMap(i -> store.write(Workload.blobDigest(STORED, i), Workload.blobBytes(STORED, i)),
                        SEED_CONCURRENCY)
                .then()
                .block(TIMEOUT);
        long files;
        try (Stream<Path> stored = Files.walk(data.resolve("cas"))) {
            files = stored.filter(Files::isRegularFile).count();
        }
        if (files != storedBlobs) {
            throw new IllegalStateException("seeded " + files + " blob files, expected " + storedBlobs);
        }

        int presentPerQuery = QUERY - ABSENT;
        Random random = new Random(11);
        queries = new ArrayList<>();
        expected = new ArrayList<>();
        for (int q = 0; q < storedBlobs / presentPerQuery; q++) {
            List<Digest> absent = Workload.blobDigests("absent " + q, 0, ABSENT);
            List<Digest> query = new ArrayList<>(Workload.blobDigests(STORED, q * presentPerQuery, presentPerQuery));
            query.addAll(absent);
            // the absent ones spread through the set, as a batch's missing blobs are
            Collections.shuffle(query, random);
            queries.add(DigestSet.of(query));
            expected.add(DigestSet.of(absent));
        }
        for (int q = 0; q < queries.size(); q++) {
            DigestSet missing = findMissing();
            if (!missing.equals(expected.get(q))) {
                throw new IllegalStateException("findMissing of query " + q + " gave " + missing.size()
                        + " digests, not its " + ABSENT + " absent ones");
            }
        }
    }

    /** The absent digests of the query the next {@link #findMissing} sends. */
    public DigestSet nextExpected() {
        return expected.get(next);
    }

    @Benchmark
    @OperationsPerInvocation(QUERY)
    public DigestSet findMissing() {
        DigestSet query = queries.get(next);
        next = (next + 1) % queries.size();
        return store.findMissing(query).block(TIMEOUT);
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        io.dispose();
        try (Stream<Path> all = Files.walk(data)) {
            all.sorted(Comparator.reverseOrder()).forEach(path -> {
                try {
                    Files.delete(path);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        }
    }
}
