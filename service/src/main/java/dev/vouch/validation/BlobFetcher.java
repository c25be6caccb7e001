package dev.vouch.validation;

import dev.vouch.backend.BlobNotFoundException;
import dev.vouch.backend.CacheBackend;
import dev.vouch.backend.CorruptBlobException;
import dev.vouch.backend.Scope;
import dev.vouch.digest.Digest;
import dev.vouch.digest.Hasher;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicLong;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

/**
 * Mode FETCH's proof that a blob is intact: read it back from the backend and hash it with the
 * request's digest function while it streams, so a blob of any size costs one chunk of memory.
 * A blob whose bytes do not hash to its digest, or whose length differs, is corrupt; one that
 * is absent is missing; a failed read decides nothing.
 */
final class BlobFetcher {
    /**
     * Where hashing runs by default: not the transports' event loops (a REST server's among them),
     * nor Reactor's parallel workers, which also run the request deadlines' timers. Bounded (ten
     * threads a core).
     */
    static Scheduler defaultHashing() {
        return Schedulers.boundedElastic();
    }

    // chunks queued for hashing per read; with the read's own few in flight, constant memory per read
    private static final int HASH_PREFETCH = 2;

    private final CacheBackend backend;
    private final Scope scope;
    private final Scheduler hashing;
    private final AtomicLong reads = new AtomicLong();

    BlobFetcher(CacheBackend backend, Scope scope, Scheduler hashing) {
        this.backend = backend;
        this.scope = scope;
        this.hashing = hashing;
    }

    /** Reads started so far (the empty blob needs none). */
    long reads() {
        return reads.get();
    }

    /** Reads and verifies {@code digest}, keeping nothing; never errors. */
    Mono<Fetched> verify(Digest digest) {
        return fetch(digest, false);
    }

    /**
     * The verified bytes of a small blob (a Tree or Directory message, already bounded by the
     * caller); fails with {@link BlobNotFoundException}, {@link CorruptBlobException} or the
     * backend's error.
     */
    Mono<byte[]> verifiedBytes(Digest digest) {
        return fetch(digest, true).flatMap(fetched -> {
            if (fetched instanceof Fetched.Verified verified) {
                return Mono.just(verified.bytes());
            }
            if (fetched instanceof Fetched.Corrupt corrupt) {
                return Mono.error(new CorruptBlobException(digest, corrupt.detail()));
            }
            if (fetched instanceof Fetched.Failed failed) {
                return Mono.error(failed.failure());
            }
            return Mono.error(new BlobNotFoundException(digest));
        });
    }

    private Mono<Fetched> fetch(Digest expected, boolean keep) {
        if (expected.isEmptyBlob(scope.digestFunction())) {
            // REAPI: the empty blob is always present, and nothing can be wrong with zero bytes
            return Mono.just(new Fetched.Verified(new byte[0]));
        }
        return Mono.defer(() -> {
            reads.incrementAndGet();
            Hasher hasher = scope.digestFunction().newHasher();
            byte[] bytes = keep ? new byte[Math.toIntExact(expected.sizeBytes())] : null;
            // counted where the bytes arrive, so that a blob running long is cut off there at once
            return CacheBackend.withinSize(expected, Flux.defer(() -> backend.readBlob(scope, expected)))
                    // hashed off the delivering thread (for http backends an event loop the REST server shares),
                    // with only a few chunks let in ahead, so memory stays constant
                    .publishOn(hashing, HASH_PREFETCH)
                    .doOnNext(chunk -> {
                        if (bytes != null) {
                            chunk.duplicate().get(bytes, (int) hasher.size(), chunk.remaining());
                        }
                        hasher.update(chunk.duplicate());
                    })
                    .then(Mono.fromCallable(() -> judge(expected, hasher.finish(), bytes)))
                    .onErrorResume(e -> Mono.just(outcome(e)));
        });
    }

    private static Fetched judge(Digest expected, Digest actual, byte[] bytes) {
        if (actual.sizeBytes() != expected.sizeBytes()) {
            return new Fetched.Corrupt("read " + actual.sizeBytes() + " bytes, digest says " + expected.sizeBytes());
        }
        if (!actual.hash().equals(expected.hash())) {
            return new Fetched.Corrupt("content hashes to " + actual.hash());
        }
        return new Fetched.Verified(bytes);
    }

    private static Fetched outcome(Throwable e) {
        if (e instanceof CorruptBlobException corrupt) {
            return new Fetched.Corrupt(corrupt.detail());
        }
        if (e instanceof BlobNotFoundException) {
            return new Fetched.Absent();
        }
        return new Fetched.Failed(e);
    }

    /** What reading one blob proved. */
    sealed interface Fetched {
        /** Read in full and hashed to its digest; {@code bytes} only when asked to keep them. */
        record Verified(byte[] bytes) implements Fetched {
        }

        record Absent() implements Fetched {
        }

        record Corrupt(String detail) implements Fetched {
        }

        /** The read failed: the blob's state is unknown. */
        record Failed(Throwable failure) implements Fetched {
        }
    }
}
