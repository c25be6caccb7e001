package dev.vouch.backend.embedded.http;

import build.bazel.remote.execution.v2.ActionResult;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.vouch.backend.BlobNotFoundException;
import dev.vouch.backend.embedded.BlobStore;
import dev.vouch.backend.embedded.DigestMismatchException;
import dev.vouch.backend.embedded.StoreFullException;
import dev.vouch.backend.embedded.UploadStalledException;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.logging.LogSafe;
import java.net.URI;
import java.nio.ByteBuffer;
import java.util.OptionalLong;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferLimitException;
import org.springframework.core.io.buffer.DataBufferUtils;
import org.springframework.core.io.buffer.DefaultDataBufferFactory;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ProblemDetail;
import org.springframework.web.reactive.function.BodyExtractors;
import org.springframework.web.reactive.function.BodyInserters;
import org.springframework.web.reactive.function.server.ServerRequest;
import org.springframework.web.reactive.function.server.ServerResponse;
import org.springframework.web.server.ResponseStatusException;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * The Bazel HTTP cache protocol over the embedded store: {@code GET}/{@code HEAD}/{@code PUT} of
 * {@code ac/<hash>} (a serialized ActionResult) and {@code cas/<hash>} (a blob), SHA-256 only.
 * CAS bodies stream in both directions, in the store's chunks of at most 64 KiB with the
 * connection's backpressure, so a GET never holds a whole blob; only Action Cache values, at most
 * {@link BlobStore#MAX_ACTION_RESULT_BYTES}, are held whole, and {@code HEAD} reads nothing.
 */
public final class HttpCacheHandler {
    private static final Logger log = LoggerFactory.getLogger(HttpCacheHandler.class);
    private final BlobStore store;
    // vouch.limits.max-action-result-bytes: what the engine would read, so nothing larger is stored
    private final int maxActionResultBytes;

    public HttpCacheHandler(BlobStore store, int maxActionResultBytes) {
        this.store = store;
        this.maxActionResultBytes = maxActionResultBytes;
    }

    public Mono<ServerResponse> getActionResult(ServerRequest request) {
        return withHash(request, hash -> store.getActionResult(actionKey(hash))
                .flatMap(bytes -> ServerResponse.ok().contentType(MediaType.APPLICATION_OCTET_STREAM)
                        .contentLength(bytes.length).bodyValue(bytes))
                .switchIfEmpty(notFound("ac", hash)));
    }

    public Mono<ServerResponse> headActionResult(ServerRequest request) {
        // the length from the file's attributes: a HEAD never reads the entry
        return withHash(request, hash -> store.actionResultSize(actionKey(hash))
                .flatMap(size -> ServerResponse.ok().contentLength(size).build())
                .switchIfEmpty(ServerResponse.notFound().build()));
    }

    public Mono<ServerResponse> putActionResult(ServerRequest request) {
        return withHash(request, hash -> {
            OptionalLong length = request.headers().contentLength();
            if (length.isPresent() && length.getAsLong() > maxActionResultBytes) {
                return tooLarge(length.getAsLong());
            }
            return DataBufferUtils.join(request.body(BodyExtractors.toDataBuffers()), maxActionResultBytes)
                    .map(HttpCacheHandler::drain)
                    .defaultIfEmpty(new byte[0])
                    .flatMap(bytes -> storeActionResult(hash, bytes))
                    .onErrorResume(DataBufferLimitException.class, e -> tooLarge(-1));
        });
    }

    public Mono<ServerResponse> getBlob(ServerRequest request) {
        return withHash(request, hash -> store.blobSize(hash)
                .flatMap(size -> {
                    Flux<DataBuffer> body = store.read(new Digest(hash, size))
                            .<DataBuffer>map(DefaultDataBufferFactory.sharedInstance::wrap)
                            // deleted between the size check and the open: still a 404 while nothing is sent
                            .onErrorMap(BlobNotFoundException.class,
                                    e -> new ResponseStatusException(HttpStatus.NOT_FOUND, "cas/" + hash + " is not stored"));
                    return ServerResponse.ok().contentType(MediaType.APPLICATION_OCTET_STREAM).contentLength(size)
                            .body(BodyInserters.fromDataBuffers(body));
                })
                .switchIfEmpty(notFound("cas", hash)));
    }

    public Mono<ServerResponse> headBlob(ServerRequest request) {
        return withHash(request, hash -> store.blobSize(hash)
                .flatMap(size -> ServerResponse.ok().contentLength(size).build())
                .switchIfEmpty(ServerResponse.notFound().build()));
    }

    public Mono<ServerResponse> putBlob(ServerRequest request) {
        return withHash(request, hash -> {
            OptionalLong length = request.headers().contentLength();
            if (length.isEmpty()) {
                // the size is half of the digest, and we will not buffer a blob to learn it
                return problem(HttpStatus.LENGTH_REQUIRED, "length-required", "Length required",
                        "PUT cas/" + hash + " needs a Content-Length: the blob's size is part of its digest");
            }
            Digest digest = new Digest(hash, length.getAsLong());
            Flux<ByteBuffer> data = request.body(BodyExtractors.toDataBuffers()).map(HttpCacheHandler::copyOut);
            return store.write(digest, data)
                    .then(Mono.defer(() -> ServerResponse.ok().build()))
                    .onErrorResume(DigestMismatchException.class, e -> problem(HttpStatus.BAD_REQUEST, "digest-mismatch",
                            "Digest mismatch", e.getMessage() + "; nothing was stored"))
                    .onErrorResume(UploadStalledException.class, e -> problem(HttpStatus.REQUEST_TIMEOUT, "upload-stalled",
                            "Upload stalled", e.getMessage()))
                    .onErrorResume(StoreFullException.class, HttpCacheHandler::storeFull);
        });
    }

    private Mono<ServerResponse> storeActionResult(String hash, byte[] bytes) {
        ActionResult result;
        try {
            result = ActionResult.parseFrom(bytes);
        } catch (InvalidProtocolBufferException e) {
            // stored garbage would later read as a damaged entry; refuse it at the door instead
            return problem(HttpStatus.BAD_REQUEST, "invalid-action-result", "Invalid ActionResult",
                    "the body of PUT ac/" + hash + " is not a serialized ActionResult: " + e.getMessage());
        }
        return store.putActionResult(actionKey(hash), bytes)
                .doOnSuccess(stored -> log.info("stored action result {} over HTTP ({} output files, {} output directories;"
                                + " the HTTP protocol names an action by hash only, so its size is not known here)",
                        hash, result.getOutputFilesCount(), result.getOutputDirectoriesCount()))
                .then(Mono.defer(() -> ServerResponse.ok().build()))
                .onErrorResume(StoreFullException.class, HttpCacheHandler::storeFull);
    }

    /** Validates the {@code hash} path segment, runs {@code action}, and answers store failures as problems. */
    private static Mono<ServerResponse> withHash(ServerRequest request, Function<String, Mono<ServerResponse>> action) {
        String hash = request.pathVariable("hash");
        if (!isSha256(hash)) {
            return problem(HttpStatus.BAD_REQUEST, "invalid-request", "Invalid request",
                    "path segment hash '" + hash + "' of " + request.path() + " must be "
                            + DigestFunction.SHA256.hexLength() + " lowercase hex digits (SHA-256)");
        }
        return Mono.defer(() -> action.apply(hash))
                .onErrorResume(e -> !(e instanceof ResponseStatusException), e -> {
                    log.error("{} {} failed", request.method(), LogSafe.quote(request.path()), e);
                    return problem(HttpStatus.INTERNAL_SERVER_ERROR, "internal-error", "Internal error",
                            "the embedded cache could not complete the request; the cause is in the service log");
                });
    }

    /**
     * The store keys Action Cache entries by hash alone; over HTTP the action's size is unknown, so
     * a placeholder size stands in for it.
     */
    private static Digest actionKey(String hash) {
        return new Digest(hash, 0);
    }

    private static boolean isSha256(String hash) {
        return hash.length() == DigestFunction.SHA256.hexLength()
                && hash.chars().allMatch(c -> (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
    }

    /** The store may keep buffers past this call and on other threads; a pooled Netty buffer must not escape. */
    private static ByteBuffer copyOut(DataBuffer buffer) {
        return ByteBuffer.wrap(drain(buffer));
    }

    private static byte[] drain(DataBuffer buffer) {
        try {
            byte[] bytes = new byte[buffer.readableByteCount()];
            buffer.read(bytes);
            return bytes;
        } finally {
            DataBufferUtils.release(buffer);
        }
    }

    private static Mono<ServerResponse> storeFull(StoreFullException e) {
        return problem(HttpStatus.INSUFFICIENT_STORAGE, "store-full", "Store full", e.getMessage());
    }

    private static Mono<ServerResponse> notFound(String area, String hash) {
        return problem(HttpStatus.NOT_FOUND, "not-found", "Not found", area + "/" + hash + " is not stored");
    }

    private Mono<ServerResponse> tooLarge(long length) {
        return problem(HttpStatus.CONTENT_TOO_LARGE, "body-too-large", "Request body too large",
                "an Action Cache value may be at most " + maxActionResultBytes
                        + " bytes (vouch.limits.max-action-result-bytes)"
                        + (length >= 0 ? ", this one has " + length : ""));
    }

    private static Mono<ServerResponse> problem(HttpStatus status, String slug, String title, String detail) {
        ProblemDetail problem = ProblemDetail.forStatusAndDetail(status, detail);
        problem.setType(URI.create("urn:vouch:problem:" + slug));
        problem.setTitle(title);
        return ServerResponse.status(status).contentType(MediaType.APPLICATION_PROBLEM_JSON).bodyValue(problem);
    }
}
