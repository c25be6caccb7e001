package dev.vouch.backend.resilience;

import dev.vouch.backend.BackendException;
import dev.vouch.backend.CallGuard;
import dev.vouch.backend.Deadline;
import dev.vouch.backend.NanoClock;
import dev.vouch.config.VouchProperties;
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
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * A remote backend's resilience4j guards around each call it puts on the wire: every HEAD, GET or
 * gRPC call goes through Retry(CircuitBreaker(TimeLimiter(Bulkhead(call)))) in {@link #stream}, the
 * one place they are composed.
 *
 * <p>Why per wire call and not a decorator around the {@code CacheBackend} methods: one logical
 * call may be thousands of wire calls (the {@code http} protocol checks 10,000 digests with 10,000
 * HEADs, a {@code grpc} check is several FindMissingBlobs parts, a blob read first asks for
 * capabilities). Guarded as one, a single 503 retried all of them, the bulkhead counted one call for
 * sixteen connections, the time limit and the slow-call threshold judged the batch (12 s for a
 * healthy cache 20 ms away, so the circuit opened on a healthy cache), and a cached answer counted
 * as a call. Only the backend knows where its calls leave the process, so it asks the guard there;
 * a decorator would need each backend to declare its fan-out, which is the same knowledge in a
 * second place. The {@code MetricsBackend} decorator still times each logical call from outside.
 *
 * <ul>
 *   <li>Failures are {@link BackendException}s and time-outs; they count against the circuit.
 *       Absence (an empty answer, {@code BlobNotFoundException}) and malformed data are answers
 *       about the data, so they count as successes and are never retried.</li>
 *   <li>A call cut off from downstream (the request's deadline passed, or the engine ended the
 *       lookup phase for lack of time) after it had used at least half of the time it was allowed
 *       (the smaller of the time limit and what was left of the request's deadline when it started)
 *       counts as a failed call, a time-out: it did not answer in time, and a backend that accepts
 *       calls and never answers must open the circuit. A call cancelled sooner is not counted: its
 *       caller stopped listening for reasons of its own (a sibling call failed, the client left).</li>
 *   <li>Only {@link BackendException#retryable()} failures are retried, with exponential backoff and
 *       jitter, and never past the request's {@link Deadline}: a retry whose longest possible wait
 *       would reach the deadline is not made, and the last failure is the answer.</li>
 *   <li>A stream (a blob read, a GetTree page) is retried only while it has emitted nothing: a
 *       consumer that already holds part of it cannot be handed the start again.</li>
 *   <li>Refusals are {@link BackendException}s that say why: "circuit open", "bulkhead full",
 *       "timed out after ...", so an UNKNOWN verdict's reason names them.</li>
 *   <li>When the circuit half-opens, the backend's {@link #beforeProbes} hooks run first, so that the
 *       probes meet a fresh connection attempt rather than a reconnect backoff left from the outage.</li>
 * </ul>
 */
public final class ResilientCallGuard implements CallGuard {
    private static final Logger log = LoggerFactory.getLogger(ResilientCallGuard.class);

    private final String backend;
    private final ResilienceRegistries registries;
    private final VouchProperties.RetrySettings retrySettings;
    private final Duration timeout;
    private final NanoClock clock;
    private final CircuitBreaker circuitBreaker;
    private final Retry retry;
    private final Bulkhead bulkhead;
    private final TimeLimiter timeLimiter;
    private final List<Supplier<? extends Mono<Void>>> beforeProbes = new CopyOnWriteArrayList<>();
    // what the probes of the current half-open period wait for; started by the first of them
    private volatile Mono<Void> probesReady = Mono.empty();

    /**
     * @param callTimeout the backend's own per-call deadline; the time limiter's default derives from it
     * @param registries where the guards are registered under the backend's name (and so measured)
     */
    public ResilientCallGuard(String backend, VouchProperties.Resilience settings, Duration callTimeout,
            ResilienceRegistries registries) {
        this(backend, settings, callTimeout, registries, NanoClock.system());
    }

    /** @param clock what the circuit breaker measures its open-state wait and call durations on */
    public ResilientCallGuard(String backend, VouchProperties.Resilience settings, Duration callTimeout,
            ResilienceRegistries registries, NanoClock clock) {
        this.backend = backend;
        this.registries = registries;
        this.retrySettings = settings.retry();
        this.timeout = settings.timeLimiter().timeoutFor(callTimeout);
        this.clock = clock;
        try {
            this.circuitBreaker = registries.circuitBreakers().circuitBreaker(backend,
                    circuitBreakerConfig(settings.circuitBreaker(), clock));
            this.retry = registries.retries().retry(backend, retryConfig(settings.retry()));
            this.bulkhead = registries.bulkheads().bulkhead(backend, BulkheadConfig.custom()
                    .maxConcurrentCalls(settings.bulkhead().maxConcurrentCalls())
                    // waiting for a permit would park the calling thread, an event loop
                    .maxWaitDuration(Duration.ZERO)
                    .writableStackTraceEnabled(false)
                    .build());
            this.timeLimiter = registries.timeLimiters().timeLimiter(backend, TimeLimiterConfig.custom()
                    .timeoutDuration(timeout)
                    .build());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("vouch.backends (name " + backend + ").resilience: " + e.getMessage(), e);
        }
        circuitBreaker.getEventPublisher().onStateTransition(event -> {
            if (event.getStateTransition().getToState() == CircuitBreaker.State.HALF_OPEN) {
                probesReady = prepareProbes();
            }
        });
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

    /** The backend's circuit breaker, for health reporting and tests. */
    public CircuitBreaker circuitBreaker() {
        return circuitBreaker;
    }

    @Override
    public void beforeProbes(Supplier<? extends Mono<Void>> prepare) {
        beforeProbes.add(prepare);
    }

    @Override
    public <T> Flux<T> stream(String operation, Supplier<? extends Flux<T>> call) {
        return guarded(operation, call, true);
    }

    /** As {@link #unary}, without the retry: the call's input (an upload's bytes) can be sent only once. */
    @Override
    public <T> Mono<T> unaryOnce(String operation, Supplier<? extends Mono<T>> call) {
        return guarded(operation, () -> call.get().flux(), false).singleOrEmpty();
    }

    /**
     * The one composition of the guards, in resilience4j's order (the operator applied last is the
     * outermost). Single answers come here as one-element streams: for them "nothing emitted yet" always
     * holds until the answer, and the time limit on the first element is a limit on the whole call.
     */
    private <T> Flux<T> guarded(String operation, Supplier<? extends Flux<T>> call, boolean retried) {
        return Flux.deferContextual(context -> {
            Attempts attempts = new Attempts(operation, Deadline.from(context));
            return Flux.defer(() -> {
                        Attempt attempt = attempts.next();
                        return Flux.defer(() -> {
                                    attempt.started();
                                    // a probe (the circuit let it through half-open) waits for the backend's preparations
                                    Mono<Void> ready = circuitBreaker.getState() == CircuitBreaker.State.HALF_OPEN
                                            ? probesReady : Mono.empty();
                                    return ready.thenMany(Flux.defer(call));
                                })
                                .transformDeferred(BulkheadOperator.of(bulkhead))
                                .transformDeferred(TimeLimiterOperator.of(timeLimiter))
                                .doOnTerminate(attempt::ended)
                                // here only cancels from downstream arrive: the time limiter's own ends in an error
                                .doOnCancel(attempt::cancelled)
                                .transformDeferred(CircuitBreakerOperator.of(circuitBreaker));
                    })
                    .doOnNext(element -> attempts.emitted())
                    // inside the retry, so that what it decides on is the explained failure
                    .onErrorMap(attempts::explain)
                    .transformDeferred(flux -> retried ? flux.transformDeferred(RetryOperator.of(retry)) : flux);
        });
    }

    @Override
    public void close() {
        registries.remove(backend);
    }

    /** Every registered preparation, run once and shared by the probes of one half-open period. */
    private Mono<Void> prepareProbes() {
        return Flux.fromIterable(beforeProbes)
                .flatMap(prepare -> Mono.defer(prepare).onErrorResume(e -> {
                    // a failed preparation leaves the probe to meet the backend as it is
                    log.warn("backend {}: preparing the circuit's probes failed: {}", backend, e.toString());
                    return Mono.empty();
                }))
                .then()
                .cache();
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

        Attempt next() {
            return new Attempt(this);
        }

        void emitted() {
            emitted.set(true);
        }

        Throwable explain(Throwable error) {
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

    /** One attempt of a logical call: when it went out, and how long it was allowed. */
    private final class Attempt {
        private final Attempts call;
        private long startedAt;
        private long allowedNanos;
        private volatile boolean running;

        Attempt(Attempts call) {
            this.call = call;
        }

        void started() {
            call.started.incrementAndGet();
            startedAt = clock.nanoTime();
            Duration allowed = call.deadline.map(Deadline::remaining)
                    .filter(left -> left.compareTo(timeout) < 0)
                    .orElse(timeout);
            allowedNanos = allowed.toNanos();
            running = true;
        }

        void ended() {
            running = false;
        }

        /**
         * Cut off from downstream. Counted as a time-out when it had used at least half of its time
         * and answered nothing yet (once a stream has emitted, resilience4j records it as a success
         * with its duration, so a slow one still counts as slow).
         */
        void cancelled() {
            if (!running || call.emitted.get()) {
                return;
            }
            long elapsed = clock.nanoTime() - startedAt;
            if (elapsed * 2 >= allowedNanos) {
                circuitBreaker.onError(elapsed, TimeUnit.NANOSECONDS, new TimeoutException(call.operation
                        + " cut off unanswered after " + format(Duration.ofNanos(elapsed))));
            }
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
