package dev.vouch.backend.bazelhttp;

import build.bazel.remote.execution.v2.ActionResult;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.vouch.backend.BackendCapabilities;
import dev.vouch.backend.BackendException;
import dev.vouch.backend.BlobNotFoundException;
import dev.vouch.backend.Buffers;
import dev.vouch.backend.CacheBackend;
import dev.vouch.backend.CallGuard;
import dev.vouch.backend.CorruptBlobException;
import dev.vouch.backend.Deadline;
import dev.vouch.backend.MalformedBlobException;
import dev.vouch.backend.Scope;
import dev.vouch.config.Durations;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.digest.DigestSet;
import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferLimitException;
import org.springframework.core.io.buffer.DataBufferUtils;
import org.springframework.core.io.buffer.DefaultDataBufferFactory;
import org.springframework.http.HttpStatusCode;
import org.springframework.http.MediaType;
import org.springframework.web.reactive.function.BodyInserters;
import org.springframework.web.reactive.function.client.ClientResponse;
import org.springframework.web.reactive.function.client.WebClient;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.util.context.ContextView;

/**
 * A cache that speaks the Bazel HTTP cache protocol (bazel-remote, nginx WebDAV, object-store
 * gateways): {@code GET <url>/ac/<hash>}, {@code HEAD}/{@code GET <url>/cas/<hash>}, and for the
 * cache front's writes {@code PUT <url>/ac/<hash>} and {@code PUT <url>/cas/<hash>} (streamed, with
 * the blob's size as {@code Content-Length}). The protocol
 * has no instance names, no capabilities call and no batch existence check: one {@code HEAD} per
 * digest, bounded in concurrency. Each request (each {@code HEAD}, each {@code GET}) goes through
 * the backend's {@link CallGuard} on its own.
 *
 * <p>Only 404 means absent. Any other status, a timeout or a connection failure is a
 * {@link BackendException}: a cache we cannot reach has not told us that a blob is gone.
 */
public final class BazelHttpBackend implements CacheBackend, AutoCloseable {
    // the protocol has no capabilities call: what it can do is fixed
    private static final BackendCapabilities CAPABILITIES = new BackendCapabilities(Set.of(DigestFunction.SHA256), 0,
            "the Bazel HTTP cache protocol addresses blobs by SHA256 only");

    private final String name;
    private final String baseUrl;
    private final WebClient client;
    private final Duration callTimeout;
    private final int maxConcurrentCalls;
    private final int maxActionResultBytes;
    private final CallGuard guard;
    private final AutoCloseable resources;

    /**
     * @param baseUrl the cache's base URL, without a trailing slash; entries are at {@code <baseUrl>/ac/<hash>}
     * @param client a client with the backend's headers, credentials and response timeout
     * @param guard put around every request this backend makes
     * @param resources closed with this backend (the client's connection pool, the guard)
     */
    BazelHttpBackend(String name, String baseUrl, WebClient client, Duration callTimeout, int maxConcurrentCalls,
            int maxActionResultBytes, CallGuard guard, AutoCloseable resources) {
        this.maxActionResultBytes = maxActionResultBytes;
        this.name = name;
        this.baseUrl = baseUrl;
        this.client = client;
        this.callTimeout = callTimeout;
        this.maxConcurrentCalls = maxConcurrentCalls;
        this.guard = guard;
        this.resources = resources;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public Mono<BackendCapabilities> capabilities(Scope scope) {
        return Mono.just(CAPABILITIES);
    }

    @Override
    public Optional<BackendCapabilities> knownCapabilities(Scope scope, ContextView context) {
        return Optional.of(CAPABILITIES);
    }

    @Override
    public Mono<ActionResult> getActionResult(Scope scope, Digest action) {
        String path = "ac/" + action.hash();
        return Mono.defer(() -> {
            requireSha256(scope);
            return guard.unary("GET " + path, () -> client.get().uri(uri(path)).exchangeToMono(response -> {
                if (response.statusCode().value() == 404) {
                    return response.releaseBody().then(Mono.<ActionResult>empty());
                }
                if (!response.statusCode().is2xxSuccessful()) {
                    return failure(response, "GET", path);
                }
                return DataBufferUtils.join(response.bodyToFlux(DataBuffer.class), maxActionResultBytes)
                        .map(Buffers::drain)
                        .defaultIfEmpty(new byte[0])
                        .map(bytes -> parse(action, bytes))
                        // an entry too large to be one is the cache's answer, as a malformed one is: one planted
                        // huge entry asked for again and again must not open the circuit for every request
                        .onErrorMap(DataBufferLimitException.class, e -> new MalformedBlobException(action,
                                "Action Cache entry " + action + " is larger than " + maxActionResultBytes
                                        + " bytes (vouch.limits.max-action-result-bytes)", e));
            }).transform(call -> withinTimeout(call, "GET " + path)));
        });
    }

    @Override
    public Mono<DigestSet> findMissing(Scope scope, DigestSet digests) {
        return Mono.defer(() -> {
            requireSha256(scope);
            return Flux.fromIterable(digests)
                    // REAPI: the empty blob is always present, whatever the cache holds
                    .filter(d -> !d.isEmptyBlob(scope.digestFunction()))
                    .flatMap(d -> isMissing(d).filter(missing -> missing).map(missing -> d), maxConcurrentCalls)
                    .collect(Collectors.toSet())
                    .map(missing -> digests.filter(missing::contains));
        });
    }

    private Mono<Boolean> isMissing(Digest digest) {
        String path = "cas/" + digest.hash();
        return guard.unary("HEAD " + path, () -> client.head().uri(uri(path)).exchangeToMono(response -> {
            int status = response.statusCode().value();
            if (status == 404) {
                return response.releaseBody().thenReturn(true);
            }
            if (!response.statusCode().is2xxSuccessful()) {
                return failure(response, "HEAD", path);
            }
            // a blob of another size under this hash (truncated, or a different blob) is not this digest's blob
            long length = response.headers().contentLength().orElse(digest.sizeBytes());
            return response.releaseBody().thenReturn(length != digest.sizeBytes());
        }).transform(call -> withinTimeout(call, "HEAD " + path)));
    }

    @Override
    public Flux<ByteBuffer> readBlob(Scope scope, Digest digest) {
        return guard.stream("GET cas/" + digest.hash(), () -> get(scope, digest));
    }

    private Flux<ByteBuffer> get(Scope scope, Digest digest) {
        String path = "cas/" + digest.hash();
        return Flux.defer(() -> {
            requireSha256(scope);
            if (digest.isEmptyBlob(scope.digestFunction())) {
                return Flux.empty();
            }
            return client.get().uri(uri(path)).<ByteBuffer>exchangeToFlux(response -> {
                if (response.statusCode().value() == 404) {
                    return response.releaseBody().thenMany(Flux.<ByteBuffer>error(new BlobNotFoundException(digest)));
                }
                if (!response.statusCode().is2xxSuccessful()) {
                    return this.<ByteBuffer>failure(response, "GET", path).flux();
                }
                // copy out of (pooled) Netty buffers and release them at once; callers keep ByteBuffers. A
                // body running past the size is cancelled there, which closes the connection: answering
                // early from the Content-Length would have WebClient drain the whole body instead
                return CacheBackend.withinSize(digest,
                        response.bodyToFlux(DataBuffer.class).map(buffer -> ByteBuffer.wrap(Buffers.drain(buffer))));
            });
        }).onErrorMap(e -> toBackendException("GET " + path, e, callTimeout));
    }

    /** {@code HEAD <url>/cas/<hash>}: its {@code Content-Length}, or empty on 404. */
    @Override
    public Mono<Long> blobSize(Scope scope, String hash) {
        String path = "cas/" + hash;
        return Mono.defer(() -> {
            requireSha256(scope);
            return guard.unary("HEAD " + path, () -> client.head().uri(uri(path)).exchangeToMono(response -> {
                if (response.statusCode().value() == 404) {
                    return response.releaseBody().then(Mono.<Long>empty());
                }
                if (!response.statusCode().is2xxSuccessful()) {
                    return failure(response, "HEAD", path);
                }
                OptionalLong length = response.headers().contentLength();
                return response.releaseBody().then(length.isPresent() ? Mono.just(length.getAsLong())
                        : Mono.error(new BackendException(name, "HEAD " + baseUrl + "/" + path
                                + " answered without a Content-Length")));
            }).transform(call -> withinTimeout(call, "HEAD " + path)));
        });
    }

    /** {@code PUT <url>/ac/<hash>} of the serialized result; the protocol names actions by hash alone. */
    @Override
    public Mono<Void> updateActionResult(Scope scope, Digest action, ActionResult result) {
        String path = "ac/" + action.hash();
        return Mono.defer(() -> {
            requireSha256(scope);
            byte[] body = result.toByteArray();
            return guard.unary("PUT " + path, () -> client.put().uri(uri(path))
                    .contentType(MediaType.APPLICATION_OCTET_STREAM)
                    .contentLength(body.length)
                    .bodyValue(body)
                    .exchangeToMono(response -> stored(response, path))
                    .transform(call -> withinTimeout(call, "PUT " + path)));
        });
    }

    /**
     * {@code PUT <url>/cas/<hash>} with the blob's size as {@code Content-Length}, the body streamed
     * from {@code data} as the connection takes it (never held whole). Since the length is declared,
     * a body that stops before its last bytes (a verifying source that found a mismatch) is an
     * incomplete request that no server stores. Made once, never retried.
     */
    @Override
    public Mono<Void> writeBlob(Scope scope, Digest digest, Flux<ByteBuffer> data) {
        String path = "cas/" + digest.hash();
        return Mono.defer(() -> {
            requireSha256(scope);
            if (digest.isEmptyBlob(scope.digestFunction())) {
                // the empty blob is always present, whatever the cache holds
                return data.then();
            }
            return guard.unaryOnce("PUT " + path, () -> Mono.defer(() -> {
                AtomicReference<Throwable> dataFailure = new AtomicReference<>();
                Flux<DataBuffer> body = data.doOnError(dataFailure::set)
                        .map(DefaultDataBufferFactory.sharedInstance::wrap);
                return client.put().uri(uri(path))
                        .contentType(MediaType.APPLICATION_OCTET_STREAM)
                        .contentLength(digest.sizeBytes())
                        .body(BodyInserters.fromDataBuffers(body))
                        .exchangeToMono(response -> stored(response, path))
                        .transform(call -> withinTimeout(call, "PUT " + path))
                        // the data's own failure (a digest mismatch) is the answer, not the aborted request
                        .onErrorMap(e -> dataFailure.get() != null, e -> dataFailure.get());
            }));
        });
    }

    private Mono<Void> stored(ClientResponse response, String path) {
        if (!response.statusCode().is2xxSuccessful()) {
            return failure(response, "PUT", path);
        }
        return response.releaseBody();
    }

    @Override
    public void close() throws Exception {
        resources.close();
    }

    private URI uri(String path) {
        return URI.create(baseUrl + "/" + path);
    }

    private <T> Mono<T> failure(ClientResponse response, String method, String path) {
        HttpStatusCode status = response.statusCode();
        return response.releaseBody().then(Mono.error(new BackendException(name,
                method + " " + baseUrl + "/" + path + " answered HTTP " + status.value()
                        + (status.value() == 401 || status.value() == 403 ? " (check the backend's auth and headers)" : ""),
                isRetryable(status.value()))));
    }

    /** Too many requests, or a gateway whose upstream is down or slow: worth another try. 400, 401, 403, 500 are not. */
    static boolean isRetryable(int status) {
        return status == 429 || status == 502 || status == 503 || status == 504;
    }

    /** An entry that does not parse is the cache's answer, malformed, as over gRPC: not a failure of the cache. */
    private static ActionResult parse(Digest action, byte[] bytes) {
        try {
            return ActionResult.parseFrom(bytes);
        } catch (InvalidProtocolBufferException e) {
            throw new MalformedBlobException(action, "Action Cache entry " + action + " is not a valid ActionResult", e);
        }
    }

    private void requireSha256(Scope scope) {
        if (scope.digestFunction() != DigestFunction.SHA256) {
            throw new BackendException(name, "the Bazel HTTP cache protocol addresses blobs by SHA256 only, not "
                    + scope.digestFunction());
        }
    }

    /**
     * One call within the call timeout, or within what is left of the request's {@link Deadline}
     * when that is sooner: a validation that has given up gains nothing from a later answer.
     */
    private <T> Mono<T> withinTimeout(Mono<T> call, String what) {
        return Mono.deferContextual(context -> {
            Duration timeout = Deadline.from(context)
                    .map(Deadline::remaining)
                    .filter(remaining -> remaining.compareTo(callTimeout) < 0)
                    .orElse(callTimeout);
            return call.timeout(timeout).onErrorMap(e -> toBackendException(what, e, timeout));
        });
    }

    /** Absence, malformed answers and our own errors pass through; everything else (I/O, timeouts, limits) is "could not answer". */
    private Throwable toBackendException(String call, Throwable e, Duration timeout) {
        if (e instanceof BackendException || e instanceof BlobNotFoundException || e instanceof CorruptBlobException
                || e instanceof MalformedBlobException) {
            return e;
        }
        String why;
        boolean retryable = isTimeout(e) || isConnectionFailure(e);
        if (isTimeout(e)) {
            why = "no answer within " + Durations.format(timeout);
        } else if (e instanceof DataBufferLimitException) {
            why = "the answer is larger than " + maxActionResultBytes + " bytes (vouch.limits.max-action-result-bytes)";
        } else {
            why = describe(e);
        }
        return new BackendException(name, call + " at " + baseUrl + " failed: " + why, e, retryable);
    }

    /** Reactor's own deadline, or Reactor Netty's response timeout (wrapped by WebClient). */
    private static boolean isTimeout(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof TimeoutException || t instanceof io.netty.handler.timeout.TimeoutException) {
                return true;
            }
        }
        return false;
    }

    /** Refused, reset or closed early: the socket failed, not the request; over-size answers are not I/O errors. */
    private static boolean isConnectionFailure(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof IOException || t instanceof reactor.netty.channel.AbortedException) {
                return true;
            }
        }
        return false;
    }

    /** The innermost useful message: WebClient wraps the socket-level cause that says what happened. */
    private static String describe(Throwable e) {
        Throwable cause = e;
        while (cause.getCause() != null && cause.getCause() != cause) {
            cause = cause.getCause();
        }
        String message = cause.getMessage();
        if (message == null) {
            return cause.getClass().getSimpleName();
        }
        return message;
    }
}
