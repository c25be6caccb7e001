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
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestSet;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/** REAPI ContentAddressableStorage over the embedded store; the instance name is ignored. */
public final class EmbeddedCas extends ReactorContentAddressableStorageGrpc.ContentAddressableStorageImplBase {
    /** GetTree's page size when the client leaves it to the server. */
    static final int DEFAULT_TREE_PAGE_SIZE = 1000;
    private static final int BATCH_CONCURRENCY = 8;

    private final BlobStore store;
    private final long maxBatchTotalSizeBytes;

    public EmbeddedCas(BlobStore store, long maxBatchTotalSizeBytes) {
        this.store = store;
        this.maxBatchTotalSizeBytes = maxBatchTotalSizeBytes;
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

    @Override
    public Flux<GetTreeResponse> getTree(GetTreeRequest request) {
        return Flux.defer(() -> {
            Statuses.requireSha256(request.getDigestFunction());
            Digest root = Statuses.digest(request.getRootDigest(), "root_digest");
            if (request.getPageSize() < 0) {
                throw Statuses.invalidArgument("page_size must not be negative");
            }
            int pageSize = request.getPageSize() == 0 ? DEFAULT_TREE_PAGE_SIZE : request.getPageSize();
            int offset = pageOffset(request.getPageToken());
            return walk(root)
                    .collectList()
                    .flatMapMany(all -> pages(all, offset, pageSize))
                    .onErrorMap(e -> Statuses.toException(e, "GetTree " + root));
        });
    }

    /**
     * Every Directory reachable from {@code root}, breadth first, each once. Missing subdirectories
     * are left out, as REAPI allows; a missing root is NOT_FOUND.
     */
    private Flux<Directory> walk(Digest root) {
        Set<Digest> seen = ConcurrentHashMap.newKeySet();
        seen.add(root);
        return readDirectory(root)
                .expand(directory -> Flux.fromIterable(directory.getDirectoriesList())
                        .map(DirectoryNode::getDigest)
                        .map(d -> Statuses.digest(d, "directory node digest"))
                        .filter(seen::add)
                        .concatMap(child -> readDirectory(child).onErrorResume(BlobNotFoundException.class, e -> Mono.empty())));
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

    /** Pages from {@code offset} to the end, each naming where the next one starts. */
    private static Flux<GetTreeResponse> pages(List<Directory> all, int offset, int pageSize) {
        if (offset > all.size()) {
            throw Statuses.invalidArgument("page_token " + offset + " is past the end of the tree");
        }
        List<GetTreeResponse> pages = new ArrayList<>();
        for (int start = offset; start < all.size() || pages.isEmpty(); start += pageSize) {
            int end = Math.min(all.size(), start + pageSize);
            GetTreeResponse.Builder page = GetTreeResponse.newBuilder().addAllDirectories(all.subList(start, end));
            if (end < all.size()) {
                page.setNextPageToken(Integer.toString(end));
            }
            pages.add(page.build());
        }
        return Flux.fromIterable(pages);
    }

    private static int pageOffset(String token) {
        if (token.isEmpty()) {
            return 0;
        }
        try {
            int offset = Integer.parseInt(token);
            if (offset < 0) {
                throw new NumberFormatException();
            }
            return offset;
        } catch (NumberFormatException e) {
            throw Statuses.invalidArgument("page_token \"" + token + "\" was not issued by this server");
        }
    }

    private Mono<ByteString> readWhole(Digest digest) {
        return store.read(digest)
                .map(UnsafeByteOperations::unsafeWrap)
                .reduce(ByteString.EMPTY, ByteString::concat);
    }
}
