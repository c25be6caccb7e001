package dev.vouch.backend;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.Directory;
import build.bazel.remote.execution.v2.DirectoryNode;
import build.bazel.remote.execution.v2.Tree;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestSet;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.util.context.ContextView;

/**
 * One remote cache, AC and CAS, as the validator and the cache front see it. Transport-free:
 * implementations hide gRPC, HTTP or disk. Absence is a result (an empty {@code Mono}, a digest in
 * the missing set, {@link BlobNotFoundException}); anything that prevents an answer is a
 * {@link BackendException} and must never be reported as absence or presence. What a backend's
 * protocol cannot do at all is {@link NotSupportedException}: the write operations' defaults, so a
 * backend that only answers reads needs nothing more.
 */
public interface CacheBackend {
    /** Blobs of one {@link #writeBlobs} call written at once by its default. */
    int BATCH_WRITE_CONCURRENCY = 8;

    /** The backend's configured name, as it appears in results and metrics. */
    String name();

    Mono<BackendCapabilities> capabilities(Scope scope);

    /**
     * The capabilities {@link #capabilities} would answer for {@code scope} without calling the
     * backend: a constant, or an answer the backend gave before and still holds. Empty when only a
     * call can tell. {@code context} is the asker's (a backend that forwards credentials holds one
     * answer per caller). Metrics count a call only when this is empty.
     */
    default Optional<BackendCapabilities> knownCapabilities(Scope scope, ContextView context) {
        return Optional.empty();
    }

    /** The Action Cache entry for {@code action}; empty when the AC has none. */
    Mono<ActionResult> getActionResult(Scope scope, Digest action);

    /** The subset of {@code digests} that the CAS does not hold. */
    Mono<DigestSet> findMissing(Scope scope, DigestSet digests);

    /**
     * A CAS blob's bytes in order; fails with {@link BlobNotFoundException} when it is absent. A
     * blob that runs past {@code digest}'s size fails with {@link CorruptBlobException} as soon as
     * it does, with the transfer cancelled: implementations wrap their stream in {@link #withinSize}.
     */
    Flux<ByteBuffer> readBlob(Scope scope, Digest digest);

    /**
     * The bytes of a CAS blob from {@code offset}, at most {@code limit} of them (0: to the end), as
     * ByteStream.Read asks for them to resume a download; fails as {@link #readBlob(Scope, Digest)}
     * does. This default reads from the start and drops what comes before {@code offset}; backends
     * that can seek override it. Callers check that {@code offset} is within the blob.
     */
    default Flux<ByteBuffer> readBlob(Scope scope, Digest digest, long offset, long limit) {
        if (offset == 0 && limit == 0) {
            return readBlob(scope, digest);
        }
        return Flux.defer(() -> {
            long end = limit == 0 ? Long.MAX_VALUE : offset + limit;
            long[] position = {0};
            return readBlob(scope, digest)
                    .<ByteBuffer>handle((chunk, sink) -> {
                        long start = position[0];
                        position[0] += chunk.remaining();
                        long from = Math.max(start, offset);
                        long to = Math.min(position[0], end);
                        if (from < to) {
                            ByteBuffer slice = chunk.duplicate();
                            slice.position(chunk.position() + (int) (from - start));
                            slice.limit(chunk.position() + (int) (to - start));
                            sink.next(slice.slice());
                        }
                    })
                    // the rest is past the limit: stop the transfer rather than drain it
                    .takeUntil(chunk -> position[0] >= end);
        });
    }

    /**
     * The size of the CAS blob stored under the SHA-256 {@code hash} alone; empty when there is
     * none. For the Bazel HTTP cache protocol, which names blobs by hash only. REAPI servers cannot
     * answer it (their blobs are named by hash and size): {@link NotSupportedException}.
     */
    default Mono<Long> blobSize(Scope scope, String hash) {
        return Mono.error(new NotSupportedException(name(), "backend " + name()
                + " names blobs by hash and size; it cannot look a blob up by hash alone"));
    }

    /**
     * Stores {@code result} as the Action Cache entry of {@code action}, replacing any.
     * {@link NotSupportedException} when the backend accepts no writes.
     */
    default Mono<Void> updateActionResult(Scope scope, Digest action, ActionResult result) {
        return Mono.error(new NotSupportedException(name(), "backend " + name() + " accepts no Action Cache writes"));
    }

    /**
     * Stores the blob that {@code data} streams under {@code digest}, chunk by chunk as they come:
     * implementations never hold the whole blob, and request chunks only as fast as they pass them
     * on. {@code data} is subscribed to once and the write is never retried once it has started
     * (the bytes cannot be asked for again). A write whose data fails (e.g. a
     * {@link dev.vouch.digest.DigestMismatchException} from a verifying stream) fails with that
     * error, and the backend must not have stored the blob: implementations send the last bytes only
     * when {@code data} delivers them, so a source that holds its last chunk back until it has
     * checked the digest (the cache front does) aborts a wrong blob before it can complete. A backend
     * that already holds the blob may end early, leaving the rest of {@code data} unread.
     * {@link NotSupportedException} when the backend accepts no writes.
     */
    default Mono<Void> writeBlob(Scope scope, Digest digest, Flux<ByteBuffer> data) {
        return Mono.error(new NotSupportedException(name(), "backend " + name() + " accepts no blob writes"));
    }

    /**
     * Stores small blobs held in memory (REAPI BatchUpdateBlobs), one outcome each, in the order
     * given; never fails as a whole. Callers have checked each blob against its digest. This default
     * writes them one by one, a few at a time; backends with a batch call override it.
     */
    default Mono<List<BlobWrite>> writeBlobs(Scope scope, List<BlobData> blobs) {
        return Flux.fromIterable(blobs)
                .flatMapSequential(blob -> writeBlob(scope, blob.digest(), Flux.just(blob.bytes()))
                        .then(Mono.fromSupplier(() -> BlobWrite.stored(blob.digest())))
                        .onErrorResume(e -> Mono.just(BlobWrite.failed(blob.digest(), e))), BATCH_WRITE_CONCURRENCY)
                .collectList();
    }

    /**
     * A whole small blob, for Tree and Directory messages; callers bound the size first. Holds at
     * most {@code digest.sizeBytes()} bytes: a blob of another length is {@link CorruptBlobException}.
     */
    default Mono<byte[]> readSmallBlob(Scope scope, Digest digest) {
        return Mono.defer(() -> {
            byte[] out = new byte[Math.toIntExact(digest.sizeBytes())];
            int[] filled = {0};
            return withinSize(digest, readBlob(scope, digest))
                    .doOnNext(chunk -> {
                        int n = chunk.remaining();
                        chunk.duplicate().get(out, filled[0], n);
                        filled[0] += n;
                    })
                    .then(Mono.fromCallable(() -> {
                        if (filled[0] != out.length) {
                            throw new CorruptBlobException(digest, "read " + filled[0] + " bytes, digest says " + out.length);
                        }
                        return out;
                    }));
        });
    }

    /**
     * {@code chunks} up to {@code digest}'s size: the chunk that runs past it fails the stream with
     * {@link CorruptBlobException} and cancels the source, so an understated size costs no more reading.
     */
    static Flux<ByteBuffer> withinSize(Digest digest, Flux<ByteBuffer> chunks) {
        return Flux.defer(() -> {
            long[] read = {0};
            return chunks.handle((chunk, sink) -> {
                read[0] += chunk.remaining();
                if (read[0] > digest.sizeBytes()) {
                    sink.error(CorruptBlobException.longerThan(digest, read[0]));
                } else {
                    sink.next(chunk);
                }
            });
        });
    }

    /** A {@code Tree} message stored in the CAS (the {@code tree_digest} of an output directory). */
    default Mono<Tree> readTree(Scope scope, Digest treeDigest) {
        return readSmallBlob(scope, treeDigest).map(bytes -> parse(treeDigest, bytes, Tree::parseFrom));
    }

    /** A {@code Directory} message stored in the CAS. */
    default Mono<Directory> readDirectory(Scope scope, Digest directoryDigest) {
        return readSmallBlob(scope, directoryDigest).map(bytes -> parse(directoryDigest, bytes, Directory::parseFrom));
    }

    /**
     * Every {@code Directory} reachable from {@code rootDirectory}, root first, each once, as REAPI
     * {@code GetTree} returns them: sub-directories the CAS lacks (or holds corrupt) are left out
     * silently; a missing root fails with {@link BlobNotFoundException}, a corrupt one with
     * {@link CorruptBlobException}. This default walks with {@link #readDirectory};
     * backends with a server-side walk override it.
     */
    default Flux<Directory> getTree(Scope scope, Digest rootDirectory) {
        return Flux.defer(() -> {
            Set<Digest> seen = ConcurrentHashMap.newKeySet();
            seen.add(rootDirectory);
            return directoryOrEmpty(scope, rootDirectory)
                    .expand(directory -> Flux.fromIterable(directory.getDirectoriesList())
                            .map(DirectoryNode::getDigest)
                            .map(Digest::fromProto)
                            .filter(seen::add)
                            .concatMap(child -> directoryOrEmpty(scope, child)
                                    .onErrorResume(e -> e instanceof BlobNotFoundException
                                            || e instanceof CorruptBlobException, e -> Mono.empty())));
        });
    }

    // the empty blob is the empty Directory and always present, so it costs no read
    private Mono<Directory> directoryOrEmpty(Scope scope, Digest digest) {
        return digest.isEmptyBlob(scope.digestFunction()) ? Mono.just(Directory.getDefaultInstance()) : readDirectory(scope, digest);
    }

    private static <T> T parse(Digest digest, byte[] bytes, Parser<T> parser) {
        try {
            return parser.parse(bytes);
        } catch (InvalidProtocolBufferException e) {
            throw new MalformedBlobException(digest, e);
        }
    }

    @FunctionalInterface
    interface Parser<T> {
        T parse(byte[] bytes) throws InvalidProtocolBufferException;
    }
}
