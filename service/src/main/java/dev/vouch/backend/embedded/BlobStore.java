package dev.vouch.backend.embedded;

import dev.vouch.backend.BlobNotFoundException;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.digest.DigestMismatchException;
import dev.vouch.digest.DigestSet;
import java.nio.ByteBuffer;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * The embedded cache's storage: one SHA-256 namespace of Action Cache entries and CAS blobs.
 * Every CAS write is checked against its digest; the empty blob always exists. Hashes that are
 * not SHA-256 long are never stored, so reads treat them as absent and writes reject them.
 * A blob's key is its whole digest, hash and size: a stored blob whose length differs from the
 * size asked for is absent for that digest, and is not read to find that out.
 */
public interface BlobStore {
    /** The SHA-256 of nothing: with size 0, the one digest that is always present. */
    String EMPTY_SHA256 = DigestFunction.SHA256.digestOf(new byte[0]).hash();

    /**
     * The largest Action Cache entry the store reads or accepts. Far above any real ActionResult,
     * low enough that reading one (whole, as it must be parsed) cannot exhaust the heap.
     */
    int MAX_ACTION_RESULT_BYTES = 64 << 20;

    /** Whether {@code digest} is the empty blob: size 0 and the hash of nothing, not merely size 0. */
    static boolean isEmptyBlob(Digest digest) {
        return digest.isEmptyBlob(DigestFunction.SHA256);
    }

    /**
     * The serialized {@code ActionResult} stored for {@code action}; empty when there is none. An
     * entry over {@link #MAX_ACTION_RESULT_BYTES} fails with {@link DamagedEntryException}.
     */
    Mono<byte[]> getActionResult(Digest action);

    /** The length of the Action Cache entry for {@code action}, without reading it; empty when there is none. */
    default Mono<Long> actionResultSize(Digest action) {
        return getActionResult(action).map(bytes -> (long) bytes.length);
    }

    /** Stores (or replaces) the serialized {@code ActionResult} for {@code action}. */
    Mono<Void> putActionResult(Digest action, byte[] serializedResult);

    /** Whether the CAS holds {@code digest}, as of now (never from a cached answer). */
    Mono<Boolean> contains(Digest digest);

    /**
     * The size of the CAS blob stored under the SHA-256 {@code hash}, as of now; empty when there
     * is none. For protocols that name a blob by hash alone (the Bazel HTTP cache protocol).
     */
    Mono<Long> blobSize(String hash);

    /** The digests of {@code digests} that the CAS does not hold. */
    default Mono<DigestSet> findMissing(DigestSet digests) {
        return Flux.fromIterable(digests)
                .filterWhen(d -> contains(d).map(present -> !present))
                .collectList()
                .map(DigestSet::of);
    }

    /**
     * A blob's bytes from {@code offset}, at most {@code limit} of them (0: to the end), in
     * chunks of at most 64 KiB. Each buffer is freshly allocated and never reused, so callers may
     * keep or wrap it. Fails with {@link BlobNotFoundException} when the blob is absent, including
     * when the stored blob's length is not {@code digest.sizeBytes()}; never reads past that size.
     */
    Flux<ByteBuffer> read(Digest digest, long offset, long limit);

    /**
     * Stores the blob streamed by {@code data} after checking it hashes to {@code digest}; fails
     * with {@link DigestMismatchException}, storing nothing, when it does not. Writing a blob
     * that is already stored drains {@code data} and succeeds.
     */
    Mono<Void> write(Digest digest, Flux<ByteBuffer> data);

    default Mono<Void> write(Digest digest, byte[] data) {
        return write(digest, Flux.just(ByteBuffer.wrap(data)));
    }

    default Flux<ByteBuffer> read(Digest digest) {
        return read(digest, 0, 0);
    }
}
