package dev.vouch.backend.embedded;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static org.awaitility.Awaitility.await;

import build.bazel.remote.execution.v2.ActionResult;
import dev.vouch.backend.StoreFullException;
import dev.vouch.backend.UploadStalledException;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestMismatchException;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Sinks;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;
import reactor.test.StepVerifier;

class DiskBlobStoreTest extends BlobStoreContractTest {
    @TempDir
    Path data;

    private Scheduler io;
    private DiskBlobStore store;

    @BeforeEach
    void open() {
        io = Schedulers.newBoundedElastic(4, 1000, "test-io");
        store = new DiskBlobStore(data, 1L << 30, io);
    }

    @AfterEach
    void close() {
        io.dispose();
    }

    @Override
    BlobStore store() {
        return store;
    }

    private static List<Path> filesUnder(Path dir) throws IOException {
        try (Stream<Path> files = Files.walk(dir)) {
            return files.filter(Files::isRegularFile).toList();
        }
    }

    @Test
    void normativePaths() throws IOException {
        byte[] blob = "hello, cache".getBytes(StandardCharsets.UTF_8);
        Digest digest = digestOf(blob);
        Digest action = digestOf("an action".getBytes(StandardCharsets.UTF_8));
        byte[] result = ActionResult.newBuilder().setExitCode(1).build().toByteArray();

        store.write(digest, blob).block(TIMEOUT);
        store.putActionResult(action, result).block(TIMEOUT);

        Path casFile = data.resolve("cas").resolve(digest.hash().substring(0, 2)).resolve(digest.hash());
        Path acFile = data.resolve("ac").resolve(action.hash().substring(0, 2)).resolve(action.hash());
        assertThat(casFile).exists().hasBinaryContent(blob);
        assertThat(acFile).exists().hasBinaryContent(result);
        assertThat(filesUnder(data)).containsExactlyInAnyOrder(casFile.toAbsolutePath(), acFile.toAbsolutePath());
    }

    @Test
    void digestMismatchLeavesNoFileAnywhere() throws IOException {
        byte[] blob = randomBytes(100_000, 7);
        Digest claimed = new Digest(digestOf(randomBytes(100_000, 8)).hash(), blob.length);

        StepVerifier.create(store.write(claimed, blob)).expectError(DigestMismatchException.class).verify(TIMEOUT);

        assertThat(filesUnder(data)).isEmpty();
        assertThat(store.totalBytes()).isZero();
    }

    @Test
    void failedUploadLeavesNoFinalFile() throws IOException {
        byte[] blob = randomBytes(50_000, 9);
        Digest digest = digestOf(blob);
        Flux<ByteBuffer> brokenUpload = Flux.just(ByteBuffer.wrap(blob, 0, 20_000))
                .concatWith(Flux.error(new IOException("client went away")));

        StepVerifier.create(store.write(digest, brokenUpload)).expectError(IOException.class).verify(TIMEOUT);

        assertThat(store.casPath(digest.hash())).doesNotExist();
        assertThat(filesUnder(data)).isEmpty();
    }

    @Test
    void cancelledUploadCleansItsTemporaryFile() throws IOException {
        byte[] blob = randomBytes(50_000, 10);
        Digest digest = digestOf(blob);
        Sinks.Many<ByteBuffer> upload = Sinks.many().unicast().onBackpressureBuffer();
        Disposable writing = store.write(digest, upload.asFlux()).subscribe();
        upload.tryEmitNext(ByteBuffer.wrap(blob, 0, 20_000));
        await().atMost(TIMEOUT).until(() -> filesUnder(store.tmpDir()).size() == 1);

        writing.dispose();

        await().atMost(TIMEOUT).until(() -> filesUnder(data).isEmpty());
        assertThat(store.casPath(digest.hash())).doesNotExist();
    }

    @Test
    void fileDeletedByHandIsMissingOnNextCheck() throws IOException {
        byte[] blob = "soon gone".getBytes(StandardCharsets.UTF_8);
        Digest digest = digestOf(blob);
        store.write(digest, blob).block(TIMEOUT);
        StepVerifier.create(store.contains(digest)).expectNext(true).verifyComplete();

        Files.delete(store.casPath(digest.hash()));

        StepVerifier.create(store.contains(digest)).expectNext(false).verifyComplete();
        StepVerifier.create(store.read(digest)).expectError(dev.vouch.backend.BlobNotFoundException.class).verify(TIMEOUT);
        assertThat(store.totalBytes()).isZero();
    }

    @Test
    void leastRecentlyReadEntryIsEvictedFirst() {
        DiskBlobStore small = new DiskBlobStore(data.resolve("small"), 3_000, io);
        byte[] a = randomBytes(1_000, 1);
        byte[] b = randomBytes(1_000, 2);
        byte[] c = randomBytes(1_000, 3);
        byte[] d = randomBytes(1_000, 4);
        small.write(digestOf(a), a).block(TIMEOUT);
        small.write(digestOf(b), b).block(TIMEOUT);
        small.write(digestOf(c), c).block(TIMEOUT);
        // reading A makes B the least recently used
        assertThat(readAll(small, digestOf(a), 0, 0)).isEqualTo(a);

        small.write(digestOf(d), d).block(TIMEOUT);

        assertThat(small.casPath(digestOf(b).hash())).doesNotExist();
        assertThat(small.casPath(digestOf(a).hash())).exists();
        assertThat(small.casPath(digestOf(c).hash())).exists();
        assertThat(small.casPath(digestOf(d).hash())).exists();
        assertThat(small.totalBytes()).isEqualTo(3_000);
    }

    @Test
    void blobLargerThanTheBoundIsRefusedAtOnce() throws IOException {
        DiskBlobStore small = new DiskBlobStore(data.resolve("small"), 1_500, io);
        byte[] a = randomBytes(1_000, 1);
        byte[] huge = randomBytes(2_000, 2);
        small.write(digestOf(a), a).block(TIMEOUT);

        StepVerifier.create(small.write(digestOf(huge), huge))
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(StoreFullException.class)
                        .hasMessageContaining(digestOf(huge).toString())
                        .hasMessageContaining("vouch.embedded.max-size-bytes (1500 bytes)"))
                .verify(TIMEOUT);

        assertThat(small.casPath(digestOf(huge).hash())).doesNotExist();
        // refusing it evicted nothing
        assertThat(small.casPath(digestOf(a).hash())).exists();
        assertThat(filesUnder(small.tmpDir())).isEmpty();
        assertThat(small.totalBytes()).isEqualTo(1_000);
    }

    /** Bytes on their way to disk take room in the bound: eviction makes it before they are written. */
    @Test
    void uploadInProgressCountsTowardTheBound() throws Exception {
        DiskBlobStore small = new DiskBlobStore(data.resolve("small"), 3_000, io);
        byte[] a = randomBytes(1_000, 1);
        byte[] b = randomBytes(1_000, 2);
        byte[] c = randomBytes(2_000, 3);
        small.write(digestOf(a), a).block(TIMEOUT);
        small.write(digestOf(b), b).block(TIMEOUT);
        Sinks.Many<ByteBuffer> upload = Sinks.many().unicast().onBackpressureBuffer();
        CompletableFuture<Void> writing = small.write(digestOf(c), upload.asFlux()).toFuture();

        upload.tryEmitNext(ByteBuffer.wrap(c, 0, 1_500));

        // 2,000 stored + 1,500 arriving is over 3,000: A, the least recently used, makes room
        await().atMost(TIMEOUT).untilAsserted(() -> assertThat(small.totalBytes()).isEqualTo(1_000 + 1_500));
        assertThat(small.casPath(digestOf(a).hash())).doesNotExist();
        assertThat(small.casPath(digestOf(b).hash())).exists();
        upload.tryEmitNext(ByteBuffer.wrap(c, 1_500, 500));
        upload.tryEmitComplete();
        writing.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
        assertThat(small.totalBytes()).isEqualTo(3_000);
        assertThat(small.casPath(digestOf(b).hash())).exists();
        assertThat(small.casPath(digestOf(c).hash())).hasBinaryContent(c);
        assertThat(small.indexedSizes()).containsOnlyKeys(small.casPath(digestOf(b).hash()), small.casPath(digestOf(c).hash()));
    }

    @Test
    void uploadThatCannotFitFailsAndFreesWhatItHeld() throws Exception {
        DiskBlobStore small = new DiskBlobStore(data.resolve("small"), 3_000, io);
        byte[] x = randomBytes(2_000, 4);
        byte[] y = randomBytes(2_000, 5);
        Sinks.Many<ByteBuffer> slow = Sinks.many().unicast().onBackpressureBuffer();
        CompletableFuture<Void> writingX = small.write(digestOf(x), slow.asFlux()).toFuture();
        slow.tryEmitNext(ByteBuffer.wrap(x, 0, 1_600));
        await().atMost(TIMEOUT).untilAsserted(() -> assertThat(small.totalBytes()).isEqualTo(1_600));

        // 1,600 held by X's upload + 2,000 for Y is over 3,000, and there is nothing to evict
        StepVerifier.create(small.write(digestOf(y), Flux.just(ByteBuffer.wrap(y, 0, 1_000), ByteBuffer.wrap(y, 1_000, 1_000))))
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(StoreFullException.class)
                        .hasMessageContaining(digestOf(y).toString())
                        .hasMessageContaining("vouch.embedded.max-size-bytes"))
                .verify(TIMEOUT);

        assertThat(small.casPath(digestOf(y).hash())).doesNotExist();
        assertThat(filesUnder(small.tmpDir())).hasSize(1);
        assertThat(small.totalBytes()).isEqualTo(1_600);
        slow.tryEmitNext(ByteBuffer.wrap(x, 1_600, 400));
        slow.tryEmitComplete();
        writingX.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
        assertThat(small.casPath(digestOf(x).hash())).hasBinaryContent(x);
        assertThat(small.totalBytes()).isEqualTo(2_000);
    }

    @Test
    void stalledUploadIsAbortedAfterTheIdleTimeout() throws Exception {
        assumeTrue(OpenFiles.visible(), "needs /proc/self/fd");
        DiskBlobStore quick = new DiskBlobStore(data.resolve("quick"), 1 << 20, Duration.ofMillis(300), io);
        byte[] blob = randomBytes(50_000, 12);
        Sinks.Many<ByteBuffer> upload = Sinks.many().unicast().onBackpressureBuffer();
        CompletableFuture<Void> writing = quick.write(digestOf(blob), upload.asFlux()).toFuture();
        upload.tryEmitNext(ByteBuffer.wrap(blob, 0, 20_000));
        await().atMost(TIMEOUT).until(() -> filesUnder(quick.tmpDir()).size() == 1 && OpenFiles.under(quick.tmpDir()).size() == 1);
        assertThat(quick.totalBytes()).isEqualTo(20_000);

        // the client sends nothing more: the store gives up by itself
        assertThatThrownBy(() -> writing.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS))
                .isInstanceOf(ExecutionException.class)
                .cause().isInstanceOf(UploadStalledException.class)
                .hasMessageContaining(digestOf(blob).toString())
                .hasMessageContaining("vouch.embedded.upload-idle-timeout");

        await().atMost(TIMEOUT).until(() -> filesUnder(quick.tmpDir()).isEmpty() && OpenFiles.under(quick.tmpDir()).isEmpty());
        assertThat(quick.totalBytes()).isZero();
        assertThat(quick.casPath(digestOf(blob).hash())).doesNotExist();
    }

    /** A 1 GiB file asked for as (hash, 1) or (hash, 1 GiB + 1): absent, and not one byte of it read. */
    @Test
    void understatedSizeOfAHugeFileIsNotFoundWithoutReadingIt() throws IOException {
        String hash = digestOf("stands in for a 1 GiB blob".getBytes(StandardCharsets.UTF_8)).hash();
        long size = 1L << 30;
        sparseFile(store.casPath(hash), size);
        long before = store.bytesRead();

        for (long claimed : new long[] {1, size - 1, size + 1}) {
            StepVerifier.create(store.read(new Digest(hash, claimed)))
                    .expectError(dev.vouch.backend.BlobNotFoundException.class)
                    .verify(TIMEOUT);
            StepVerifier.create(store.contains(new Digest(hash, claimed))).expectNext(false).verifyComplete();
        }

        assertThat(store.bytesRead() - before).isZero();
    }

    /** No ActionResult is that large; reading it whole would take the heap, so the store refuses before reading. */
    @Test
    void hugeActionCacheEntryIsRefusedWithoutReadingIt() throws IOException {
        Digest action = digestOf("an action whose entry was blown up by hand".getBytes(StandardCharsets.UTF_8));
        sparseFile(store.acPath(action.hash()), 1L << 30);
        long before = store.bytesRead();

        StepVerifier.create(store.getActionResult(action))
                .expectErrorSatisfies(e -> assertThat(e).hasMessageContaining(action.hash())
                        .hasMessageContaining("1073741824 bytes"))
                .verify(TIMEOUT);

        assertThat(store.bytesRead() - before).isZero();
    }

    @Test
    void evictionToleratesFilesDeletedByHand() throws IOException {
        DiskBlobStore small = new DiskBlobStore(data.resolve("small"), 2_000, io);
        byte[] a = randomBytes(1_000, 1);
        byte[] b = randomBytes(1_000, 2);
        byte[] c = randomBytes(1_000, 3);
        small.write(digestOf(a), a).block(TIMEOUT);
        small.write(digestOf(b), b).block(TIMEOUT);
        Files.delete(small.casPath(digestOf(a).hash()));

        StepVerifier.create(small.write(digestOf(c), c)).verifyComplete();

        assertThat(small.casPath(digestOf(b).hash())).exists();
        assertThat(small.casPath(digestOf(c).hash())).exists();
    }

    @Test
    void startupScanFindsExistingFilesAndEvictsOldestOverBound() throws IOException {
        Path dir = data.resolve("existing");
        byte[] old = randomBytes(1_000, 1);
        byte[] middle = randomBytes(1_000, 2);
        byte[] recent = randomBytes(1_000, 3);
        long now = System.currentTimeMillis();
        Path oldFile = placeByHand(dir, old, now - 30_000);
        placeByHand(dir, middle, now - 20_000);
        placeByHand(dir, recent, now - 10_000);
        Path leftover = dir.resolve("tmp").resolve("cas-123.tmp");
        Files.createDirectories(leftover.getParent());
        Files.write(leftover, new byte[10]);

        DiskBlobStore reopened = new DiskBlobStore(dir, 2_000, io);

        assertThat(oldFile).doesNotExist();
        assertThat(leftover).doesNotExist();
        assertThat(reopened.totalBytes()).isEqualTo(2_000);
        StepVerifier.create(reopened.contains(digestOf(middle))).expectNext(true).verifyComplete();
        assertThat(readAll(reopened, digestOf(recent), 0, 0)).isEqualTo(recent);
    }

    /** LRU order survives a restart through mtimes: a blob read after the restart becomes the newest on disk. */
    @Test
    void aReadAfterARestartMakesTheBlobTheNewestOnDisk() throws IOException {
        Path dir = data.resolve("reread");
        byte[] old = randomBytes(1_000, 4);
        byte[] newer = randomBytes(1_000, 5);
        long now = System.currentTimeMillis();
        Path oldFile = placeByHand(dir, old, now - 3_600_000);
        Path newerFile = placeByHand(dir, newer, now - 60_000);
        DiskBlobStore reopened = new DiskBlobStore(dir, 10_000, io);

        assertThat(readAll(reopened, digestOf(old), 0, 0)).isEqualTo(old);

        assertThat(Files.getLastModifiedTime(oldFile).toMillis())
                .as("mtime of the blob read after the restart")
                .isGreaterThan(Files.getLastModifiedTime(newerFile).toMillis());
    }

    @Test
    void callsFromNonBlockingThreadNeverBlockIt() {
        byte[] blob = randomBytes(150_000, 11);
        Digest digest = digestOf(blob);
        Digest action = digestOf("action".getBytes(StandardCharsets.UTF_8));
        Scheduler parallel = Schedulers.parallel();

        // BlockHound fails any of these if file I/O leaks onto the calling (parallel) thread
        StepVerifier.create(store.write(digest, Flux.just(ByteBuffer.wrap(blob)).publishOn(parallel)).subscribeOn(parallel))
                .verifyComplete();
        StepVerifier.create(store.read(digest).publishOn(parallel).map(ByteBuffer::remaining).reduce(0, Integer::sum)
                        .subscribeOn(parallel))
                .expectNext(blob.length)
                .verifyComplete();
        StepVerifier.create(store.contains(digest).subscribeOn(parallel)).expectNext(true).verifyComplete();
        StepVerifier.create(store.findMissing(dev.vouch.digest.DigestSet.of(digest)).subscribeOn(parallel))
                .expectNext(dev.vouch.digest.DigestSet.empty())
                .verifyComplete();
        StepVerifier.create(store.putActionResult(action, new byte[] {8, 1}).then(store.getActionResult(action))
                        .subscribeOn(parallel))
                .expectNextCount(1)
                .verifyComplete();
    }

    static void sparseFile(Path file, long size) throws IOException {
        Files.createDirectories(file.getParent());
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(size);
        }
    }

    private static Path placeByHand(Path dataDir, byte[] blob, long modifiedMillis) throws IOException {
        String hash = digestOf(blob).hash();
        Path file = dataDir.resolve("cas").resolve(hash.substring(0, 2)).resolve(hash);
        Files.createDirectories(file.getParent());
        Files.write(file, blob);
        Files.setLastModifiedTime(file, FileTime.fromMillis(modifiedMillis));
        return file;
    }
}
