package dev.vouch.backend.resilience;

import io.github.resilience4j.bulkhead.BulkheadRegistry;
import io.github.resilience4j.circuitbreaker.CircuitBreakerRegistry;
import io.github.resilience4j.micrometer.tagged.TaggedBulkheadMetrics;
import io.github.resilience4j.micrometer.tagged.TaggedCircuitBreakerMetrics;
import io.github.resilience4j.micrometer.tagged.TaggedRetryMetrics;
import io.github.resilience4j.micrometer.tagged.TaggedTimeLimiterMetrics;
import io.github.resilience4j.retry.RetryRegistry;
import io.github.resilience4j.timelimiter.TimeLimiterRegistry;
import io.micrometer.core.instrument.MeterRegistry;

/**
 * The resilience4j registries: one circuit breaker, retry, bulkhead and time limiter per backend,
 * each named after the backend, so resilience4j's meters carry the backend name in their {@code name} tag
 * ({@code resilience4j_circuitbreaker_state{name="remote",state="open"}}).
 */
public record ResilienceRegistries(
        CircuitBreakerRegistry circuitBreakers,
        RetryRegistry retries,
        BulkheadRegistry bulkheads,
        TimeLimiterRegistry timeLimiters) {

    public static ResilienceRegistries create() {
        return new ResilienceRegistries(CircuitBreakerRegistry.ofDefaults(), RetryRegistry.ofDefaults(),
                BulkheadRegistry.ofDefaults(), TimeLimiterRegistry.ofDefaults());
    }

    /** Publishes the meters of every instance, present and future, to {@code meterRegistry}. */
    public ResilienceRegistries bindTo(MeterRegistry meterRegistry) {
        TaggedCircuitBreakerMetrics.ofCircuitBreakerRegistry(circuitBreakers).bindTo(meterRegistry);
        TaggedRetryMetrics.ofRetryRegistry(retries).bindTo(meterRegistry);
        TaggedBulkheadMetrics.ofBulkheadRegistry(bulkheads).bindTo(meterRegistry);
        TaggedTimeLimiterMetrics.ofTimeLimiterRegistry(timeLimiters).bindTo(meterRegistry);
        return this;
    }

    /** Forgets the instances of a backend that is gone, and with them their meters. */
    void remove(String backend) {
        circuitBreakers.remove(backend);
        retries.remove(backend);
        bulkheads.remove(backend);
        timeLimiters.remove(backend);
    }
}
