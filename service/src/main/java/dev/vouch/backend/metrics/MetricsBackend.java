package dev.vouch.backend.metrics;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.Directory;
import build.bazel.remote.execution.v2.Tree;
import dev.vouch.backend.BackendCapabilities;
import dev.vouch.backend.BlobData;
import dev.vouch.backend.BlobNotFoundException;
import dev.vouch.backend.BlobWrite;
import dev.vouch.backend.CacheBackend;
import dev.vouch.backend.MalformedBlobException;
import dev.vouch.backend.NotSupportedException;
import dev.vouch.backend.Scope;
import dev.vouch.backend.StoreFullException;
import dev.vouch.backend.UploadStalledException;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestMismatchException;
import dev.vouch.digest.DigestSet;
import io.github.resilience4j.bulkhead.BulkheadFullException;
import io.github.resilience4j.circuitbreaker.CallNotPermittedException;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.SignalType;
import reactor.util.context.ContextView;

/**
 * Times every call to a backend as {@code vouch.backend.call} (Prometheus
 * {@code vouch_backend_call_seconds}) with tags {@code backend}, {@code operation} and
 * {@code outcome}. It sits outside the backend, whose resilience guards sit at each wire call
 * inside it: one timing per logical call, its wire calls, retries and their waits included, which
 * is the latency the validation saw; attempts are counted by resilience4j's own retry meters.
 *
 * <p>Operations: {@code capabilities}, {@code get_action_result}, {@code find_missing},
 * {@code read_blob} (also Tree and Directory messages, and reads from an offset), {@code get_tree};
 * and for the cache front {@code blob_size} (a blob looked up by hash alone),
 * {@code update_action_result}, {@code write_blob} (one streamed upload) and {@code write_blobs} (a
 * batch; its blobs' own outcomes are in the answer). Outcomes: {@code success}, {@code absent} (no
 * AC entry, blob not found), {@code malformed}, {@code refused} (the writer's doing: bytes that do
 * not match their digest, a full store, a stalled upload), {@code unsupported} (the backend's
 * protocol cannot do it), {@code circuit_open}, {@code bulkhead_full}, {@code timeout},
 * {@code error}, {@code cancelled} (the caller stopped listening, e.g. a request that ended first).
 */
public final class MetricsBackend implements CacheBackend, AutoCloseable {
    public static final String METER = "vouch.backend.call";

    private final CacheBackend delegate;
    private final MeterRegistry registry;
    private final ConcurrentHashMap<String, Timer> timers = new ConcurrentHashMap<>();

    public MetricsBackend(CacheBackend delegate, MeterRegistry registry) {
        this.delegate = delegate;
        this.registry = registry;
    }

    @Override
    public String name() {
        return delegate.name();
    }

    @Override
    public Mono<BackendCapabilities> capabilities(Scope scope) {
        // asked before every validation, but mostly answered without a call (a constant, or the
        // server's earlier answer): only a real call is counted, or the rate would be the request rate
        return Mono.deferContextual(context -> delegate.knownCapabilities(scope, context)
                .map(Mono::just)
                .orElseGet(() -> timed("capabilities", () -> delegate.capabilities(scope).flux(), false).singleOrEmpty()));
    }

    @Override
    public Optional<BackendCapabilities> knownCapabilities(Scope scope, ContextView context) {
        return delegate.knownCapabilities(scope, context);
    }

    @Override
    public Mono<ActionResult> getActionResult(Scope scope, Digest action) {
        return timed("get_action_result", () -> delegate.getActionResult(scope, action).flux(), true).singleOrEmpty();
    }

    @Override
    public Mono<DigestSet> findMissing(Scope scope, DigestSet digests) {
        return timed("find_missing", () -> delegate.findMissing(scope, digests).flux(), false).singleOrEmpty();
    }

    @Override
    public Flux<ByteBuffer> readBlob(Scope scope, Digest digest) {
        return timed("read_blob", () -> delegate.readBlob(scope, digest), false);
    }

    @Override
    public Flux<ByteBuffer> readBlob(Scope scope, Digest digest, long offset, long limit) {
        return timed("read_blob", () -> delegate.readBlob(scope, digest, offset, limit), false);
    }

    @Override
    public Mono<Long> blobSize(Scope scope, String hash) {
        return timed("blob_size", () -> delegate.blobSize(scope, hash).flux(), true).singleOrEmpty();
    }

    @Override
    public Mono<Void> updateActionResult(Scope scope, Digest action, ActionResult result) {
        return timed("update_action_result", () -> delegate.updateActionResult(scope, action, result).flux(), false)
                .then();
    }

    @Override
    public Mono<Void> writeBlob(Scope scope, Digest digest, Flux<ByteBuffer> data) {
        return timed("write_blob", () -> delegate.writeBlob(scope, digest, data).flux(), false).then();
    }

    @Override
    public Mono<List<BlobWrite>> writeBlobs(Scope scope, List<BlobData> blobs) {
        return timed("write_blobs", () -> delegate.writeBlobs(scope, blobs).flux(), false).singleOrEmpty();
    }

    @Override
    public Mono<byte[]> readSmallBlob(Scope scope, Digest digest) {
        return timed("read_blob", () -> delegate.readSmallBlob(scope, digest).flux(), false).singleOrEmpty();
    }

    @Override
    public Mono<Tree> readTree(Scope scope, Digest treeDigest) {
        return timed("read_blob", () -> delegate.readTree(scope, treeDigest).flux(), false).singleOrEmpty();
    }

    @Override
    public Mono<Directory> readDirectory(Scope scope, Digest directoryDigest) {
        return timed("read_blob", () -> delegate.readDirectory(scope, directoryDigest).flux(), false).singleOrEmpty();
    }

    @Override
    public Flux<Directory> getTree(Scope scope, Digest rootDirectory) {
        return timed("get_tree", () -> delegate.getTree(scope, rootDirectory), false);
    }

    private <T> Flux<T> timed(String operation, Supplier<Flux<T>> call, boolean emptyIsAbsent) {
        return Flux.defer(() -> {
            Timer.Sample sample = Timer.start(registry);
            AtomicBoolean answered = new AtomicBoolean();
            AtomicReference<String> failure = new AtomicReference<>();
            return call.get()
                    .doOnNext(element -> answered.set(true))
                    .doOnError(e -> failure.set(outcomeOf(e)))
                    .doFinally(signal -> {
                        String outcome;
                        if (signal == SignalType.CANCEL) {
                            outcome = "cancelled";
                        } else if (failure.get() != null) {
                            outcome = failure.get();
                        } else {
                            outcome = emptyIsAbsent && !answered.get() ? "absent" : "success";
                        }
                        sample.stop(timer(operation, outcome));
                    });
        });
    }

    private Timer timer(String operation, String outcome) {
        // looked up per backend call; building and registering a Timer each time cost more than the call to the embedded store
        return timers.computeIfAbsent(operation + '\0' + outcome, key -> newTimer(operation, outcome));
    }

    private Timer newTimer(String operation, String outcome) {
        return Timer.builder(METER)
                .description("Calls to a backend, retries included, by operation and outcome")
                .tag("backend", delegate.name())
                .tag("operation", operation)
                .tag("outcome", outcome)
                .publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofMillis(1))
                .maximumExpectedValue(Duration.ofSeconds(60))
                .register(registry);
    }

    static String outcomeOf(Throwable error) {
        if (error instanceof BlobNotFoundException) {
            return "absent";
        }
        if (error instanceof MalformedBlobException) {
            return "malformed";
        }
        if (error instanceof DigestMismatchException || error instanceof StoreFullException
                || error instanceof UploadStalledException) {
            return "refused";
        }
        if (error instanceof NotSupportedException) {
            return "unsupported";
        }
        // the resilience layer keeps resilience4j's refusal, or the time-out, as the cause of its BackendException
        for (Throwable t = error; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof CallNotPermittedException) {
                return "circuit_open";
            }
            if (t instanceof BulkheadFullException) {
                return "bulkhead_full";
            }
            if (t instanceof TimeoutException) {
                return "timeout";
            }
        }
        return "error";
    }

    @Override
    public void close() throws Exception {
        if (delegate instanceof AutoCloseable closeable) {
            closeable.close();
        }
    }
}
