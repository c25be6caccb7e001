package dev.vouch.backend;

import dev.vouch.config.VouchProperties;
import java.util.function.Supplier;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * What a remote backend puts around each call it sends over the wire: one HTTP {@code HEAD} or
 * {@code GET}, one gRPC call (a FindMissingBlobs part, a BatchReadBlobs, a ByteStream.Read stream).
 * The resilience layer implements it (retry, circuit breaker, time limit and bulkhead per wire
 * call); the backends stay free of it otherwise, and {@link #NONE} leaves calls as they are.
 *
 * <p>The guarded unit is the wire call together with the reading of its answer, so that what the
 * guard judges is the backend's answer: absence ({@link BlobNotFoundException}, an empty Mono) and
 * malformed data ({@link MalformedBlobException}) are answers, {@link BackendException}s are failures.
 * Each call must be deferred: the guard subscribes to {@code call.get()} once per attempt.
 */
public interface CallGuard extends AutoCloseable {

    /** Calls go out as they are: for tests and backends that need no protection. */
    CallGuard NONE = new CallGuard() {
        @Override
        public <T> Flux<T> stream(String operation, Supplier<? extends Flux<T>> call) {
            return Flux.defer(call);
        }
    };

    /**
     * A call whose answer is a stream of elements.
     *
     * @param operation what the call is, for the reasons of refusals and time-outs ("HEAD cas/...")
     */
    <T> Flux<T> stream(String operation, Supplier<? extends Flux<T>> call);

    /** A call with one answer (or none). */
    default <T> Mono<T> unary(String operation, Supplier<? extends Mono<T>> call) {
        return stream(operation, () -> call.get().flux()).singleOrEmpty();
    }

    /**
     * A call with one answer that is made at most once, never retried: a streamed upload, whose
     * bytes come from a client and cannot be asked for again. Guarded otherwise as {@link #unary}.
     */
    default <T> Mono<T> unaryOnce(String operation, Supplier<? extends Mono<T>> call) {
        return unary(operation, call);
    }

    /**
     * Registers what to do before the guard lets calls through again after refusing them all (a
     * circuit going half-open); the probe calls wait for it to complete. E.g. a gRPC channel skips
     * its reconnect backoff and waits, briefly, for the new connection, so the first probe meets a
     * fresh connection and not the failure from before the wait.
     */
    default void beforeProbes(Supplier<? extends Mono<Void>> prepare) {
    }

    /** Forgets this guard's state (and meters), when its backend is closed. */
    @Override
    default void close() {
    }

    /** Builds the guard of each configured backend. */
    @FunctionalInterface
    interface Factory {
        Factory NONE = config -> CallGuard.NONE;

        CallGuard forBackend(VouchProperties.Backend config);
    }
}
