package dev.vouch.front.http;

import build.bazel.remote.execution.v2.ActionResult;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.vouch.auth.AuthException;
import dev.vouch.auth.AuthProblems;
import dev.vouch.auth.AuthWebFilter;
import dev.vouch.auth.Authorizer;
import dev.vouch.auth.Right;
import dev.vouch.backend.BackendException;
import dev.vouch.backend.BlobNotFoundException;
import dev.vouch.backend.Buffers;
import dev.vouch.backend.CacheBackend;
import dev.vouch.backend.Deadline;
import dev.vouch.backend.NotSupportedException;
import dev.vouch.backend.Scope;
import dev.vouch.backend.StoreFullException;
import dev.vouch.backend.UploadStalledException;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.digest.DigestMismatchException;
import dev.vouch.digest.VerifiedStream;
import dev.vouch.front.ActionCacheLookup;
import dev.vouch.front.BadRequestException;
import dev.vouch.front.FrontBackends;
import dev.vouch.front.Lookup;
import dev.vouch.logging.LogSafe;
import java.net.URI;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferLimitException;
import org.springframework.core.io.buffer.DataBufferUtils;
import org.springframework.core.io.buffer.DefaultDataBufferFactory;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ProblemDetail;
import org.springframework.http.server.PathContainer;
import org.springframework.web.reactive.function.BodyExtractors;
import org.springframework.web.reactive.function.BodyInserters;
import org.springframework.web.reactive.function.server.ServerRequest;
import org.springframework.web.reactive.function.server.ServerResponse;
import org.springframework.web.server.ResponseStatusException;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;

/**
 * The Bazel HTTP cache protocol at the cache front: {@code GET}/{@code HEAD}/{@code PUT} of
 * {@code [<instance>/]ac/<hash>} (a serialized ActionResult) and {@code [<instance>/]cas/<hash>} (a
 * blob), SHA-256 only, for the backend the instance name routes to. {@code GET} and {@code HEAD} of
 * an Action Cache entry answer it only when its closure is complete ({@link ActionCacheLookup}):
 * incomplete is 404, undecidable 503. CAS bodies stream in both directions with the connection's
 * backpressure, so a GET or PUT never holds a whole blob; a PUT is hashed while it is forwarded and
 * its last chunk held back until the digest checks out ({@link VerifiedStream}), so a wrong blob is
 * refused (400) before the backend has all of it. Only Action Cache values, at most
 * {@code vouch.limits.max-action-result-bytes}, are held whole.
 *
 * <p>The protocol names actions and blobs by hash alone. Actions are looked up under the hash with
 * size 0 (the embedded store and the {@code http} protocol key them by hash; REAPI servers that
 * key by hash and size may not find them); a blob's size comes from the backend
 * ({@link CacheBackend#blobSize}), which REAPI servers cannot tell: 501 for a {@code grpc} backend.
 */
public final class HttpCacheHandler {
    private static final Logger log = LoggerFactory.getLogger(HttpCacheHandler.class);
    // chunks of an upload queued for hashing off the event loop
    private static final int HASH_PREFETCH = 4;

    private final FrontBackends backends;
    private final ActionCacheLookup lookup;
    // vouch.limits.max-action-result-bytes: what the engine would read, so nothing larger is stored
    private final int maxActionResultBytes;
    private final Duration deadline;
    private final Scheduler hashing;
    private final Authorizer authorizer;

    /**
     * @param deadline how long one request may take ({@code vouch.limits.default-deadline}: Bazel sends none)
     * @param authorizer GET and HEAD need the right {@code read}, PUT {@code write} on the instance name
     * @param hashing the bounded I/O scheduler: hashing a large upload on the event loop would stall
     *     every connection it serves
     */
    public HttpCacheHandler(FrontBackends backends, ActionCacheLookup lookup, int maxActionResultBytes, Duration deadline,
            Authorizer authorizer, Scheduler hashing) {
        this.hashing = hashing;
        this.authorizer = authorizer;
        this.backends = backends;
        this.lookup = lookup;
        this.maxActionResultBytes = maxActionResultBytes;
        this.deadline = deadline;
    }

    public Mono<ServerResponse> get(ServerRequest request) {
        return withPath(request, Right.READ, path -> path.actionCache() ? getActionResult(path, true) : getBlob(path));
    }

    public Mono<ServerResponse> head(ServerRequest request) {
        return withPath(request, Right.READ, path -> path.actionCache() ? getActionResult(path, false) : headBlob(path));
    }

    public Mono<ServerResponse> put(ServerRequest request) {
        return withPath(request, Right.WRITE, path -> path.actionCache() ? putActionResult(request, path) : putBlob(request, path));
    }

    /** GET, or HEAD without the body: the same lookup, so HEAD never says 200 where GET says 404. */
    private Mono<ServerResponse> getActionResult(CachePath path, boolean withBody) {
        return backends.forScope(path.scope())
                // a backend that cannot say what it supports is left to the lookup, which counts it UNKNOWN
                .onErrorResume(e -> !(e instanceof BadRequestException), e -> Mono.empty())
                .then(lookup.lookUp(path.scope(), path.actionKey()))
                .flatMap(answer -> {
                    if (answer instanceof Lookup.Served served) {
                        byte[] bytes = served.result().toByteArray();
                        ServerResponse.BodyBuilder ok = ServerResponse.ok().contentType(MediaType.APPLICATION_OCTET_STREAM)
                                .contentLength(bytes.length);
                        return withBody ? ok.bodyValue(bytes) : ok.build();
                    }
                    if (answer instanceof Lookup.NotFound notFound) {
                        return problem(HttpStatus.NOT_FOUND, "not-found", "Not found", notFound.why());
                    }
                    return problem(HttpStatus.SERVICE_UNAVAILABLE, "backend-unavailable", "Backend unavailable",
                            ((Lookup.Unavailable) answer).why());
                });
    }

    private Mono<ServerResponse> putActionResult(ServerRequest request, CachePath path) {
        OptionalLong length = request.headers().contentLength();
        if (length.isPresent() && length.getAsLong() > maxActionResultBytes) {
            return tooLarge(length.getAsLong());
        }
        return DataBufferUtils.join(request.body(BodyExtractors.toDataBuffers()), maxActionResultBytes)
                .map(Buffers::drain)
                .defaultIfEmpty(new byte[0])
                .flatMap(bytes -> storeActionResult(path, bytes))
                .onErrorResume(DataBufferLimitException.class, e -> tooLarge(-1));
    }

    private Mono<ServerResponse> storeActionResult(CachePath path, byte[] bytes) {
        ActionResult result;
        try {
            result = ActionResult.parseFrom(bytes);
        } catch (InvalidProtocolBufferException e) {
            // stored garbage would later read as a damaged entry; refuse it at the door instead
            return problem(HttpStatus.BAD_REQUEST, "invalid-action-result", "Invalid ActionResult",
                    "the body of PUT " + path + " is not a serialized ActionResult: " + e.getMessage());
        }
        return backends.forScope(path.scope())
                .flatMap(backend -> backend.updateActionResult(path.scope(), path.actionKey(), result)
                        .doOnSuccess(stored -> log.info("stored action result {} over HTTP ({} output files, {} output"
                                        + " directories) in backend {}, instance {}; the HTTP protocol names an action by"
                                        + " hash only, so its size is not known here", path.hash(),
                                result.getOutputFilesCount(), result.getOutputDirectoriesCount(), backend.name(),
                                LogSafe.quote(path.instanceName()))))
                .then(Mono.defer(() -> ServerResponse.ok().build()));
    }

    private Mono<ServerResponse> getBlob(CachePath path) {
        Scope scope = path.scope();
        return backends.forScope(scope).flatMap(backend -> backend.blobSize(scope, path.hash())
                .flatMap(size -> {
                    Flux<DataBuffer> body = backend.readBlob(scope, new Digest(path.hash(), size))
                            .<DataBuffer>map(DefaultDataBufferFactory.sharedInstance::wrap)
                            // gone between the size and the read: still a 404 while nothing is sent
                            .onErrorMap(BlobNotFoundException.class,
                                    e -> new ResponseStatusException(HttpStatus.NOT_FOUND, path + " is not stored"));
                    return ServerResponse.ok().contentType(MediaType.APPLICATION_OCTET_STREAM).contentLength(size)
                            .body(BodyInserters.fromDataBuffers(body));
                })
                .switchIfEmpty(Mono.defer(() -> problem(HttpStatus.NOT_FOUND, "not-found", "Not found",
                        path + " is not stored in backend " + backend.name()))));
    }

    private Mono<ServerResponse> headBlob(CachePath path) {
        return backends.forScope(path.scope()).flatMap(backend -> backend.blobSize(path.scope(), path.hash()))
                .flatMap(size -> ServerResponse.ok().contentLength(size).build())
                .switchIfEmpty(Mono.defer(() -> ServerResponse.notFound().build()));
    }

    private Mono<ServerResponse> putBlob(ServerRequest request, CachePath path) {
        OptionalLong length = request.headers().contentLength();
        if (length.isEmpty()) {
            // the size is half of the digest, and we will not buffer a blob to learn it
            return problem(HttpStatus.LENGTH_REQUIRED, "length-required", "Length required",
                    "PUT " + path + " needs a Content-Length: the blob's size is part of its digest");
        }
        Digest digest = new Digest(path.hash(), length.getAsLong());
        Flux<ByteBuffer> data = request.body(BodyExtractors.toDataBuffers())
                .map(HttpCacheHandler::copyOut)
                .publishOn(hashing, HASH_PREFETCH);
        return backends.forScope(path.scope())
                .flatMap(backend -> backend.writeBlob(path.scope(), digest,
                        VerifiedStream.of(digest, DigestFunction.SHA256, data)))
                .then(Mono.defer(() -> ServerResponse.ok().build()))
                .onErrorResume(DigestMismatchException.class, e -> problem(HttpStatus.BAD_REQUEST, "digest-mismatch",
                        "Digest mismatch", e.getMessage() + "; nothing was stored"))
                .onErrorResume(UploadStalledException.class, e -> problem(HttpStatus.REQUEST_TIMEOUT, "upload-stalled",
                        "Upload stalled", e.getMessage()));
    }

    /**
     * Parses the path, runs {@code action} within the request's deadline, and answers what the
     * backend could not do as problems: 501 for what its protocol cannot do, 503 for a backend that
     * could not answer, 507 for a full store, 500 for anything else.
     */
    private Mono<ServerResponse> withPath(ServerRequest request, Right right,
            Function<CachePath, Mono<ServerResponse>> action) {
        CachePath path;
        try {
            path = CachePath.parse(request);
        } catch (BadRequestException e) {
            return problem(HttpStatus.BAD_REQUEST, "invalid-request", "Invalid request", e.getMessage());
        } catch (ResponseStatusException e) {
            return problem(HttpStatus.NOT_FOUND, "not-found", "Not found", e.getReason());
        }
        try {
            // before any backend is asked or any byte of a body is read
            authorizer.check(AuthWebFilter.identity(request.exchange()), path.instanceName(), right);
        } catch (AuthException e) {
            ServerResponse.BodyBuilder refused = ServerResponse.status(AuthProblems.status(e))
                    .contentType(MediaType.APPLICATION_PROBLEM_JSON);
            if (!e.forbidden()) {
                refused.header(HttpHeaders.WWW_AUTHENTICATE, AuthProblems.challenge(e));
            }
            return refused.bodyValue(AuthProblems.body(e, request.path()));
        }
        return Mono.defer(() -> action.apply(path))
                .onErrorResume(BadRequestException.class, e -> problem(HttpStatus.BAD_REQUEST, "invalid-request",
                        "Invalid request", e.getMessage()))
                .onErrorResume(StoreFullException.class, e -> problem(HttpStatus.INSUFFICIENT_STORAGE, "store-full",
                        "Store full", e.getMessage()))
                .onErrorResume(NotSupportedException.class, e -> problem(HttpStatus.NOT_IMPLEMENTED, "not-supported",
                        "Not supported", e.getMessage()))
                .onErrorResume(BackendException.class, e -> {
                    log.info("{} {} at the cache front: backend unavailable: {}", request.method(),
                            LogSafe.quote(request.path()), LogSafe.escape(e.getMessage()));
                    return problem(HttpStatus.SERVICE_UNAVAILABLE, "backend-unavailable", "Backend unavailable",
                            e.getMessage());
                })
                .onErrorResume(e -> !(e instanceof ResponseStatusException), e -> {
                    log.error("{} {} failed", request.method(), LogSafe.quote(request.path()), e);
                    return problem(HttpStatus.INTERNAL_SERVER_ERROR, "internal-error", "Internal error",
                            "the cache front could not complete the request; the cause is in the service log");
                })
                .contextWrite(Deadline.in(deadline)::addTo);
    }

    /** The store may keep buffers past this call and on other threads; a pooled Netty buffer must not escape. */
    private static ByteBuffer copyOut(DataBuffer buffer) {
        return ByteBuffer.wrap(Buffers.drain(buffer));
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

    /**
     * A path of the protocol: {@code /cache/[<instance>/](ac|cas)/<hash>}, read from the end, so an
     * instance name may have any segments (even {@code ac}); segments are percent-decoded.
     */
    record CachePath(String instanceName, boolean actionCache, String hash, String raw) {

        static CachePath parse(ServerRequest request) {
            List<String> segments = new ArrayList<>();
            for (PathContainer.Element element : request.requestPath().pathWithinApplication().elements()) {
                if (element instanceof PathContainer.PathSegment segment) {
                    segments.add(segment.valueToMatch());
                }
            }
            // segments[0] is "cache"; then the instance's segments, the area and the hash
            if (segments.size() < 3 || !(segments.get(segments.size() - 2).equals("ac")
                    || segments.get(segments.size() - 2).equals("cas"))) {
                throw new ResponseStatusException(HttpStatus.NOT_FOUND, LogSafe.quote(request.path())
                        + " is not a cache path: expected /cache/[<instance>/]ac/<hash> or /cache/[<instance>/]cas/<hash>");
            }
            List<String> instance = segments.subList(1, segments.size() - 2);
            if (instance.stream().anyMatch(String::isEmpty)) {
                throw new BadRequestException("the instance name in " + request.path() + " has an empty segment");
            }
            String hash = segments.get(segments.size() - 1);
            if (!isSha256(hash)) {
                throw new BadRequestException("path segment hash '" + hash + "' of " + request.path() + " must be "
                        + DigestFunction.SHA256.hexLength() + " lowercase hex digits (SHA-256)");
            }
            String area = segments.get(segments.size() - 2);
            return new CachePath(String.join("/", instance), area.equals("ac"), hash, area + "/" + hash);
        }

        Scope scope() {
            return new Scope(instanceName, DigestFunction.SHA256);
        }

        /** The Action Cache key: the protocol names an action by hash only, so size 0 stands in for its size. */
        Digest actionKey() {
            return new Digest(hash, 0);
        }

        @Override
        public String toString() {
            return instanceName.isEmpty() ? raw : instanceName + "/" + raw;
        }

        private static boolean isSha256(String hash) {
            return hash.length() == DigestFunction.SHA256.hexLength()
                    && hash.chars().allMatch(c -> (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
        }
    }
}
