package dev.vouch.backend.embedded.grpc;

import com.google.bytestream.QueryWriteStatusRequest;
import com.google.bytestream.QueryWriteStatusResponse;
import com.google.bytestream.ReactorByteStreamGrpc;
import com.google.bytestream.ReadRequest;
import com.google.bytestream.ReadResponse;
import com.google.bytestream.WriteRequest;
import com.google.bytestream.WriteResponse;
import com.google.protobuf.UnsafeByteOperations;
import dev.vouch.backend.embedded.BlobStore;
import io.grpc.Status;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * google.bytestream over the embedded CAS: how Bazel uploads and downloads blobs. Uploads are
 * streamed to the store, which verifies the digest before the blob becomes visible.
 */
public final class EmbeddedByteStream extends ReactorByteStreamGrpc.ByteStreamImplBase {
    private final BlobStore store;
    /** Bytes received so far per upload resource name, for QueryWriteStatus. */
    private final Map<String, AtomicLong> uploads = new ConcurrentHashMap<>();

    public EmbeddedByteStream(BlobStore store) {
        this.store = store;
    }

    @Override
    public Flux<ReadResponse> read(ReadRequest request) {
        return Flux.defer(() -> {
            ResourceName resource = ResourceName.forRead(request.getResourceName());
            long size = resource.digest().sizeBytes();
            if (request.getReadOffset() < 0 || request.getReadLimit() < 0) {
                throw Statuses.invalidArgument("read_offset and read_limit must not be negative");
            }
            if (request.getReadOffset() > size) {
                throw Status.OUT_OF_RANGE.withDescription("read_offset " + request.getReadOffset()
                        + " is past the end of blob " + resource.digest()).asRuntimeException();
            }
            return store.read(resource.digest(), request.getReadOffset(), request.getReadLimit())
                    // the store hands out fresh buffers, so wrapping them without a copy is safe
                    .map(chunk -> ReadResponse.newBuilder().setData(UnsafeByteOperations.unsafeWrap(chunk)).build())
                    .onErrorMap(e -> Statuses.toException(e, "ByteStream.Read " + resource.digest()));
        });
    }

    @Override
    public Mono<WriteResponse> write(Flux<WriteRequest> requests) {
        return requests.switchOnFirst((first, all) -> {
            if (!first.hasValue()) {
                return all.then(Mono.error(Statuses.invalidArgument("Write stream carried no request")));
            }
            String name = first.get().getResourceName();
            ResourceName resource;
            try {
                resource = ResourceName.forWrite(name);
            } catch (RuntimeException e) {
                throw Statuses.toException(e, "ByteStream.Write");
            }
            if (first.get().getWriteOffset() != 0) {
                // we do not keep partial uploads, so there is nothing to resume from
                throw Statuses.invalidArgument("write_offset " + first.get().getWriteOffset()
                        + " of a new upload must be 0 for " + resource.digest());
            }
            AtomicLong received = new AtomicLong();
            boolean[] finished = {false};
            if (uploads.putIfAbsent(name, received) != null) {
                throw Status.ALREADY_EXISTS.withDescription("upload " + name + " is already in progress").asRuntimeException();
            }
            Flux<ByteBuffer> data = all.map(request -> {
                        if (finished[0]) {
                            throw Statuses.invalidArgument("data after finish_write for " + resource.digest());
                        }
                        if (request.getWriteOffset() != received.get()) {
                            throw Statuses.invalidArgument("write_offset " + request.getWriteOffset() + " but "
                                    + received.get() + " bytes were received for " + resource.digest());
                        }
                        received.addAndGet(request.getData().size());
                        finished[0] = request.getFinishWrite();
                        return request.getData().asReadOnlyByteBuffer();
                    })
                    .concatWith(Mono.defer(() -> finished[0] ? Mono.empty()
                            : Mono.error(Statuses.invalidArgument("the Write stream of " + resource.digest()
                                    + " ended without finish_write"))));
            return store.write(resource.digest(), data)
                    .then(Mono.fromSupplier(() -> WriteResponse.newBuilder().setCommittedSize(resource.digest().sizeBytes()).build()))
                    .onErrorMap(e -> Statuses.toException(e, "ByteStream.Write " + resource.digest()))
                    .doFinally(signal -> uploads.remove(name, received));
        }).single();
    }

    @Override
    public Mono<QueryWriteStatusResponse> queryWriteStatus(QueryWriteStatusRequest request) {
        return Mono.defer(() -> {
            ResourceName resource = ResourceName.forWrite(request.getResourceName());
            AtomicLong inProgress = uploads.get(request.getResourceName());
            if (inProgress != null) {
                return Mono.just(QueryWriteStatusResponse.newBuilder().setCommittedSize(inProgress.get()).build());
            }
            return store.contains(resource.digest()).map(present -> {
                if (!present) {
                    throw Status.NOT_FOUND.withDescription("no upload " + request.getResourceName()
                            + " in progress and blob " + resource.digest() + " is not stored").asRuntimeException();
                }
                return QueryWriteStatusResponse.newBuilder()
                        .setCommittedSize(resource.digest().sizeBytes()).setComplete(true).build();
            }).onErrorMap(e -> Statuses.toException(e, "ByteStream.QueryWriteStatus " + resource.digest()));
        });
    }
}
