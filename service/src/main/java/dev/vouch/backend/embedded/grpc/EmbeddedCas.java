package dev.vouch.backend.embedded.grpc;

import build.bazel.remote.execution.v2.BatchReadBlobsRequest;
import build.bazel.remote.execution.v2.BatchReadBlobsResponse;
import build.bazel.remote.execution.v2.BatchUpdateBlobsRequest;
import build.bazel.remote.execution.v2.BatchUpdateBlobsResponse;
import build.bazel.remote.execution.v2.Compressor;
import build.bazel.remote.execution.v2.Directory;
import build.bazel.remote.execution.v2.DirectoryNode;
import build.bazel.remote.execution.v2.FindMissingBlobsRequest;
import build.bazel.remote.execution.v2.FindMissingBlobsResponse;
import build.bazel.remote.execution.v2.GetTreeRequest;
import build.bazel.remote.execution.v2.GetTreeResponse;
import build.bazel.remote.execution.v2.ReactorContentAddressableStorageGrpc;
import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UnsafeByteOperations;
import dev.vouch.backend.BlobNotFoundException;
import dev.vouch.backend.embedded.BlobStore;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestSet;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/** REAPI ContentAddressableStorage over the embedded store; the instance name is ignored. */
public final class EmbeddedCas extends ReactorContentAddressableStorageGrpc.ContentAddressableStorageImplBase {
    /** GetTree's page size when the client leaves it to the server. */
    static final int DEFAULT_TREE_PAGE_SIZE = 1000;
    private static final int BATCH_CONCURRENCY = 8;

    private final BlobStore store;
    private final long maxBatchTotalSizeBytes;
    private final long maxTreeBytes;

    /** With the default {@code vouch.limits.max-tree-bytes} for GetTree. */
    public EmbeddedCas(BlobStore store, long maxBatchTotalSizeBytes) {
        this(store, maxBatchTotalSizeBytes, VouchProperties.Limits.defaults().maxTreeBytes());
    }

    /** {@code maxTreeBytes}: the Directory bytes one GetTree call may read ({@code vouch.limits.max-tree-bytes}). */
    public EmbeddedCas(BlobStore store, long maxBatchTotalSizeBytes, long maxTreeBytes) {
        this.store = store;
        this.maxBatchTotalSizeBytes = maxBatchTotalSizeBytes;
        this.maxTreeBytes = maxTreeBytes;
    }

    @Override
    public Mono<FindMissingBlobsResponse> findMissingBlobs(FindMissingBlobsRequest request) {
        return Mono.defer(() -> {
            Statuses.requireSha256(request.getDigestFunction());
            List<Digest> digests = new ArrayList<>(request.getBlobDigestsCount());
            for (int i = 0; i < request.getBlobDigestsCount(); i++) {
                digests.add(Statuses.digest(request.getBlobDigests(i), "blob_digests[" + i + "]"));
            }
            return store.findMissing(DigestSet.of(digests))
                    .map(missing -> {
                        FindMissingBlobsResponse.Builder response = FindMissingBlobsResponse.newBuilder();
                        missing.forEach(d -> response.addMissingBlobDigests(d.toProto()));
                        return response.build();
                    })
                    .onErrorMap(e -> Statuses.toException(e, "FindMissingBlobs of " + digests.size() + " digests"));
        });
    }

    @Override
    public Mono<BatchUpdateBlobsResponse> batchUpdateBlobs(BatchUpdateBlobsRequest request) {
        return Mono.defer(() -> {
            Statuses.requireSha256(request.getDigestFunction());
            return Flux.fromIterable(request.getRequestsList())
                    .flatMapSequential(this::update, BATCH_CONCURRENCY)
                    .collectList()
                    .map(responses -> BatchUpdateBlobsResponse.newBuilder().addAllResponses(responses).build());
        });
    }

    /** One blob of a batch: its own status, so one bad blob does not fail the others. */
    private Mono<BatchUpdateBlobsResponse.Response> update(BatchUpdateBlobsRequest.Request blob) {
        BatchUpdateBlobsResponse.Response.Builder response = BatchUpdateBlobsResponse.Response.newBuilder()
                .setDigest(blob.getDigest());
        return Mono.defer(() -> {
                    Digest digest = Statuses.digest(blob.getDigest(), "digest");
                    if (blob.getCompressor() != Compressor.Value.IDENTITY) {
                        throw Statuses.invalidArgument("compressor " + blob.getCompressor() + " is not supported");
                    }
                    return store.write(digest, Flux.just(blob.getData().asReadOnlyByteBuffer()))
                            .then(Mono.fromSupplier(() -> Status.OK))
                            .onErrorResume(e -> Mono.just(Statuses.statusOf(e, "BatchUpdateBlobs " + digest)));
                })
                .onErrorResume(e -> Mono.just(Statuses.statusOf(e, "BatchUpdateBlobs " + blob.getDigest().getHash())))
                .map(status -> response.setStatus(Statuses.toRpcStatus(status)).build());
    }

    @Override
    public Mono<BatchReadBlobsResponse> batchReadBlobs(BatchReadBlobsRequest request) {
        return Mono.defer(() -> {
            Statuses.requireSha256(request.getDigestFunction());
            long total = request.getDigestsList().stream().mapToLong(d -> d.getSizeBytes()).sum();
            if (total > maxBatchTotalSizeBytes) {
                throw Statuses.invalidArgument("the batch asks for " + total + " bytes, more than max_batch_total_size_bytes "
                        + maxBatchTotalSizeBytes + "; read large blobs with ByteStream");
            }
            return Flux.fromIterable(request.getDigestsList())
                    .flatMapSequential(this::read, BATCH_CONCURRENCY)
                    .collectList()
                    .map(responses -> BatchReadBlobsResponse.newBuilder().addAllResponses(responses).build());
        });
    }

    private Mono<BatchReadBlobsResponse.Response> read(build.bazel.remote.execution.v2.Digest proto) {
        BatchReadBlobsResponse.Response.Builder response = BatchReadBlobsResponse.Response.newBuilder().setDigest(proto);
        return Mono.defer(() -> {
                    Digest digest = Statuses.digest(proto, "digest");
                    return readWhole(digest)
                            .map(data -> response.setData(data).setStatus(Statuses.toRpcStatus(Status.OK)).build())
                            .onErrorResume(e -> Mono.just(response
                                    .setStatus(Statuses.toRpcStatus(Statuses.statusOf(e, "BatchReadBlobs " + digest))).build()));
                })
                .onErrorResume(e -> Mono.just(response
                        .setStatus(Statuses.toRpcStatus(Statuses.statusOf(e, "BatchReadBlobs " + proto.getHash()))).build()));
    }

    /**
     * Every Directory reachable from the root, breadth first, each once, in pages (see
     * {@link TreePager} for the tokens). The walk streams: nothing is collected but the page being
     * filled and the digests already seen, and it reads at most {@code vouch.limits.max-tree-bytes}
     * of Directory messages per call; past that the call ends with FAILED_PRECONDITION.
     */
    @Override
    public Flux<GetTreeResponse> getTree(GetTreeRequest request) {
        return Flux.defer(() -> {
            Statuses.requireSha256(request.getDigestFunction());
            Digest root = Statuses.digest(request.getRootDigest(), "root_digest");
            if (request.getPageSize() < 0) {
                throw Statuses.invalidArgument("page_size must not be negative");
            }
            int pageSize = request.getPageSize() == 0 ? DEFAULT_TREE_PAGE_SIZE : request.getPageSize();
            return TreePager.resuming(root, pageSize, request.getPageToken())
                    .pages(walk(root))
                    .onErrorMap(e -> Statuses.toException(e, "GetTree " + root));
        });
    }

    /**
     * The Directories reachable from {@code root}, breadth first, each once. Missing
     * subdirectories are left out, as REAPI allows; a missing root is NOT_FOUND.
     */
    private Flux<TreePager.Listed> walk(Digest root) {
        Set<Digest> seen = ConcurrentHashMap.newKeySet();
        seen.add(root);
        AtomicLong walked = new AtomicLong();
        return readListed(root, root, walked)
                .expand(listed -> Flux.fromIterable(listed.directory().getDirectoriesList())
                        .map(DirectoryNode::getDigest)
                        .map(d -> Statuses.digest(d, "directory node digest"))
                        .filter(seen::add)
                        .concatMap(child -> readListed(child, root, walked)
                                .onErrorResume(BlobNotFoundException.class, e -> Mono.empty())));
    }

    private Mono<TreePager.Listed> readListed(Digest digest, Digest root, AtomicLong walked) {
        return Mono.defer(() -> {
            // charged before reading, at the size the store checks the blob has, so no read goes past the bound
            if (walked.addAndGet(digest.sizeBytes()) > maxTreeBytes) {
                return Mono.error(Status.FAILED_PRECONDITION.withDescription("the directory tree under " + root
                        + " is larger than vouch.limits.max-tree-bytes (" + maxTreeBytes + " bytes); GetTree stops walking it there")
                        .asRuntimeException());
            }
            return readDirectory(digest).map(directory -> new TreePager.Listed(digest, directory));
        });
    }

    private Mono<Directory> readDirectory(Digest digest) {
        return readWhole(digest).map(bytes -> {
            try {
                return Directory.parseFrom(bytes);
            } catch (InvalidProtocolBufferException e) {
                throw Statuses.invalidArgument("blob " + digest + " is not a Directory");
            }
        });
    }

    private Mono<ByteString> readWhole(Digest digest) {
        return store.read(digest)
                .map(UnsafeByteOperations::unsafeWrap)
                .reduce(ByteString.EMPTY, ByteString::concat);
    }
}
