package dev.vouch.backend.resilience;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.Directory;
import build.bazel.remote.execution.v2.Tree;
import dev.vouch.backend.BackendCapabilities;
import dev.vouch.backend.BackendException;
import dev.vouch.backend.CacheBackend;
import dev.vouch.backend.Deadline;
import dev.vouch.backend.NanoClock;
import dev.vouch.backend.Scope;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestSet;
import io.github.resilience4j.bulkhead.Bulkhead;
import io.github.resilience4j.bulkhead.BulkheadConfig;
import io.github.resilience4j.bulkhead.BulkheadFullException;
import io.github.resilience4j.circuitbreaker.CallNotPermittedException;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import io.github.resilience4j.core.IntervalFunction;
import io.github.resilience4j.reactor.bulkhead.operator.BulkheadOperator;
import io.github.resilience4j.reactor.circuitbreaker.operator.CircuitBreakerOperator;
import io.github.resilience4j.reactor.retry.RetryOperator;
import io.github.resilience4j.reactor.timelimiter.TimeLimiterOperator;
import io.github.resilience4j.retry.Retry;
import io.github.resilience4j.retry.RetryConfig;
import io.github.resilience4j.timelimiter.TimeLimiter;
import io.github.resilience4j.timelimiter.TimeLimiterConfig;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * A remote backend behind resilience4j: every call, whatever the operation, goes through
 * Retry(CircuitBreaker(TimeLimiter(Bulkhead(call)))) in {@link #guard}, the one place they are composed.
 *
 * <ul>
 *   <li>Failures are {@link BackendException}s and time-outs; they count against the circuit.
 *       Absence (an empty Action Cache answer, {@code BlobNotFoundException}) and malformed data are
 *       answers about the data, so they count as successes and are never retried.</li>
 *   <li>Only {@link BackendException#retryable()} failures are retried, with exponential backoff and
 *       jitter, and never past the request's {@link Deadline}: a retry whose longest possible wait
 *       would reach the deadline is not made, and the last failure is the answer.</li>
 *   <li>A stream (a blob read, a GetTree) is retried only while it has emitted nothing: a
 *       consumer that already holds part of it cannot be handed the start again.</li>
 *   <li>Refusals are {@link BackendException}s that say why: "circuit open", "bulkhead full",
 *       "timed out after ...", so an UNKNOWN verdict's reason names them.</li>
 * </ul>
 */
public final class ResilientBackend implements CacheBackend, AutoCloseable {
    private final CacheBackend delegate;
    private final ResilienceRegistries registries;
    private final VouchProperties.RetrySettings retrySettings;
    private final Duration timeout;
    private final CircuitBreaker circuitBreaker;
    private final Retry retry;
    private final Bulkhead bulkhead;
    private final TimeLimiter timeLimiter;

    /**
     * @param callTimeout the backend's own per-call deadline; the time limiter's default derives from it
     * @param registries where the guards are registered under the backend's name (and so measured)
     */
    public ResilientBackend(CacheBackend delegate, VouchProperties.Resilience settings, Duration callTimeout,
            ResilienceRegistries registries) {
        this.delegate = delegate;
        this.registries = registries;
        this.retrySettings = settings.retry();
        this.timeout = settings.timeLimiter().timeoutFor(callTimeout);
        String name = delegate.name();
        try {
            this.circuitBreaker = registries.circuitBreakers().circuitBreaker(name,
                    circuitBreakerConfig(settings.circuitBreaker(), NanoClock.system()));
            this.retry = registries.retries().retry(name, retryConfig(settings.retry()));
            this.bulkhead = registries.bulkheads().bulkhead(name, BulkheadConfig.custom()
                    .maxConcurrentCalls(settings.bulkhead().maxConcurrentCalls())
                    // waiting for a permit would park the calling thread, an event loop
                    .maxWaitDuration(Duration.ZERO)
                    .writableStackTraceEnabled(false)
                    .build());
            this.timeLimiter = registries.timeLimiters().timeLimiter(name, TimeLimiterConfig.custom()
                    .timeoutDuration(timeout)
                    .build());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("vouch.backends (name " + name + ").resilience: " + e.getMessage(), e);
        }
    }

    private static CircuitBreakerConfig circuitBreakerConfig(VouchProperties.CircuitBreakerSettings s, NanoClock clock) {
        return CircuitBreakerConfig.custom()
                .slidingWindowType(CircuitBreakerConfig.SlidingWindowType.COUNT_BASED)
                .slidingWindowSize(s.slidingWindowSize())
                .minimumNumberOfCalls(s.minimumNumberOfCalls())
                .failureRateThreshold(s.failureRateThreshold())
                .slowCallDurationThreshold(s.slowCallDurationThreshold())
                .slowCallRateThreshold(s.slowCallRateThreshold())
                .waitDurationInOpenState(s.waitDurationInOpenState())
                .permittedNumberOfCallsInHalfOpenState(s.permittedCallsInHalfOpenState())
                // anything else (absence, malformed data) is an answer, which resilience4j counts as a success
                .recordException(e -> e instanceof BackendException || e instanceof TimeoutException)
                // our own overload says nothing about the backend's health
                .ignoreExceptions(BulkheadFullException.class)
                .clock(new MonotonicClock(clock))
                .currentTimestampFunction(c -> clock.nanoTime(), TimeUnit.NANOSECONDS)
                .writableStackTraceEnabled(false)
                .build();
    }

    private static RetryConfig retryConfig(VouchProperties.RetrySettings s) {
        return RetryConfig.custom()
                .maxAttempts(s.maxAttempts())
                .intervalFunction(IntervalFunction.ofExponentialRandomBackoff(s.initialBackoff(), s.multiplier(),
                        s.randomizationFactor(), s.maxBackoff()))
                .retryOnException(e -> e instanceof BackendException b && b.retryable())
                .failAfterMaxAttempts(false)
                .build();
    }

    @Override
    public String name() {
        return delegate.name();
    }

    /** The backend's circuit breaker, for health reporting and tests. */
    public CircuitBreaker circuitBreaker() {
        return circuitBreaker;
    }

    @Override
    public Mono<BackendCapabilities> capabilities(Scope scope) {
        return guard("capabilities", () -> delegate.capabilities(scope).flux()).singleOrEmpty();
    }

    @Override
    public Mono<ActionResult> getActionResult(Scope scope, Digest action) {
        return guard("getActionResult " + action, () -> delegate.getActionResult(scope, action).flux()).singleOrEmpty();
    }

    @Override
    public Mono<DigestSet> findMissing(Scope scope, DigestSet digests) {
        return guard("findMissing of " + digests.size() + " digests", () -> delegate.findMissing(scope, digests).flux())
                .singleOrEmpty();
    }

    @Override
    public Flux<ByteBuffer> readBlob(Scope scope, Digest digest) {
        return guard("readBlob " + digest, () -> delegate.readBlob(scope, digest));
    }

    // The whole-message reads go to the delegate's own versions (which may be cheaper than a
    // generic readBlob), each as one guarded call.

    @Override
    public Mono<byte[]> readSmallBlob(Scope scope, Digest digest) {
        return guard("readBlob " + digest, () -> delegate.readSmallBlob(scope, digest).flux()).singleOrEmpty();
    }

    @Override
    public Mono<Tree> readTree(Scope scope, Digest treeDigest) {
        return guard("readTree " + treeDigest, () -> delegate.readTree(scope, treeDigest).flux()).singleOrEmpty();
    }

    @Override
    public Mono<Directory> readDirectory(Scope scope, Digest directoryDigest) {
        return guard("readDirectory " + directoryDigest, () -> delegate.readDirectory(scope, directoryDigest).flux())
                .singleOrEmpty();
    }

    @Override
    public Flux<Directory> getTree(Scope scope, Digest rootDirectory) {
        return guard("getTree " + rootDirectory, () -> delegate.getTree(scope, rootDirectory));
    }

    /**
     * The one composition of the guards, in resilience4j's order (the operator applied last is the
     * outermost). Single answers come here as one-element streams: for them "nothing emitted yet" always
     * holds until the answer, and the time limit on the first element is a limit on the whole call.
     */
    private <T> Flux<T> guard(String operation, Supplier<Flux<T>> call) {
        return Flux.deferContextual(context -> {
            Attempts attempts = new Attempts(operation, Deadline.from(context));
            return Flux.defer(() -> {
                        attempts.started();
                        return call.get();
                    })
                    .transformDeferred(BulkheadOperator.of(bulkhead))
                    .transformDeferred(TimeLimiterOperator.of(timeLimiter))
                    .transformDeferred(CircuitBreakerOperator.of(circuitBreaker))
                    .doOnNext(element -> attempts.emitted())
                    // inside the retry, so that what it decides on is the explained failure
                    .onErrorMap(attempts::explain)
                    .transformDeferred(RetryOperator.of(retry));
        });
    }

    @Override
    public void close() throws Exception {
        registries.remove(name());
        if (delegate instanceof AutoCloseable closeable) {
            closeable.close();
        }
    }

    /** One logical call: its attempts so far, whether it has emitted, and the request's deadline. */
    private final class Attempts {
        private final String operation;
        private final Optional<Deadline> deadline;
        private final AtomicInteger started = new AtomicInteger();
        private final AtomicBoolean emitted = new AtomicBoolean();

        Attempts(String operation, Optional<Deadline> deadline) {
            this.operation = operation;
            this.deadline = deadline;
        }

        void started() {
            started.incrementAndGet();
        }

        void emitted() {
            emitted.set(true);
        }

        Throwable explain(Throwable error) {
            String backend = name();
            if (error instanceof CallNotPermittedException) {
                return new BackendException(backend, "backend " + backend + ": circuit open (" + whyOpen() + "); "
                        + operation + " not attempted", error, false);
            }
            if (error instanceof BulkheadFullException) {
                // retrying would only add to the overload the bulkhead is there to stop
                return new BackendException(backend, "backend " + backend + ": bulkhead full ("
                        + bulkhead.getBulkheadConfig().getMaxConcurrentCalls() + " calls in flight); " + operation
                        + " not attempted", error, false);
            }
            Throwable failure = error instanceof TimeoutException
                    ? new BackendException(backend, "backend " + backend + ": " + operation + " timed out after "
                            + format(timeout), error, true)
                    : error;
            if (!(failure instanceof BackendException b) || !b.retryable()) {
                return failure;
            }
            if (emitted.get()) {
                return new BackendException(backend, b.getMessage(), b, false);
            }
            int attempt = started.get();
            if (deadline.isPresent() && attempt < retrySettings.maxAttempts()) {
                Duration left = deadline.get().remaining();
                if (left.compareTo(longestBackoffAfter(attempt)) <= 0) {
                    return new BackendException(backend, b.getMessage() + " (not retried: the request deadline is "
                            + (left.isZero() ? "past" : "in " + format(left)) + ")", b, false);
                }
            }
            return b;
        }
    }

    private String whyOpen() {
        if (circuitBreaker.getState() == CircuitBreaker.State.HALF_OPEN) {
            return "probing whether it recovered";
        }
        CircuitBreaker.Metrics m = circuitBreaker.getMetrics();
        return m.getNumberOfFailedCalls() + " of the last " + m.getNumberOfBufferedCalls() + " calls failed, "
                + m.getNumberOfSlowCalls() + " were slow";
    }

    /** The longest wait the jittered backoff may pick after attempt {@code attempt} (1-based). */
    private Duration longestBackoffAfter(int attempt) {
        double millis = retrySettings.initialBackoff().toMillis()
                * Math.pow(retrySettings.multiplier(), attempt - 1)
                * (1 + retrySettings.randomizationFactor());
        return Duration.ofMillis((long) Math.min(Math.ceil(millis), retrySettings.maxBackoff().toMillis()));
    }

    static String format(Duration duration) {
        long millis = duration.toMillis();
        return millis % 1000 == 0 ? millis / 1000 + "s" : millis + "ms";
    }
}
