package dev.vouch.front.grpc;

import build.bazel.remote.execution.v2.BatchReadBlobsRequest;
import build.bazel.remote.execution.v2.BatchReadBlobsResponse;
import build.bazel.remote.execution.v2.BatchUpdateBlobsRequest;
import build.bazel.remote.execution.v2.BatchUpdateBlobsResponse;
import build.bazel.remote.execution.v2.Compressor;
import build.bazel.remote.execution.v2.FindMissingBlobsRequest;
import build.bazel.remote.execution.v2.FindMissingBlobsResponse;
import build.bazel.remote.execution.v2.GetTreeRequest;
import build.bazel.remote.execution.v2.GetTreeResponse;
import build.bazel.remote.execution.v2.ReactorContentAddressableStorageGrpc;
import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.vouch.auth.Right;
import dev.vouch.backend.BlobData;
import dev.vouch.backend.BlobWrite;
import dev.vouch.backend.CacheBackend;
import dev.vouch.backend.Scope;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestSet;
import dev.vouch.front.FrontBackends;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * REAPI ContentAddressableStorage at the cache front, forwarded to the backend of the request's
 * instance name. FindMissingBlobs goes as one call to the backend, which splits it to its own limits
 * (a {@code grpc} backend to the server's batch size, an {@code http} one into HEADs). BatchUpdateBlobs
 * hashes every blob first: one whose bytes do not match its digest gets INVALID_ARGUMENT and never
 * reaches the backend; the rest go on as a batch ({@link CacheBackend#writeBlobs}). BatchReadBlobs
 * reads each blob size-checked, a few at a time. GetTree pages the backend's walk ({@link TreePager}).
 */
public final class FrontCas extends ReactorContentAddressableStorageGrpc.ContentAddressableStorageImplBase {
    /** GetTree's page size when the client leaves it to the server. */
    static final int DEFAULT_TREE_PAGE_SIZE = 1000;
    private static final int BATCH_READ_CONCURRENCY = 8;

    private final FrontBackends backends;
    private final BatchLimit batchLimit;
    private final long maxTreeBytes;
    private final GrpcAccess access;

    /** @param maxTreeBytes the Directory bytes one GetTree call may walk ({@code vouch.limits.max-tree-bytes}) */
    FrontCas(FrontBackends backends, BatchLimit batchLimit, long maxTreeBytes,
            GrpcAccess access) {
        this.access = access;
        this.backends = backends;
        this.batchLimit = batchLimit;
        this.maxTreeBytes = maxTreeBytes;
    }

    @Override
    public Mono<FindMissingBlobsResponse> findMissingBlobs(FindMissingBlobsRequest request) {
        GrpcAccess.Call call = access.begin();
        return Mono.defer(() -> {
            call.check(request.getInstanceName(), Right.READ);
            Scope scope = Statuses.scope(request.getInstanceName(), request.getDigestFunction(),
                    request.getBlobDigestsCount() == 0 ? null : request.getBlobDigests(0).getHash());
            List<Digest> digests = new ArrayList<>(request.getBlobDigestsCount());
            for (int i = 0; i < request.getBlobDigestsCount(); i++) {
                digests.add(Statuses.digest(request.getBlobDigests(i), "blob_digests[" + i + "]", scope.digestFunction()));
            }
            return backends.forScope(scope)
                    .flatMap(backend -> backend.findMissing(scope, DigestSet.of(digests)))
                    .map(missing -> {
                        FindMissingBlobsResponse.Builder response = FindMissingBlobsResponse.newBuilder();
                        missing.forEach(d -> response.addMissingBlobDigests(d.toProto()));
                        return response.build();
                    })
                    .onErrorMap(e -> Statuses.toException(e, "FindMissingBlobs of " + digests.size() + " digests"));
        }).contextWrite(call::context);
    }

    @Override
    public Mono<BatchUpdateBlobsResponse> batchUpdateBlobs(BatchUpdateBlobsRequest request) {
        GrpcAccess.Call call = access.begin();
        return Mono.defer(() -> {
            call.check(request.getInstanceName(), Right.WRITE);
            // a blob with a malformed digest is refused on its own, so the function is inferred from a well-formed one
            Scope scope = Statuses.scope(request.getInstanceName(), request.getDigestFunction(),
                    request.getRequestsList().stream().map(r -> r.getDigest().getHash())
                            .filter(hash -> Statuses.byLength(hash).isPresent()).findFirst().orElse(null));
            int count = request.getRequestsCount();
            com.google.rpc.Status[] statuses = new com.google.rpc.Status[count];
            List<BlobData> good = new ArrayList<>(count);
            List<Integer> goodAt = new ArrayList<>(count);
            for (int i = 0; i < count; i++) {
                Status refused = check(request.getRequests(i), scope);
                if (refused != null) {
                    statuses[i] = Statuses.toRpcStatus(refused);
                } else {
                    BatchUpdateBlobsRequest.Request blob = request.getRequests(i);
                    good.add(new BlobData(Digest.fromProto(blob.getDigest()), blob.getData().asReadOnlyByteBuffer()));
                    goodAt.add(i);
                }
            }
            Mono<List<BlobWrite>> written = good.isEmpty() ? Mono.just(List.of())
                    : backends.forScope(scope).flatMap(backend -> backend.writeBlobs(scope, good));
            return written.map(outcomes -> {
                for (int j = 0; j < outcomes.size(); j++) {
                    BlobWrite outcome = outcomes.get(j);
                    statuses[goodAt.get(j)] = Statuses.toRpcStatus(outcome.isStored() ? Status.OK
                            : Statuses.statusOf(outcome.failure(), "BatchUpdateBlobs " + outcome.digest()));
                }
                BatchUpdateBlobsResponse.Builder response = BatchUpdateBlobsResponse.newBuilder();
                for (int i = 0; i < count; i++) {
                    response.addResponses(BatchUpdateBlobsResponse.Response.newBuilder()
                            .setDigest(request.getRequests(i).getDigest()).setStatus(statuses[i]));
                }
                return response.build();
            }).onErrorMap(e -> Statuses.toException(e, "BatchUpdateBlobs of " + count + " blobs"));
        }).contextWrite(call::context);
    }

    /** Why one blob of a batch is refused before it reaches the backend, or null: a bad digest, a compressor, a mismatch. */
    private static Status check(BatchUpdateBlobsRequest.Request blob, Scope scope) {
        Digest digest;
        try {
            digest = Statuses.digest(blob.getDigest(), "digest", scope.digestFunction());
        } catch (RuntimeException e) {
            return Statuses.statusOf(e, "BatchUpdateBlobs " + blob.getDigest().getHash());
        }
        if (blob.getCompressor() != Compressor.Value.IDENTITY) {
            return Statuses.statusOf(Statuses.invalidArgument("compressor " + blob.getCompressor() + " is not supported"),
                    "BatchUpdateBlobs " + digest);
        }
        Digest actual = scope.digestFunction().newHasher().update(blob.getData().asReadOnlyByteBuffer()).finish();
        if (!actual.equals(digest)) {
            return Statuses.statusOf(Statuses.invalidArgument("blob " + digest + ": "
                    + (actual.sizeBytes() != digest.sizeBytes()
                            ? "received " + actual.sizeBytes() + " bytes, digest says " + digest.sizeBytes()
                            : "content hashes to " + actual.hash()) + "; not stored"), "BatchUpdateBlobs " + digest);
        }
        return null;
    }

    @Override
    public Mono<BatchReadBlobsResponse> batchReadBlobs(BatchReadBlobsRequest request) {
        GrpcAccess.Call call = access.begin();
        return Mono.defer(() -> {
            call.check(request.getInstanceName(), Right.READ);
            Scope scope = Statuses.scope(request.getInstanceName(), request.getDigestFunction(),
                    request.getDigestsCount() == 0 ? null : request.getDigests(0).getHash());
            long total = request.getDigestsList().stream().mapToLong(d -> d.getSizeBytes()).sum();
            return backends.forScope(scope).flatMap(backend -> backend.capabilities(scope).flatMap(caps -> {
                long limit = batchLimit.of(caps);
                if (total > limit) {
                    return Mono.error(Statuses.invalidArgument("the batch asks for " + total
                            + " bytes, more than max_batch_total_size_bytes " + limit + "; read large blobs with ByteStream"));
                }
                return Flux.fromIterable(request.getDigestsList())
                        .flatMapSequential(digest -> read(backend, scope, digest), BATCH_READ_CONCURRENCY)
                        .collectList()
                        .map(responses -> BatchReadBlobsResponse.newBuilder().addAllResponses(responses).build());
            })).onErrorMap(e -> Statuses.toException(e, "BatchReadBlobs of " + request.getDigestsCount() + " blobs"));
        }).contextWrite(call::context);
    }

    private Mono<BatchReadBlobsResponse.Response> read(CacheBackend backend, Scope scope,
            build.bazel.remote.execution.v2.Digest proto) {
        BatchReadBlobsResponse.Response.Builder response = BatchReadBlobsResponse.Response.newBuilder().setDigest(proto);
        return Mono.defer(() -> {
                    Digest digest = Statuses.digest(proto, "digest", scope.digestFunction());
                    // size-checked: a blob of another length is corrupt, and no more than its size is read
                    return backend.readSmallBlob(scope, digest)
                            .map(bytes -> response.setData(UnsafeByteOperations.unsafeWrap(bytes))
                                    .setStatus(Statuses.toRpcStatus(Status.OK)).build())
                            .onErrorResume(e -> Mono.just(response
                                    .setStatus(Statuses.toRpcStatus(Statuses.statusOf(e, "BatchReadBlobs " + digest))).build()));
                })
                .onErrorResume(e -> Mono.just(response
                        .setStatus(Statuses.toRpcStatus(Statuses.statusOf(e, "BatchReadBlobs " + proto.getHash()))).build()));
    }

    /**
     * Every Directory reachable from the root, root first, each once, in pages (see
     * {@link TreePager} for the tokens), as the backend walks them ({@link CacheBackend#getTree}: a
     * {@code grpc} backend's own paged GetTree, the others a walk of Directory reads). The walk
     * streams: nothing is collected but the page being filled, and it passes at most
     * {@code vouch.limits.max-tree-bytes} of Directory messages per call; past that the call ends with
     * FAILED_PRECONDITION.
     */
    @Override
    public Flux<GetTreeResponse> getTree(GetTreeRequest request) {
        GrpcAccess.Call call = access.begin();
        return Flux.defer(() -> {
            call.check(request.getInstanceName(), Right.READ);
            Scope scope = Statuses.scope(request.getInstanceName(), request.getDigestFunction(),
                    request.getRootDigest().getHash());
            Digest root = Statuses.digest(request.getRootDigest(), "root_digest", scope.digestFunction());
            if (request.getPageSize() < 0) {
                throw Statuses.invalidArgument("page_size must not be negative");
            }
            int pageSize = request.getPageSize() == 0 ? DEFAULT_TREE_PAGE_SIZE : request.getPageSize();
            TreePager pager = TreePager.resuming(root, pageSize, request.getPageToken(), scope.digestFunction());
            return backends.forScope(scope)
                    .flatMapMany(backend -> pager.pages(walk(backend, scope, root)))
                    .onErrorMap(e -> Statuses.toException(e, "GetTree " + root));
        }).contextWrite(call::context);
    }

    /** The backend's walk, each Directory with its digest, stopped past {@code maxTreeBytes}. */
    private Flux<TreePager.Listed> walk(CacheBackend backend, Scope scope, Digest root) {
        return Flux.defer(() -> {
            AtomicLong walked = new AtomicLong();
            AtomicLong listed = new AtomicLong();
            return backend.getTree(scope, root).map(directory -> {
                ByteString bytes = directory.toByteString();
                if (walked.addAndGet(bytes.size()) > maxTreeBytes) {
                    throw Status.FAILED_PRECONDITION.withDescription("the directory tree under " + root
                            + " is larger than vouch.limits.max-tree-bytes (" + maxTreeBytes
                            + " bytes); GetTree stops walking it there").asRuntimeException();
                }
                // the walk lists the root first; the others are named by the digest of their bytes
                Digest digest = listed.getAndIncrement() == 0 ? root
                        : scope.digestFunction().newHasher().update(bytes.asReadOnlyByteBuffer()).finish();
                return new TreePager.Listed(digest, directory);
            });
        });
    }
}
