package dev.vouch.backend.reapi;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.BatchReadBlobsRequest;
import build.bazel.remote.execution.v2.BatchReadBlobsResponse;
import build.bazel.remote.execution.v2.BatchUpdateBlobsRequest;
import build.bazel.remote.execution.v2.Directory;
import build.bazel.remote.execution.v2.FindMissingBlobsRequest;
import build.bazel.remote.execution.v2.FindMissingBlobsResponse;
import build.bazel.remote.execution.v2.GetActionResultRequest;
import build.bazel.remote.execution.v2.GetCapabilitiesRequest;
import build.bazel.remote.execution.v2.GetTreeRequest;
import build.bazel.remote.execution.v2.GetTreeResponse;
import build.bazel.remote.execution.v2.ReactorActionCacheGrpc;
import build.bazel.remote.execution.v2.ReactorCapabilitiesGrpc;
import build.bazel.remote.execution.v2.ReactorContentAddressableStorageGrpc;
import build.bazel.remote.execution.v2.ServerCapabilities;
import build.bazel.remote.execution.v2.UpdateActionResultRequest;
import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.google.bytestream.ReactorByteStreamGrpc;
import com.google.bytestream.ReadRequest;
import com.google.bytestream.WriteRequest;
import com.google.protobuf.TextFormat;
import com.google.protobuf.UnsafeByteOperations;
import com.salesforce.reactorgrpc.stub.ReactorCallOptions;
import dev.vouch.backend.BackendCapabilities;
import dev.vouch.backend.BackendException;
import dev.vouch.backend.BlobData;
import dev.vouch.backend.BlobNotFoundException;
import dev.vouch.backend.BlobWrite;
import dev.vouch.backend.CacheBackend;
import dev.vouch.backend.CallMetadata;
import dev.vouch.backend.CallGuard;
import dev.vouch.backend.CallerCredentials;
import dev.vouch.backend.CorruptBlobException;
import dev.vouch.backend.Deadline;
import dev.vouch.backend.MalformedBlobException;
import dev.vouch.backend.Scope;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.digest.DigestSet;
import dev.vouch.digest.InvalidDigestException;
import dev.vouch.logging.LogSafe;
import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.util.context.ContextView;

/**
 * A REAPI v2 server (bazel-remote, Buildbarn, BuildBuddy, ...) as a {@link CacheBackend}, over one
 * long-lived channel. Existence checks are split to the server's advertised batch limit; blobs
 * that fit a batch are read with BatchReadBlobs, larger ones streamed with ByteStream.Read.
 * Every call carries a fresh deadline of {@code call-timeout}, shortened to the request's
 * {@link Deadline} when one is in the subscriber context, and the request's {@link CallMetadata}
 * as the RequestMetadata header ({@link RequestMetadataHeader}); with {@code forward-credentials},
 * the {@link CallerCredentials} of the client the call is for ({@link ForwardedAuthorization}).
 * NOT_FOUND is absence; every other status is a {@link BackendException}. Each gRPC call (each
 * FindMissingBlobs part, BatchReadBlobs, ByteStream.Read stream, GetTree page, GetCapabilities)
 * goes through the backend's {@link CallGuard}.
 *
 * <p>A server may lack optional CAS calls (Bazel's remote worker, REAPI 2.0, has no BatchReadBlobs):
 * UNIMPLEMENTED is an answer about the server, not a failure, so it is neither retried nor counted
 * by the circuit breaker. Blobs are then read with ByteStream.Read, and trees walked Directory by
 * Directory instead of with GetTree, until the connection is lost (the server behind the address
 * may have been replaced).
 */
public final class ReapiBackend implements CacheBackend, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ReapiBackend.class);
    static final int DEFAULT_TREE_PAGE_SIZE = 1000;
    // without a stated limit, batch reads must fit gRPC's usual 4 MiB message, with room for framing
    static final long UNSTATED_BATCH_LIMIT = (4 << 20) - (64 << 10);
    private static final long BATCH_LIMIT_CEILING = ReapiChannels.MAX_INBOUND_MESSAGE_BYTES - (64 << 10);
    private static final Duration FOREVER = Duration.ofMillis(Long.MAX_VALUE);
    // room in a read's answer for framing and an error status beside the blob's own bytes
    private static final int ANSWER_ALLOWANCE = 4096;
    // ByteStream chunks requested ahead of the reader: reactor-grpc's default of 512 could queue that many
    private static final int READ_PREFETCH = 4;
    /** How long a circuit's probe waits for the channel to connect again before it is sent anyway. */
    static final Duration PROBE_CONNECT_WAIT = Duration.ofSeconds(2);
    /** The largest ByteStream.Write message this backend sends: far under every server's 4 MiB. */
    static final int MAX_WRITE_CHUNK = 1 << 20;
    /** Instance names whose capabilities are kept: the names are what clients send, so the cache is bounded. */
    static final int MAX_CACHED_INSTANCES = 1_000;
    /** How long capabilities are kept at most, so a server's changed limits are seen without a reconnect too. */
    static final Duration CAPABILITIES_TTL = Duration.ofMinutes(10);

    private final String name;
    private final String target;
    private final String instanceNameOverride;
    private final boolean forwardCredentials;
    private final Duration callTimeout;
    private final int maxConcurrentCalls;
    private final int treePageSize;
    private final int maxActionResultBytes;
    private final ManagedChannel channel;
    private final CallFailures failures;
    private final CallGuard guard;
    private final ReactorActionCacheGrpc.ReactorActionCacheStub actionCache;
    private final ReactorContentAddressableStorageGrpc.ReactorContentAddressableStorageStub cas;
    private final ReactorCapabilitiesGrpc.ReactorCapabilitiesStub capabilitiesStub;
    private final ReactorByteStreamGrpc.ReactorByteStreamStub byteStream;
    /**
     * Server capabilities per instance name (and per caller, with {@code forward-credentials}), at
     * most {@link #MAX_CACHED_INSTANCES} of them (least recently used go first) for at most
     * {@link #CAPABILITIES_TTL}; dropped when the connection fails, fetched again after.
     */
    private final Cache<CapabilitiesKey, Asked> capabilities = Caffeine.newBuilder()
            .maximumSize(MAX_CACHED_INSTANCES)
            .expireAfterWrite(CAPABILITIES_TTL)
            .build();
    // what the server answered UNIMPLEMENTED on this connection, so it is not asked (and refused) every time
    private volatile boolean batchReadUnimplemented;
    private volatile boolean getTreeUnimplemented;

    /** A backend whose calls go out unguarded (tests). */
    public ReapiBackend(VouchProperties.Backend config) {
        this(config, CallGuard.NONE);
    }

    /** @param guard put around every call this backend makes; closed with it */
    public ReapiBackend(VouchProperties.Backend config, CallGuard guard) {
        this(config, guard, DEFAULT_TREE_PAGE_SIZE, VouchProperties.Limits.defaults().maxActionResultBytes());
    }

    /** @param treePageSize the {@code page_size} of GetTree calls */
    ReapiBackend(VouchProperties.Backend config, int treePageSize) {
        this(config, treePageSize, VouchProperties.Limits.defaults().maxActionResultBytes());
    }

    ReapiBackend(VouchProperties.Backend config, int treePageSize, int maxActionResultBytes) {
        this(config, CallGuard.NONE, treePageSize, maxActionResultBytes);
    }

    /** @param maxActionResultBytes vouch.limits.max-action-result-bytes: a larger AC answer is refused unparsed */
    ReapiBackend(VouchProperties.Backend config, CallGuard guard, int treePageSize, int maxActionResultBytes) {
        this.maxActionResultBytes = maxActionResultBytes;
        this.name = config.name();
        this.target = config.target().toString();
        this.instanceNameOverride = config.instanceName();
        this.forwardCredentials = config.forwardCredentials();
        this.callTimeout = config.callTimeout();
        this.maxConcurrentCalls = config.maxConcurrentCalls();
        this.treePageSize = treePageSize;
        this.failures = new CallFailures(name, target);
        this.guard = guard;
        this.channel = ReapiChannels.open(config);
        this.actionCache = ReactorActionCacheGrpc.newReactorStub(channel);
        this.cas = ReactorContentAddressableStorageGrpc.newReactorStub(channel);
        this.capabilitiesStub = ReactorCapabilitiesGrpc.newReactorStub(channel);
        this.byteStream = ReactorByteStreamGrpc.newReactorStub(channel);
        watchConnection(channel.getState(false));
        guard.beforeProbes(this::reconnect);
    }

    @Override
    public String name() {
        return name;
    }

    /** How many instance names have capabilities cached (or being fetched), for tests. */
    long cachedCapabilities() {
        capabilities.cleanUp();
        return capabilities.estimatedSize();
    }

    /** The channel, for tests that check it is shut down with the backend. */
    ManagedChannel channel() {
        return channel;
    }

    @Override
    public Mono<BackendCapabilities> capabilities(Scope scope) {
        return serverCapabilities(instanceName(scope)).map(ReapiBackend::toBackendCapabilities);
    }

    @Override
    public Optional<BackendCapabilities> knownCapabilities(Scope scope, ContextView context) {
        Asked asked = capabilities.getIfPresent(capabilitiesKey(instanceName(scope), context));
        return asked == null ? Optional.empty() : Optional.ofNullable(asked.answer().get());
    }

    @Override
    public Mono<ActionResult> getActionResult(Scope scope, Digest action) {
        GetActionResultRequest request = GetActionResultRequest.newBuilder()
                .setInstanceName(instanceName(scope))
                .setActionDigest(action.toProto())
                .setDigestFunction(scope.digestFunction().toProto())
                .build();
        String operation = "GetActionResult " + action;
        return guard.unary(operation, () -> Mono.deferContextual(context -> forCall(actionCache, context,
                                CallMetadata.from(context).forAction(action))
                        // refused by its length prefix, before it is buffered or parsed
                        .withMaxInboundMessageSize(maxActionResultBytes)
                        .getActionResult(request))
                .onErrorResume(CallFailures::isNotFound, e -> Mono.empty())
                // an entry that does not parse is the server's answer, malformed: not a failure of the server
                .onErrorMap(e -> CallFailures.unparsable(e) != null, e -> new MalformedBlobException(action,
                        "Action Cache entry " + action + " is not a valid ActionResult", CallFailures.unparsable(e)))
                // too large to be an ActionResult: the server's answer, as a malformed one is (not a failure)
                .onErrorMap(e -> isOverSizeLimit(e)
                        ? new MalformedBlobException(action, "Action Cache entry " + action + " is larger than "
                                + maxActionResultBytes + " bytes (vouch.limits.max-action-result-bytes)", e)
                        : failures.of(operation, e)));
    }

    @Override
    public Mono<DigestSet> findMissing(Scope scope, DigestSet digests) {
        // REAPI servers must hold the empty blob, so it is never worth asking about
        DigestSet asked = digests.filter(d -> !d.isEmptyBlob(scope.digestFunction()));
        if (asked.isEmpty()) {
            return Mono.just(DigestSet.empty());
        }
        FindMissingBlobsRequest base = FindMissingBlobsRequest.newBuilder()
                .setInstanceName(instanceName(scope))
                .setDigestFunction(scope.digestFunction().toProto())
                .build();
        return serverCapabilities(base.getInstanceName())
                .flatMapIterable(caps -> RequestSizes.findMissing(base, asked,
                        caps.getCacheCapabilities().getMaxBatchTotalSizeBytes()))
                .flatMap(request -> findMissingPart(request), maxConcurrentCalls)
                .collect(LinkedHashSet<Digest>::new, (missing, response) -> addMissing(missing, response))
                .map(DigestSet::of);
    }

    private Mono<FindMissingBlobsResponse> findMissingPart(FindMissingBlobsRequest request) {
        String operation = "FindMissingBlobs of " + request.getBlobDigestsCount() + " digests";
        return guard.unary(operation, () -> Mono.deferContextual(context -> forCall(cas, context)
                        .findMissingBlobs(request))
                .onErrorMap(e -> failures.of(operation, e)));
    }

    private void addMissing(Set<Digest> missing, FindMissingBlobsResponse response) {
        for (build.bazel.remote.execution.v2.Digest proto : response.getMissingBlobDigestsList()) {
            try {
                missing.add(Digest.fromProto(proto));
            } catch (InvalidDigestException e) {
                throw new BackendException(name, "backend " + name + ": FindMissingBlobs answered a malformed digest: "
                        + e.getMessage(), e);
            }
        }
    }

    @Override
    public Flux<ByteBuffer> readBlob(Scope scope, Digest digest) {
        if (digest.isEmptyBlob(scope.digestFunction())) {
            return Flux.empty();
        }
        String instance = instanceName(scope);
        BatchReadBlobsRequest batch = BatchReadBlobsRequest.newBuilder()
                .setInstanceName(instance)
                .addDigests(digest.toProto())
                .setDigestFunction(scope.digestFunction().toProto())
                .build();
        return serverCapabilities(instance).flatMapMany(caps -> {
            long advertised = caps.getCacheCapabilities().getMaxBatchTotalSizeBytes();
            long limit = advertised > 0 ? Math.min(advertised, BATCH_LIMIT_CEILING) : UNSTATED_BATCH_LIMIT;
            Flux<ByteBuffer> streamed = guard.stream("ByteStream.Read " + digest, () -> streamRead(instance, digest));
            if (batchReadUnimplemented || !RequestSizes.batchReadFits(batch, digest, limit)) {
                return streamed;
            }
            return guard.stream("BatchReadBlobs " + digest, () -> batchRead(batch, digest))
                    .onErrorResume(Unimplemented.class, e -> {
                        batchReadUnimplemented = unimplemented(batchReadUnimplemented, e, "blobs are read with ByteStream.Read");
                        return streamed;
                    });
        });
    }

    /** Notes once per connection that the server lacks a call; the flag's new value. */
    private boolean unimplemented(boolean known, Unimplemented e, String instead) {
        if (!known) {
            log.info("backend {}: {} answered UNIMPLEMENTED ({}); {} until the connection to {} is lost", name,
                    e.operation, LogSafe.quote(e.getMessage()), instead, target);
        }
        return true;
    }

    private Flux<ByteBuffer> batchRead(BatchReadBlobsRequest request, Digest digest) {
        String operation = "BatchReadBlobs " + digest;
        // an answer that could only fit by holding more than this blob is refused before it is buffered
        int answerLimit = (int) Math.min(ReapiChannels.MAX_INBOUND_MESSAGE_BYTES,
                RequestSizes.batchReadResponseSize(digest) + ANSWER_ALLOWANCE);
        return Mono.deferContextual(context -> forCall(cas, context).withMaxInboundMessageSize(answerLimit)
                        .batchReadBlobs(request))
                .onErrorMap(e -> CallFailures.isUnimplemented(e) ? new Unimplemented("BatchReadBlobs", e)
                        : readFailure(operation, digest, e))
                .flatMapMany(response -> {
                    for (BatchReadBlobsResponse.Response blob : response.getResponsesList()) {
                        if (!blob.getDigest().equals(request.getDigests(0))) {
                            continue;
                        }
                        Status status = Status.fromCodeValue(blob.getStatus().getCode())
                                .withDescription(blob.getStatus().getMessage().isEmpty() ? null : blob.getStatus().getMessage());
                        if (status.isOk()) {
                            long length = blob.getData().size();
                            return length == digest.sizeBytes()
                                    ? Flux.just(blob.getData().asReadOnlyByteBuffer())
                                    : Flux.error(new CorruptBlobException(digest, operation + " answered " + length
                                            + " bytes, digest says " + digest.sizeBytes()));
                        }
                        if (status.getCode() == Status.Code.NOT_FOUND) {
                            return Flux.error(new BlobNotFoundException(digest));
                        }
                        return Flux.error(failures.of(operation, status.asRuntimeException()));
                    }
                    return Flux.error(new BackendException(name, "backend " + name + ": " + operation
                            + " answered without the blob"));
                });
    }

    /**
     * ByteStream.Read, chunk by chunk as the server sends them, so a large blob is never held whole.
     * It stops at the first byte past the digest's size: a chunk is refused if it alone would run
     * past it, the call is cancelled as soon as the chunks do, and only a few chunks are requested
     * ahead of the reader.
     */
    private Flux<ByteBuffer> streamRead(String instance, Digest digest) {
        // SHA-256, SHA-1, MD5, SHA-384 and SHA-512 are told apart by hash length, so the name needs no function
        String resource = (instance.isEmpty() ? "" : instance + "/") + "blobs/" + digest.hash() + "/" + digest.sizeBytes();
        ReadRequest request = ReadRequest.newBuilder().setResourceName(resource).build();
        int chunkLimit = (int) Math.min(ReapiChannels.MAX_INBOUND_MESSAGE_BYTES, digest.sizeBytes() + 1 + ANSWER_ALLOWANCE);
        Flux<ByteBuffer> chunks = Flux.deferContextual(context -> forCall(byteStream, context)
                        .withMaxInboundMessageSize(chunkLimit)
                        .withOption(ReactorCallOptions.CALL_OPTIONS_PREFETCH, READ_PREFETCH)
                        .withOption(ReactorCallOptions.CALL_OPTIONS_LOW_TIDE, READ_PREFETCH / 2)
                        .read(request))
                .map(response -> response.getData().asReadOnlyByteBuffer());
        return CacheBackend.withinSize(digest, chunks)
                .onErrorMap(e -> CallFailures.isNotFound(e)
                        ? new BlobNotFoundException(digest)
                        : readFailure("ByteStream.Read " + resource, digest, e));
    }

    /** A message past the call's size limit is a blob longer than its digest; anything else a failure. */
    private RuntimeException readFailure(String operation, Digest digest, Throwable e) {
        if (e instanceof CorruptBlobException corrupt) {
            return corrupt;
        }
        if (isOverSizeLimit(e)) {
            return new CorruptBlobException(digest, operation + " answered more than the digest's size ("
                    + Status.fromThrowable(e).getDescription() + ")");
        }
        return failures.of(operation, e);
    }

    /** grpc-java's own refusal of a message longer than the call allows (a server's RESOURCE_EXHAUSTED is not). */
    private static boolean isOverSizeLimit(Throwable e) {
        Status status = Status.fromThrowable(e);
        return status.getCode() == Status.Code.RESOURCE_EXHAUSTED && status.getDescription() != null
                && status.getDescription().startsWith("gRPC message exceeds maximum size");
    }

    /**
     * GetTree, following {@code next_page_token} across calls: some servers stream every page in
     * one call, others one page per call. A missing root is {@link BlobNotFoundException}.
     */
    @Override
    public Flux<Directory> getTree(Scope scope, Digest rootDirectory) {
        if (rootDirectory.isEmptyBlob(scope.digestFunction())) {
            return Flux.just(Directory.getDefaultInstance());
        }
        GetTreeRequest first = GetTreeRequest.newBuilder()
                .setInstanceName(instanceName(scope))
                .setRootDigest(rootDirectory.toProto())
                .setPageSize(treePageSize)
                .setDigestFunction(scope.digestFunction().toProto())
                .build();
        if (getTreeUnimplemented) {
            return walkTree(scope, rootDirectory);
        }
        // only the first page's call can be refused so: nothing has been emitted yet
        return treeFrom(first, rootDirectory).onErrorResume(Unimplemented.class, e -> {
            getTreeUnimplemented = unimplemented(getTreeUnimplemented, e, "trees are walked with reads of each Directory");
            return walkTree(scope, rootDirectory);
        });
    }

    private Flux<Directory> walkTree(Scope scope, Digest rootDirectory) {
        return CacheBackend.super.getTree(scope, rootDirectory);
    }

    private Flux<Directory> treeFrom(GetTreeRequest request, Digest root) {
        return Flux.deferContextual(context -> {
            AtomicReference<String> next = new AtomicReference<>("");
            Flux<Directory> page = guard.stream("GetTree " + root, () -> forCall(cas, context).getTree(request)
                    .doOnNext(response -> next.set(response.getNextPageToken()))
                    .concatMapIterable(GetTreeResponse::getDirectoriesList)
                    .onErrorMap(e -> CallFailures.isNotFound(e)
                            ? new BlobNotFoundException(root)
                            : CallFailures.isUnimplemented(e) && request.getPageToken().isEmpty()
                                    ? new Unimplemented("GetTree", e)
                                    : failures.of("GetTree " + root, e)));
            return page.concatWith(Flux.defer(() -> {
                String token = next.get();
                if (token.isEmpty()) {
                    return Flux.empty();
                }
                if (token.equals(request.getPageToken())) {
                    // a server that hands back the token it was given would have us loop forever
                    return Flux.error(new BackendException(name, "backend " + name + ": GetTree " + root
                            + " returned its own page_token \"" + token + "\" again"));
                }
                return treeFrom(request.toBuilder().setPageToken(token).build(), root);
            }));
        });
    }

    @Override
    public Mono<Void> updateActionResult(Scope scope, Digest action, ActionResult result) {
        UpdateActionResultRequest request = UpdateActionResultRequest.newBuilder()
                .setInstanceName(instanceName(scope))
                .setActionDigest(action.toProto())
                .setActionResult(result)
                .setDigestFunction(scope.digestFunction().toProto())
                .build();
        String operation = "UpdateActionResult " + action;
        return guard.unary(operation, () -> Mono.deferContextual(context -> forCall(actionCache, context)
                        .updateActionResult(request))
                .onErrorMap(e -> failures.of(operation, e))).then();
    }

    /**
     * ByteStream.Write, chunk by chunk as {@code data} delivers them (client streaming with gRPC's
     * flow control: a chunk is taken only when the call can send it), so a large blob is never held
     * whole; chunks are cut to at most {@link #MAX_WRITE_CHUNK} bytes a message. {@code finish_write}
     * goes with the chunk that completes the blob's size, so a source that holds its last chunk back
     * until it verified the digest ends the call before the server can commit a wrong blob. Made once,
     * never retried: the bytes cannot be asked for again.
     */
    @Override
    public Mono<Void> writeBlob(Scope scope, Digest digest, Flux<ByteBuffer> data) {
        if (digest.isEmptyBlob(scope.digestFunction())) {
            // REAPI servers hold the empty blob; the bytes are still drained so that a wrong "empty" fails
            return data.then();
        }
        String instance = instanceName(scope);
        String operation = "ByteStream.Write " + digest;
        return guard.unaryOnce(operation, () -> Mono.deferContextual(context -> {
                    String resource = (instance.isEmpty() ? "" : instance + "/") + "uploads/" + UUID.randomUUID()
                            + "/blobs/" + digest.hash() + "/" + digest.sizeBytes();
                    AtomicReference<Throwable> dataFailure = new AtomicReference<>();
                    long[] offset = {0};
                    Flux<WriteRequest> requests = data
                            .doOnError(dataFailure::set)
                            // one chunk taken at a time: the call's flow control, not a prefetch queue, sets the pace
                            .concatMapIterable(ReapiBackend::messageSized, 1)
                            .map(chunk -> {
                                WriteRequest.Builder request = WriteRequest.newBuilder()
                                        .setWriteOffset(offset[0])
                                        .setData(UnsafeByteOperations.unsafeWrap(chunk));
                                if (offset[0] == 0) {
                                    request.setResourceName(resource);
                                }
                                offset[0] += chunk.remaining();
                                return request.setFinishWrite(offset[0] >= digest.sizeBytes()).build();
                            });
                    return forCall(byteStream, context).write(requests)
                            // the data's own failure (a digest mismatch) is the answer, not the call's cancellation
                            .onErrorMap(e -> dataFailure.get() != null ? dataFailure.get() : failures.of(operation, e))
                            .flatMap(response -> response.getCommittedSize() == digest.sizeBytes()
                                    ? Mono.<Void>empty()
                                    : Mono.error(new BackendException(name, "backend " + name + ": " + operation
                                            + " committed " + response.getCommittedSize() + " of " + digest.sizeBytes()
                                            + " bytes")));
                })).then();
    }

    /**
     * BatchUpdateBlobs, split to the server's advertised batch limit; a blob too large for any
     * batch goes by {@link #writeBlob}. A failed call fails the blobs it carried, each with the
     * reason; the server's per-blob statuses are each blob's own outcome.
     */
    @Override
    public Mono<List<BlobWrite>> writeBlobs(Scope scope, List<BlobData> blobs) {
        String instance = instanceName(scope);
        BatchUpdateBlobsRequest base = BatchUpdateBlobsRequest.newBuilder()
                .setInstanceName(instance)
                .setDigestFunction(scope.digestFunction().toProto())
                .build();
        return serverCapabilities(instance)
                .flatMapMany(caps -> {
                    long advertised = caps.getCacheCapabilities().getMaxBatchTotalSizeBytes();
                    long limit = advertised > 0 ? Math.min(advertised, BATCH_LIMIT_CEILING) : UNSTATED_BATCH_LIMIT;
                    List<BlobData> tooLarge = new ArrayList<>();
                    List<BatchUpdateBlobsRequest> batches = RequestSizes.batchUpdate(base, blobs, limit, tooLarge);
                    return Flux.merge(
                            Flux.fromIterable(batches).flatMap(this::batchUpdate, maxConcurrentCalls),
                            Flux.fromIterable(tooLarge).flatMap(blob -> writeBlob(scope, blob.digest(), Flux.just(blob.bytes()))
                                    .then(Mono.fromSupplier(() -> BlobWrite.stored(blob.digest())))
                                    .onErrorResume(e -> Mono.just(BlobWrite.failed(blob.digest(), e))), maxConcurrentCalls));
                })
                .collectMap(BlobWrite::digest)
                .map(outcomes -> blobs.stream()
                        .map(blob -> outcomes.getOrDefault(blob.digest(), BlobWrite.failed(blob.digest(),
                                new BackendException(name, "backend " + name + ": BatchUpdateBlobs answered without "
                                        + blob.digest()))))
                        .toList())
                .onErrorResume(e -> Mono.just(blobs.stream().map(blob -> BlobWrite.failed(blob.digest(), e)).toList()));
    }

    private Flux<BlobWrite> batchUpdate(BatchUpdateBlobsRequest request) {
        String operation = "BatchUpdateBlobs of " + request.getRequestsCount() + " blobs";
        return guard.unary(operation, () -> Mono.deferContextual(context -> forCall(cas, context)
                                .batchUpdateBlobs(request))
                        .onErrorMap(e -> failures.of(operation, e)))
                .flatMapIterable(response -> response.getResponsesList().stream().map(blob -> {
                    Digest digest = Digest.fromProto(blob.getDigest());
                    Status status = Status.fromCodeValue(blob.getStatus().getCode())
                            .withDescription(blob.getStatus().getMessage().isEmpty() ? null : blob.getStatus().getMessage());
                    return status.isOk() ? BlobWrite.stored(digest)
                            : BlobWrite.failed(digest, failures.of(operation + ": " + digest, status.asRuntimeException()));
                }).toList())
                .onErrorResume(e -> Flux.fromIterable(request.getRequestsList())
                        .map(blob -> BlobWrite.failed(Digest.fromProto(blob.getDigest()), e)));
    }

    /** {@code chunk} cut into messages of at most {@link #MAX_WRITE_CHUNK} bytes, without copying. */
    private static List<ByteBuffer> messageSized(ByteBuffer chunk) {
        if (chunk.remaining() <= MAX_WRITE_CHUNK) {
            return List.of(chunk);
        }
        List<ByteBuffer> parts = new ArrayList<>();
        for (int at = chunk.position(); at < chunk.limit(); at += MAX_WRITE_CHUNK) {
            ByteBuffer part = chunk.duplicate();
            part.position(at).limit(Math.min(chunk.limit(), at + MAX_WRITE_CHUNK));
            parts.add(part.slice());
        }
        return parts;
    }

    @Override
    public void close() {
        guard.close();
        channel.shutdown();
        try {
            if (!channel.awaitTermination(5, TimeUnit.SECONDS)) {
                channel.shutdownNow();
            }
        } catch (InterruptedException e) {
            channel.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }

    private String instanceName(Scope scope) {
        return instanceNameOverride != null ? instanceNameOverride : scope.instanceName();
    }

    /**
     * The stub for one call made within {@code context}: with its own deadline, and the request's
     * {@link CallMetadata} for the RequestMetadata header. Deadlines are absolute, so each call gets
     * its own, taken when the call starts: the call timeout, or what is left of the request's
     * {@link Deadline} when that is sooner.
     */
    private <S extends io.grpc.stub.AbstractStub<S>> S forCall(S stub, ContextView context) {
        return forCall(stub, context, CallMetadata.from(context));
    }

    private <S extends io.grpc.stub.AbstractStub<S>> S forCall(S stub, ContextView context, CallMetadata metadata) {
        Duration timeout = Deadline.from(context)
                .map(deadline -> min(callTimeout, deadline.remaining()))
                .orElse(callTimeout);
        return stub.withDeadlineAfter(timeout.toNanos(), TimeUnit.NANOSECONDS)
                .withOption(RequestMetadataHeader.CALL_OPTION, metadata)
                .withOption(ForwardedAuthorization.CALL_OPTION, CallerCredentials.from(context));
    }

    private static Duration min(Duration a, Duration b) {
        return a.compareTo(b) <= 0 ? a : b;
    }

    /**
     * The capabilities of {@code instance}, asked once and shared by every request. The call is made
     * within the deadline of the request that asks first (those asking meanwhile share its answer):
     * detached from every request, a hung server would hold it for the whole call timeout while
     * each request gave up unseen by the circuit breaker. Failures are not kept: the next call asks again.
     */
    private Mono<ServerCapabilities> serverCapabilities(String instance) {
        return Mono.deferContextual(asker -> capabilities.get(capabilitiesKey(instance, asker), key -> ask(instance)).call());
    }

    private CapabilitiesKey capabilitiesKey(String instance, ContextView asker) {
        return new CapabilitiesKey(instance, forwardCredentials ? CallerCredentials.from(asker).fingerprint() : "");
    }

    private Asked ask(String instance) {
        AtomicReference<BackendCapabilities> answer = new AtomicReference<>();
        Mono<ServerCapabilities> call = guard.unary("GetCapabilities",
                        () -> Mono.deferContextual(context -> forCall(capabilitiesStub, context)
                                        .getCapabilities(GetCapabilitiesRequest.newBuilder().setInstanceName(instance).build()))
                                .onErrorMap(e -> failures.of("GetCapabilities", e)))
                .doOnNext(caps -> {
                    log.debug("backend {} instance {}: {}", name, LogSafe.quote(instance),
                            TextFormat.shortDebugString(caps.getCacheCapabilities()));
                    answer.set(toBackendCapabilities(caps));
                })
                .cache(caps -> FOREVER, e -> Duration.ZERO, () -> Duration.ZERO);
        return new Asked(call, answer);
    }

    /** One instance's capabilities: the call shared by all who ask, and its answer once it came. */
    private record Asked(Mono<ServerCapabilities> call, AtomicReference<BackendCapabilities> answer) {
    }

    /**
     * Before the circuit's probes: after an outage the channel may be deep in its reconnect backoff
     * (up to 120 s), and while it waits every call fails at once with the error from before, so each
     * probe would reopen the circuit. Skips the backoff and waits until the channel is connected, at
     * most {@link #PROBE_CONNECT_WAIT} (or the call timeout, if shorter): the channel keeps reporting
     * TRANSIENT_FAILURE while it tries, so a server still down is only seen by the probe itself.
     */
    private Mono<Void> reconnect() {
        return Mono.<Void>create(sink -> {
                    AtomicBoolean over = new AtomicBoolean();
                    sink.onDispose(() -> over.set(true));
                    channel.resetConnectBackoff();
                    whenConnected(channel.getState(true), over, sink::success);
                })
                .timeout(min(PROBE_CONNECT_WAIT, callTimeout), Mono.empty());
    }

    private void whenConnected(ConnectivityState seen, AtomicBoolean over, Runnable connected) {
        if (seen == ConnectivityState.READY || seen == ConnectivityState.SHUTDOWN) {
            connected.run();
        } else if (!over.get()) {
            channel.notifyWhenStateChanged(seen, () -> whenConnected(channel.getState(true), over, connected));
        }
    }

    /**
     * Forgets the capabilities, and which calls were unimplemented, whenever the connection is lost,
     * so they are asked again on the next one: a server restarted behind the same address may have
     * changed its limits, or be another server. A server that
     * closes the connection cleanly sends the channel to IDLE, not TRANSIENT_FAILURE, so both count.
     */
    private void watchConnection(ConnectivityState seen) {
        channel.notifyWhenStateChanged(seen, () -> {
            ConnectivityState now = channel.getState(false);
            if (now == ConnectivityState.IDLE || now == ConnectivityState.TRANSIENT_FAILURE
                    || now == ConnectivityState.SHUTDOWN) {
                capabilities.invalidateAll();
                batchReadUnimplemented = false;
                getTreeUnimplemented = false;
            }
            if (now != ConnectivityState.SHUTDOWN) {
                watchConnection(now);
            }
        });
    }

    /**
     * Capabilities are asked with the asker's credentials when this backend forwards them, so one
     * caller's answer (or its refusal) is never another's: {@code caller} is the credentials'
     * {@link CallerCredentials#fingerprint}, "" when the backend sends its own.
     */
    private record CapabilitiesKey(String instance, String caller) {
    }

    private static BackendCapabilities toBackendCapabilities(ServerCapabilities server) {
        Set<DigestFunction> functions = EnumSet.noneOf(DigestFunction.class);
        var listed = server.getCacheCapabilities().getDigestFunctionsList();
        for (build.bazel.remote.execution.v2.DigestFunction.Value value : listed) {
            DigestFunction.fromProto(value).ifPresent(functions::add);
        }
        if (listed.isEmpty()) {
            // REAPI: a server that lists no digest function speaks SHA-256
            functions.add(DigestFunction.SHA256);
        }
        return new BackendCapabilities(functions, server.getCacheCapabilities().getMaxBatchTotalSizeBytes(), null,
                server.getCacheCapabilities().getActionCacheUpdateCapabilities().getUpdateEnabled());
    }

    /**
     * A call the server does not implement. Deliberately not a {@link BackendException}: the circuit
     * breaker counts it as an answer and the retry leaves it alone; the caller falls back.
     */
    private static final class Unimplemented extends RuntimeException {
        final String operation;

        Unimplemented(String operation, Throwable cause) {
            super(String.valueOf(Status.fromThrowable(cause).getDescription()), cause, false, false);
            this.operation = operation;
        }
    }
}
