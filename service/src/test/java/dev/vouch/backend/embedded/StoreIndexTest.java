package dev.vouch.backend.embedded;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Interleavings of the index that the stress test ({@link DiskBlobStoreConcurrencyTest}) only
 * meets by chance, forced here one step at a time.
 */
class StoreIndexTest {
    private static final Duration DEADLINE = Duration.ofSeconds(20);

    @TempDir
    Path data;

    /**
     * A commit of a new key is paused inside the map's {@code compute}, after its rename and before
     * its entry is recorded (it waits for its reservation's monitor, which this test holds). The
     * file is deleted by hand in that window and the deletion noticed. The index must end without
     * the entry: an entry for no file counts phantom bytes against the bound until that key is
     * checked again. The stress test met this once in CI while the notice skipped the map's lock
     * after a plain {@code get} found nothing; this test fails every time against that code.
     */
    @Test
    void aFileDeletedWhileItsCommitIsBeingRecordedLeavesNoEntryBehind() throws Exception {
        StoreIndex index = new StoreIndex(1_000_000, key -> data.resolve(key.area().name()).resolve(key.hash()));
        byte[] bytes = "an action result".getBytes(StandardCharsets.UTF_8);
        Digest action = DigestFunction.SHA256.digestOf(bytes);
        StoreIndex.Key key = StoreIndex.Key.ac(action.hash());
        Path target = data.resolve("AC").resolve(action.hash());
        Path temp = Files.write(data.resolve("upload.tmp"), bytes);
        StoreIndex.Reservation reservation = index.reservation(action, "Action Cache entry " + action);
        reservation.add(bytes.length);
        // the code both threads will run, loaded before the race so that only the map's lock can block them
        index.absent(StoreIndex.Key.ac("0".repeat(64)));

        CountDownLatch holding = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        Thread holder = start("holder", () -> {
            synchronized (reservation) {
                holding.countDown();
                await(release);
            }
        });
        await(holding);
        Thread committer = start("committer", () -> index.commit(temp, key, bytes.length, reservation));
        long deadline = System.nanoTime() + DEADLINE.toNanos();
        while (!Files.exists(target)) {
            assertThat(System.nanoTime()).as("the commit renamed its file into place").isLessThan(deadline);
            Thread.onSpinWait();
        }
        // the operator's deletion, then the next check noticing it
        Files.delete(target);
        Thread notice = start("notice", () -> index.absent(key));
        while (notice.getState() != Thread.State.BLOCKED && notice.getState() != Thread.State.TERMINATED) {
            assertThat(System.nanoTime()).as("the notice either waits for the commit or returns").isLessThan(deadline);
            Thread.onSpinWait();
        }
        release.countDown();
        for (Thread thread : new Thread[] {holder, committer, notice}) {
            thread.join(DEADLINE.toMillis());
            assertThat(thread.isAlive()).as(thread.getName() + " finished").isFalse();
        }

        assertThat(Files.exists(target)).isFalse();
        assertThat(index.sizes()).as("entries for files that are not on disk").isEmpty();
        assertThat(index.totalBytes()).as("bytes counted against the bound").isZero();
        assertThat(index.reservedBytes()).as("bytes of uploads in progress").isZero();
    }

    private static Thread start(String name, ThrowingRunnable body) {
        Thread thread = new Thread(() -> {
            try {
                body.run();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }, name);
        thread.setDaemon(true);
        thread.start();
        return thread;
    }

    private static void await(CountDownLatch latch) {
        try {
            assertThat(latch.await(DEADLINE.toMillis(), TimeUnit.MILLISECONDS)).as("latch opened").isTrue();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    @FunctionalInterface
    private interface ThrowingRunnable {
        void run() throws Exception;
    }
}
