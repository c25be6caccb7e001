package dev.vouch.front.grpc;

import com.google.bytestream.QueryWriteStatusRequest;
import com.google.bytestream.QueryWriteStatusResponse;
import com.google.bytestream.ReactorByteStreamGrpc;
import com.google.bytestream.ReadRequest;
import com.google.bytestream.ReadResponse;
import com.google.bytestream.WriteRequest;
import com.google.bytestream.WriteResponse;
import com.google.protobuf.UnsafeByteOperations;
import com.salesforce.reactorgrpc.stub.ReactorCallOptions;
import dev.vouch.auth.Right;
import dev.vouch.backend.Scope;
import dev.vouch.digest.DigestSet;
import dev.vouch.digest.VerifiedStream;
import dev.vouch.front.FrontBackends;
import io.grpc.CallOptions;
import io.grpc.Status;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * google.bytestream at the cache front: how Bazel uploads and downloads blobs, streamed to and from
 * the backend of the resource name's instance, never held whole. A Read passes the backend's chunks
 * on as the client takes them (at most {@link #MAX_READ_CHUNK} bytes a message) and fails with
 * DATA_LOSS rather than end short of what it promised. A Write is hashed while it is forwarded,
 * with its last chunk held back until the digest checks out ({@link VerifiedStream}): a blob that
 * does not match is aborted before the backend receives its end, so it is never stored, and the
 * client gets INVALID_ARGUMENT. Incoming messages are requested a few at a time
 * ({@link #INBOUND_PREFETCH}), so a slow backend slows the client rather than filling the heap.
 */
public final class FrontByteStream extends ReactorByteStreamGrpc.ByteStreamImplBase {
    /** The largest message of a Read: a backend's larger chunks are cut, without copying. */
    static final int MAX_READ_CHUNK = 1 << 20;
    /** Write messages requested ahead of the backend (reactor-grpc's default would queue 512). */
    static final int INBOUND_PREFETCH = 8;

    private final FrontBackends backends;
    private final GrpcAccess access;
    /** Bytes received so far per upload resource name, for QueryWriteStatus. */
    private final Map<String, AtomicLong> uploads = new ConcurrentHashMap<>();

    FrontByteStream(FrontBackends backends, GrpcAccess access) {
        this.access = access;
        this.backends = backends;
    }

    @Override
    protected CallOptions getCallOptions(int methodId) {
        // the base class answers null, which reactor-grpc reads as its defaults
        return CallOptions.DEFAULT
                .withOption(ReactorCallOptions.CALL_OPTIONS_PREFETCH, INBOUND_PREFETCH)
                .withOption(ReactorCallOptions.CALL_OPTIONS_LOW_TIDE, INBOUND_PREFETCH / 2);
    }

    @Override
    public Flux<ReadResponse> read(ReadRequest request) {
        GrpcAccess.Call call = access.begin();
        return Flux.defer(() -> {
            ResourceName resource = ResourceName.forRead(request.getResourceName());
            call.check(resource.scope().instanceName(), Right.READ);
            long size = resource.digest().sizeBytes();
            if (request.getReadOffset() < 0 || request.getReadLimit() < 0) {
                throw Statuses.invalidArgument("read_offset and read_limit must not be negative");
            }
            if (request.getReadOffset() > size) {
                throw Status.OUT_OF_RANGE.withDescription("read_offset " + request.getReadOffset()
                        + " is past the end of blob " + resource.digest()).asRuntimeException();
            }
            long left = size - request.getReadOffset();
            long expected = request.getReadLimit() == 0 ? left : Math.min(left, request.getReadLimit());
            Scope scope = resource.scope();
            return backends.forScope(scope)
                    .flatMapMany(backend -> backend.readBlob(scope, resource.digest(), request.getReadOffset(),
                            request.getReadLimit()))
                    .transform(chunks -> exactly(expected, resource, chunks))
                    .concatMapIterable(FrontByteStream::messageSized, 1)
                    // the chunks are fresh buffers (backends copy out of pooled ones), so wrapping them is safe
                    .map(chunk -> ReadResponse.newBuilder().setData(UnsafeByteOperations.unsafeWrap(chunk)).build())
                    .onErrorMap(e -> Statuses.toException(e, "ByteStream.Read " + resource.digest()));
        }).contextWrite(call::context);
    }

    /** {@code chunks}, failing with DATA_LOSS if they end before {@code expected} bytes, or run past them. */
    private static Flux<ByteBuffer> exactly(long expected, ResourceName resource, Flux<ByteBuffer> chunks) {
        return Flux.defer(() -> {
            long[] sent = {0};
            return chunks.<ByteBuffer>handle((chunk, sink) -> {
                sent[0] += chunk.remaining();
                if (sent[0] > expected) {
                    sink.error(Status.DATA_LOSS.withDescription("backend sent more than the " + expected
                            + " bytes asked of blob " + resource.digest()).asRuntimeException());
                } else {
                    sink.next(chunk);
                }
            }).concatWith(Mono.defer(() -> sent[0] == expected ? Mono.empty()
                    : Mono.error(Status.DATA_LOSS.withDescription("backend ended blob " + resource.digest() + " after "
                            + sent[0] + " of " + expected + " bytes").asRuntimeException())));
        });
    }

    @Override
    public Mono<WriteResponse> write(Flux<WriteRequest> requests) {
        GrpcAccess.Call call = access.begin();
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
            // before any byte is taken in, and before the upload is registered
            call.check(resource.scope().instanceName(), Right.WRITE);
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
            Scope scope = resource.scope();
            return backends.forScope(scope)
                    .flatMap(backend -> backend.writeBlob(scope, resource.digest(),
                            VerifiedStream.of(resource.digest(), scope.digestFunction(), data)))
                    .then(Mono.fromSupplier(() -> WriteResponse.newBuilder().setCommittedSize(resource.digest().sizeBytes()).build()))
                    .onErrorMap(e -> Statuses.toException(e, "ByteStream.Write " + resource.digest()))
                    .doFinally(signal -> uploads.remove(name, received))
                    .contextWrite(call::context);
        }).single();
    }

    @Override
    public Mono<QueryWriteStatusResponse> queryWriteStatus(QueryWriteStatusRequest request) {
        GrpcAccess.Call call = access.begin();
        return Mono.defer(() -> {
            ResourceName resource = ResourceName.forWrite(request.getResourceName());
            call.check(resource.scope().instanceName(), Right.WRITE);
            AtomicLong inProgress = uploads.get(request.getResourceName());
            if (inProgress != null) {
                return Mono.just(QueryWriteStatusResponse.newBuilder().setCommittedSize(inProgress.get()).build());
            }
            Scope scope = resource.scope();
            return backends.forScope(scope)
                    .flatMap(backend -> backend.findMissing(scope, DigestSet.of(resource.digest())))
                    .map(missing -> {
                        if (!missing.isEmpty()) {
                            throw Status.NOT_FOUND.withDescription("no upload " + request.getResourceName()
                                    + " in progress and blob " + resource.digest() + " is not stored").asRuntimeException();
                        }
                        return QueryWriteStatusResponse.newBuilder()
                                .setCommittedSize(resource.digest().sizeBytes()).setComplete(true).build();
                    }).onErrorMap(e -> Statuses.toException(e, "ByteStream.QueryWriteStatus " + resource.digest()));
        }).contextWrite(call::context);
    }

    /** {@code chunk} cut into messages of at most {@link #MAX_READ_CHUNK} bytes, without copying. */
    private static List<ByteBuffer> messageSized(ByteBuffer chunk) {
        if (chunk.remaining() <= MAX_READ_CHUNK) {
            return List.of(chunk);
        }
        List<ByteBuffer> parts = new ArrayList<>();
        for (int at = chunk.position(); at < chunk.limit(); at += MAX_READ_CHUNK) {
            ByteBuffer part = chunk.duplicate();
            part.position(at).limit(Math.min(chunk.limit(), at + MAX_READ_CHUNK));
            parts.add(part.slice());
        }
        return parts;
    }
}
