package dev.vouch.backend;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.Directory;
import build.bazel.remote.execution.v2.DirectoryNode;
import build.bazel.remote.execution.v2.Tree;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestSet;
import java.nio.ByteBuffer;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * One remote cache, AC and CAS, as the validator sees it. Transport-free: implementations hide
 * gRPC, HTTP or disk. Absence is a result (an empty {@code Mono}, a digest in the missing set,
 * {@link BlobNotFoundException}); anything that prevents an answer is a {@link BackendException}
 * and must never be reported as absence or presence.
 */
public interface CacheBackend {

    /** The backend's configured name, as it appears in results and metrics. */
    String name();

    Mono<BackendCapabilities> capabilities(Scope scope);

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
