package dev.vouch.faults;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.Directory;
import build.bazel.remote.execution.v2.OutputFile;
import dev.vouch.backend.BackendCapabilities;
import dev.vouch.backend.BackendException;
import dev.vouch.backend.CacheBackend;
import dev.vouch.backend.Scope;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestSet;
import io.grpc.Status;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeoutException;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;

/**
 * A {@link CacheBackend} decorator that injects faults per call, by operation, as a {@link FaultPlan}
 * says: errors (retryable or not), timeouts, hangs, delays, empty answers, and corrupt, truncated or
 * reset blob reads. Delays and hang limits run on the given timer, so a test on a virtual-time
 * scheduler never sleeps. Every fault applied is recorded with what it applied to, so a test can
 * tell an answer the backend was made to give from one the validator invented.
 *
 * <p>Tree and Directory reads go through the defaults of {@link CacheBackend}, hence through
 * {@link #readBlob} and its faults; {@link #getTree} is an operation of its own.
 */
public final class FaultyBackend implements CacheBackend {

    public enum Operation { CAPABILITIES, GET_ACTION_RESULT, FIND_MISSING, READ_BLOB, GET_TREE }

    /** One fault applied: to which operation, about which digest (the action, blob or tree root; null for sets). */
    public record Injected(Operation operation, Digest subject, Fault fault) {
    }

    private final CacheBackend delegate;
    private final FaultPlan plan;
    private final FaultPlan.Timing timing;
    private final Scheduler timer;
    private final List<Injected> injected = new CopyOnWriteArrayList<>();

    public FaultyBackend(CacheBackend delegate, FaultPlan plan, FaultPlan.Timing timing, Scheduler timer) {
        this.delegate = delegate;
        this.plan = plan;
        this.timing = timing;
        this.timer = timer;
    }

    /** Every fault applied so far, in call order. */
    public List<Injected> injected() {
        return List.copyOf(injected);
    }

    @Override
    public String name() {
        return delegate.name();
    }

    @Override
    public Mono<BackendCapabilities> capabilities(Scope scope) {
        return Mono.defer(() -> {
            Fault fault = decide(Operation.CAPABILITIES, null);
            return mono(fault, Operation.CAPABILITIES, delegate.capabilities(scope));
        });
    }

    @Override
    public Mono<ActionResult> getActionResult(Scope scope, Digest action) {
        return Mono.defer(() -> {
            Fault fault = decide(Operation.GET_ACTION_RESULT, action);
            Mono<ActionResult> call = delegate.getActionResult(scope, action);
            if (fault == Fault.CORRUPT) {
                // a hash that is not hex: the engine must call the result malformed, not guess
                return call.map(result -> result.toBuilder().addOutputFiles(OutputFile.newBuilder()
                        .setPath("garbled").setDigest(build.bazel.remote.execution.v2.Digest.newBuilder()
                                .setHash("not a hash").setSizeBytes(1))).build());
            }
            return mono(fault, Operation.GET_ACTION_RESULT, call);
        });
    }

    @Override
    public Mono<DigestSet> findMissing(Scope scope, DigestSet digests) {
        return Mono.defer(() -> {
            Fault fault = decide(Operation.FIND_MISSING, null);
            return mono(fault, Operation.FIND_MISSING, delegate.findMissing(scope, digests));
        });
    }

    @Override
    public Flux<ByteBuffer> readBlob(Scope scope, Digest digest) {
        return Flux.defer(() -> {
            Fault fault = decide(Operation.READ_BLOB, digest);
            Flux<ByteBuffer> read = delegate.readBlob(scope, digest);
            long half = digest.sizeBytes() / 2;
            return switch (fault) {
                case CORRUPT -> read.map(FaultyBackend::copy).collectList().flatMapMany(chunks -> {
                    flipMiddleByte(chunks, digest.sizeBytes());
                    return Flux.fromIterable(chunks);
                });
                case TRUNCATE -> limit(read, half);
                case RESET_MID_STREAM -> limit(read, half).concatWith(Flux.error(failure(Operation.READ_BLOB,
                        "connection reset by peer (injected)", Status.UNAVAILABLE.asRuntimeException())));
                default -> mono(fault, Operation.READ_BLOB, read.collectList()).flatMapMany(Flux::fromIterable);
            };
        });
    }

    @Override
    public Flux<Directory> getTree(Scope scope, Digest rootDirectory) {
        return Flux.defer(() -> {
            Fault fault = decide(Operation.GET_TREE, rootDirectory);
            return mono(fault, Operation.GET_TREE, delegate.getTree(scope, rootDirectory).collectList())
                    .flatMapMany(Flux::fromIterable);
        });
    }

    private Fault decide(Operation operation, Digest subject) {
        Fault fault = plan.next(operation);
        if (fault != Fault.NONE) {
            injected.add(new Injected(operation, subject, fault));
        }
        return fault;
    }

    private <T> Mono<T> mono(Fault fault, Operation operation, Mono<T> call) {
        return switch (fault) {
            case RETRYABLE_ERROR -> Mono.error(failure(operation, "UNAVAILABLE (injected)",
                    Status.UNAVAILABLE.withDescription("injected").asRuntimeException()));
            case FATAL_ERROR -> Mono.error(failure(operation, "INTERNAL (injected)",
                    Status.INTERNAL.withDescription("injected").asRuntimeException()));
            case TIMEOUT -> Mono.error(failure(operation, "DEADLINE_EXCEEDED (injected)",
                    new TimeoutException("injected")));
            case HANG -> timing.hangLimit() == null
                    ? Mono.never()
                    : Mono.<T>never().timeout(timing.hangLimit(), Mono.error(() -> failure(operation,
                            "no answer in " + timing.hangLimit().toMillis() + " ms (injected hang)",
                            new TimeoutException("injected hang"))), timer);
            case DELAY -> Mono.delay(timing.delay(), timer).then(call);
            case EMPTY -> Mono.empty();
            default -> call;
        };
    }

    private BackendException failure(Operation operation, String message, Throwable cause) {
        return new BackendException(name(), "backend " + name() + ": " + operation + " failed: " + message, cause);
    }

    /** The first {@code bytes} bytes of a stream of chunks, then completion. */
    private static Flux<ByteBuffer> limit(Flux<ByteBuffer> read, long bytes) {
        return Flux.defer(() -> {
            long[] left = {bytes};
            return read.takeWhile(chunk -> left[0] > 0).map(chunk -> {
                ByteBuffer slice = chunk.duplicate();
                if (slice.remaining() > left[0]) {
                    slice.limit(slice.position() + (int) left[0]);
                }
                left[0] -= slice.remaining();
                return slice;
            });
        });
    }

    private static ByteBuffer copy(ByteBuffer chunk) {
        ByteBuffer copy = ByteBuffer.allocate(chunk.remaining());
        copy.put(chunk.duplicate()).flip();
        return copy;
    }

    private static void flipMiddleByte(List<ByteBuffer> chunks, long size) {
        long target = size / 2;
        for (ByteBuffer chunk : chunks) {
            if (target < chunk.remaining()) {
                int at = chunk.position() + (int) target;
                chunk.put(at, (byte) (chunk.get(at) ^ 0xff));
                return;
            }
            target -= chunk.remaining();
        }
    }
}
