package dev.vouch.backend.embedded;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vouch.backend.BlobNotFoundException;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.digest.DigestSet;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

/**
 * Eight threads hammer a small store with a small key space, well over the bound: writes,
 * reads, existence checks, FindMissing, Action Cache reads and writes, and an operator deleting
 * files by hand (each deletion followed by a check, as SPEC says Vouch notices it on the next
 * one). Afterwards the index must be exactly the files on disk and the total within the bound:
 * every interleaving of check, commit and eviction has to leave index and disk agreeing.
 */
class DiskBlobStoreConcurrencyTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    private static final int THREADS = 8;
    private static final int ROUNDS = 60;
    private static final int OPERATIONS_PER_ROUND = 50;
    private static final long BOUND = 10_000;

    @TempDir
    Path data;

    private Scheduler io;

    @BeforeEach
    void open() {
        io = Schedulers.newBoundedElastic(THREADS, 100_000, "stress-io");
    }

    @AfterEach
    void close() {
        io.dispose();
    }

    @Test
    void indexEqualsDiskAfterConcurrentWritesReadsChecksAndDeletes() throws Exception {
        DiskBlobStore store = new DiskBlobStore(data, BOUND, io);
        Random sizes = new Random(42);
        List<byte[]> blobs = new ArrayList<>();
        List<Digest> digests = new ArrayList<>();
        // 24 blobs of 200 to 1,199 bytes, about 17 KB against a 10,000-byte bound, so eviction never
        // rests; 8 uploads at once hold at most 9,592 bytes, so a write never legitimately fails to fit
        for (int i = 0; i < 24; i++) {
            byte[] blob = new byte[200 + sizes.nextInt(1_000)];
            sizes.nextBytes(blob);
            blobs.add(blob);
            digests.add(DigestFunction.SHA256.digestOf(blob));
        }
        List<Digest> actions = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            actions.add(DigestFunction.SHA256.digestOf(("action " + i).getBytes(StandardCharsets.UTF_8)));
        }
        AtomicLong readsServed = new AtomicLong();
        AtomicLong readsAbsent = new AtomicLong();

        ExecutorService pool = Executors.newFixedThreadPool(THREADS);
        try {
            for (int round = 0; round < ROUNDS; round++) {
                CountDownLatch start = new CountDownLatch(1);
                List<Future<?>> workers = new ArrayList<>();
                for (int t = 0; t < THREADS; t++) {
                    long seed = 1_000L * round + t;
                    workers.add(pool.submit(() -> {
                        start.await();
                        work(store, new Random(seed), blobs, digests, actions, readsServed, readsAbsent);
                        return null;
                    }));
                }
                start.countDown();
                for (Future<?> worker : workers) {
                    worker.get(60, TimeUnit.SECONDS);
                }
                // between rounds nothing runs: index and disk must agree exactly
                assertConsistent(store, "after round " + round);
            }
        } finally {
            pool.shutdownNow();
        }
        // both outcomes happened, or the run did not exercise what it claims
        assertThat(readsServed.get()).isPositive();
        assertThat(readsAbsent.get()).isPositive();
    }

    private static void work(DiskBlobStore store, Random random, List<byte[]> blobs, List<Digest> digests,
            List<Digest> actions, AtomicLong readsServed, AtomicLong readsAbsent) throws Exception {
        for (int op = 0; op < OPERATIONS_PER_ROUND; op++) {
            int k = random.nextInt(blobs.size());
            Digest digest = digests.get(k);
            int dice = random.nextInt(100);
            if (dice < 35) {
                store.write(digest, blobs.get(k)).block(TIMEOUT);
            } else if (dice < 55) {
                byte[] read = readOrNull(store, digest);
                if (read == null) {
                    readsAbsent.incrementAndGet();
                } else {
                    assertThat(read).as("bytes read for " + digest).isEqualTo(blobs.get(k));
                    readsServed.incrementAndGet();
                }
            } else if (dice < 78) {
                store.contains(digest).block(TIMEOUT);
            } else if (dice < 83) {
                store.findMissing(DigestSet.of(digest, digests.get(random.nextInt(blobs.size())),
                        digests.get(random.nextInt(blobs.size())))).block(TIMEOUT);
            } else if (dice < 91) {
                // an operator's eviction, noticed on the next check
                Files.deleteIfExists(store.casPath(digest.hash()));
                store.contains(digest).block(TIMEOUT);
            } else {
                Digest action = actions.get(random.nextInt(actions.size()));
                switch (random.nextInt(3)) {
                    case 0 -> store.putActionResult(action, new byte[] {8, (byte) (1 + random.nextInt(100))}).block(TIMEOUT);
                    case 1 -> store.getActionResult(action).block(TIMEOUT);
                    default -> {
                        Files.deleteIfExists(store.acPath(action.hash()));
                        store.getActionResult(action).block(TIMEOUT);
                    }
                }
            }
        }
    }

    private void assertConsistent(DiskBlobStore store, String when) throws Exception {
        Map<Path, Long> onDisk = new HashMap<>();
        for (Path area : List.of(data.resolve("cas"), data.resolve("ac"))) {
            for (Path file : OpenFiles.filesUnder(area)) {
                onDisk.put(file.toAbsolutePath().normalize(), Files.size(file));
            }
        }
        Map<Path, Long> indexed = store.indexedSizes();
        assertThat(indexed.keySet()).as(when + ": files on disk the index does not know (never evicted until restart)")
                .containsAll(onDisk.keySet());
        assertThat(onDisk.keySet()).as(when + ": index entries without a file (phantom bytes)").containsAll(indexed.keySet());
        assertThat(indexed).as(when + ": sizes in the index").isEqualTo(onDisk);
        long sum = onDisk.values().stream().mapToLong(Long::longValue).sum();
        assertThat(store.totalBytes()).as(when + ": total bytes against the files' sum").isEqualTo(sum);
        assertThat(store.totalBytes()).as(when + ": total bytes against the bound").isLessThanOrEqualTo(BOUND);
        assertThat(OpenFiles.filesUnder(data.resolve("tmp"))).as(when + ": temporary files left").isEmpty();
    }

    private static byte[] readOrNull(DiskBlobStore store, Digest digest) {
        try {
            List<ByteBuffer> chunks = store.read(digest).collectList().block(TIMEOUT);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            for (ByteBuffer chunk : chunks) {
                byte[] bytes = new byte[chunk.remaining()];
                chunk.get(bytes);
                out.writeBytes(bytes);
            }
            return out.toByteArray();
        } catch (BlobNotFoundException e) {
            return null;
        }
    }
}
