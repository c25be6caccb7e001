package dev.vouch.backend.embedded;

import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.ActionResult;
import dev.vouch.backend.BlobNotFoundException;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.digest.DigestMismatchException;
import dev.vouch.digest.DigestSet;
import dev.vouch.digest.InvalidDigestException;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Flux;
import reactor.test.StepVerifier;

/** The {@link BlobStore} contract, run against every implementation. */
abstract class BlobStoreContractTest {
    static final Duration TIMEOUT = Duration.ofSeconds(10);

    abstract BlobStore store();

    static byte[] randomBytes(int size, long seed) {
        byte[] bytes = new byte[size];
        new Random(seed).nextBytes(bytes);
        return bytes;
    }

    static Digest digestOf(byte[] bytes) {
        return DigestFunction.SHA256.digestOf(bytes);
    }

    static byte[] readAll(BlobStore store, Digest digest, long offset, long limit) {
        List<ByteBuffer> chunks = store.read(digest, offset, limit).collectList().block(TIMEOUT);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (ByteBuffer chunk : chunks) {
            assertThat(chunk.remaining()).isLessThanOrEqualTo(64 * 1024);
            byte[] bytes = new byte[chunk.remaining()];
            chunk.get(bytes);
            out.writeBytes(bytes);
        }
        return out.toByteArray();
    }

    @Test
    void largeBlobStreamedInChunksReadsBackEqual() {
        byte[] blob = randomBytes(200_000, 1);
        Digest digest = digestOf(blob);
        // upload in Bazel-sized 16 KiB pieces
        Flux<ByteBuffer> pieces = Flux.range(0, (blob.length + 16383) / 16384)
                .map(i -> ByteBuffer.wrap(blob, i * 16384, Math.min(16384, blob.length - i * 16384)));

        StepVerifier.create(store().write(digest, pieces)).verifyComplete();

        assertThat(readAll(store(), digest, 0, 0)).isEqualTo(blob);
        StepVerifier.create(store().contains(digest)).expectNext(true).verifyComplete();
    }

    @Test
    void readOffsetAndLimit() {
        byte[] blob = randomBytes(150_000, 2);
        Digest digest = digestOf(blob);
        store().write(digest, blob).block(TIMEOUT);

        assertThat(readAll(store(), digest, 70_000, 0)).isEqualTo(java.util.Arrays.copyOfRange(blob, 70_000, 150_000));
        assertThat(readAll(store(), digest, 1_000, 100_000)).isEqualTo(java.util.Arrays.copyOfRange(blob, 1_000, 101_000));
        assertThat(readAll(store(), digest, 150_000, 0)).isEmpty();
    }

    @Test
    void digestMismatchStoresNothing() {
        byte[] blob = "the real content".getBytes(StandardCharsets.UTF_8);
        Digest claimed = digestOf("other content!!!".getBytes(StandardCharsets.UTF_8));

        StepVerifier.create(store().write(claimed, blob))
                .expectError(DigestMismatchException.class)
                .verify(TIMEOUT);
        StepVerifier.create(store().contains(claimed)).expectNext(false).verifyComplete();
    }

    @Test
    void sizeMismatchStoresNothing() {
        byte[] blob = "sized wrong".getBytes(StandardCharsets.UTF_8);
        Digest claimed = new Digest(digestOf(blob).hash(), blob.length + 1);

        StepVerifier.create(store().write(claimed, blob))
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(DigestMismatchException.class)
                        .hasMessageContaining("received " + blob.length + " bytes"))
                .verify(TIMEOUT);
        StepVerifier.create(store().contains(claimed)).expectNext(false).verifyComplete();
    }

    @Test
    void nonSha256HashRejectedOnWrite() {
        Digest sha1Like = new Digest("a".repeat(40), 3);
        StepVerifier.create(store().write(sha1Like, new byte[3]))
                .expectError(InvalidDigestException.class)
                .verify(TIMEOUT);
    }

    @Test
    void emptyBlobAlwaysPresent() {
        Digest empty = digestOf(new byte[0]);

        StepVerifier.create(store().contains(empty)).expectNext(true).verifyComplete();
        StepVerifier.create(store().read(empty)).verifyComplete();
        StepVerifier.create(store().findMissing(DigestSet.of(empty))).expectNext(DigestSet.empty()).verifyComplete();
        StepVerifier.create(store().write(empty, new byte[0])).verifyComplete();
    }

    @Test
    void absentBlobReadIsNotFound() {
        Digest absent = digestOf("never written".getBytes(StandardCharsets.UTF_8));

        StepVerifier.create(store().read(absent))
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(BlobNotFoundException.class)
                        .extracting(x -> ((BlobNotFoundException) x).digest()).isEqualTo(absent))
                .verify(TIMEOUT);
    }

    /** (hash, size) is the key: the same hash under another size is another, absent, blob. */
    @Test
    void readOfAnotherSizeIsNotFound() {
        byte[] blob = randomBytes(1_000, 21);
        Digest stored = digestOf(blob);
        store().write(stored, blob).block(TIMEOUT);

        for (long wrongSize : new long[] {1, blob.length - 1, blob.length + 1}) {
            Digest claimed = new Digest(stored.hash(), wrongSize);
            StepVerifier.create(store().read(claimed))
                    .expectErrorSatisfies(e -> assertThat(e).as("read of " + claimed).isInstanceOf(BlobNotFoundException.class)
                            .extracting(x -> ((BlobNotFoundException) x).digest()).isEqualTo(claimed))
                    .verify(TIMEOUT);
            StepVerifier.create(store().read(claimed, 0, 1)).expectError(BlobNotFoundException.class).verify(TIMEOUT);
            StepVerifier.create(store().contains(claimed)).expectNext(false).verifyComplete();
        }
        assertThat(readAll(store(), stored, 0, 0)).isEqualTo(blob);
    }

    /** Only SHA-256 of nothing is the empty blob; any other hash with size 0 is absent, never "present by definition". */
    @Test
    void sizeZeroOfAnotherHashIsNotTheEmptyBlob() {
        Digest notEmpty = new Digest(digestOf("x".getBytes(StandardCharsets.UTF_8)).hash(), 0);

        StepVerifier.create(store().contains(notEmpty)).expectNext(false).verifyComplete();
        StepVerifier.create(store().findMissing(DigestSet.of(notEmpty))).expectNext(DigestSet.of(notEmpty)).verifyComplete();
        StepVerifier.create(store().read(notEmpty)).expectError(BlobNotFoundException.class).verify(TIMEOUT);
        StepVerifier.create(store().write(notEmpty, new byte[0])).expectError(DigestMismatchException.class).verify(TIMEOUT);
    }

    @Test
    void blobSizeByHashAlone() {
        byte[] blob = randomBytes(70_000, 3);
        Digest digest = digestOf(blob);
        store().write(digest, blob).block(TIMEOUT);

        StepVerifier.create(store().blobSize(digest.hash())).expectNext(70_000L).verifyComplete();
        StepVerifier.create(store().blobSize(digestOf(new byte[0]).hash())).expectNext(0L).verifyComplete();
        StepVerifier.create(store().blobSize(digestOf(new byte[] {1}).hash())).verifyComplete();
    }

    @Test
    void rewritingStoredBlobSucceeds() {
        byte[] blob = "twice".getBytes(StandardCharsets.UTF_8);
        Digest digest = digestOf(blob);
        store().write(digest, blob).block(TIMEOUT);

        StepVerifier.create(store().write(digest, blob)).verifyComplete();
        assertThat(readAll(store(), digest, 0, 0)).isEqualTo(blob);
    }

    @Test
    void findMissingNamesExactlyTheAbsent() {
        byte[] a = "a".getBytes(StandardCharsets.UTF_8);
        byte[] b = "b".getBytes(StandardCharsets.UTF_8);
        store().write(digestOf(a), a).block(TIMEOUT);
        Digest sameHashOtherSize = new Digest(digestOf(a).hash(), 2);

        StepVerifier.create(store().findMissing(DigestSet.of(digestOf(a), digestOf(b), sameHashOtherSize)))
                .expectNext(DigestSet.of(digestOf(b), sameHashOtherSize))
                .verifyComplete();
    }

    @Test
    void actionResultRoundTrip() {
        Digest action = digestOf("action".getBytes(StandardCharsets.UTF_8));
        byte[] result = ActionResult.newBuilder().setExitCode(3).build().toByteArray();

        StepVerifier.create(store().getActionResult(action)).verifyComplete();
        StepVerifier.create(store().putActionResult(action, result)).verifyComplete();
        StepVerifier.create(store().getActionResult(action))
                .assertNext(bytes -> assertThat(bytes).isEqualTo(result))
                .verifyComplete();
    }
}
