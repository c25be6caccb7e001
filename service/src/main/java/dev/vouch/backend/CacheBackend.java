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

    /** A CAS blob's bytes in order; fails with {@link BlobNotFoundException} when it is absent. */
    Flux<ByteBuffer> readBlob(Scope scope, Digest digest);

    /** A whole small blob, for Tree and Directory messages; callers bound the size first. */
    default Mono<byte[]> readSmallBlob(Scope scope, Digest digest) {
        return readBlob(scope, digest).collectList().map(buffers -> {
            byte[] out = new byte[Math.toIntExact(digest.sizeBytes())];
            int pos = 0;
            for (ByteBuffer b : buffers) {
                int n = b.remaining();
                if (pos + n > out.length) {
                    throw new BackendException(name(), "blob " + digest + " is longer than its digest says");
                }
                b.get(out, pos, n);
                pos += n;
            }
            if (pos != out.length) {
                throw new BackendException(name(), "blob " + digest + " is shorter than its digest says");
            }
            return out;
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
     * {@code GetTree} returns them: sub-directories the CAS lacks are left out silently; a missing
     * root fails with {@link BlobNotFoundException}. This default walks with {@link #readDirectory};
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
                                    .onErrorResume(BlobNotFoundException.class, e -> Mono.empty())));
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
