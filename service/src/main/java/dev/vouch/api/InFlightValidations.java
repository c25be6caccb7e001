package dev.vouch.api;

import dev.vouch.config.VouchProperties;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicBoolean;
import org.springframework.stereotype.Component;

/**
 * The bound on validations in flight ({@code vouch.limits.max-in-flight-validations}), shared by the
 * REST and gRPC fronts: a request past it is refused at once (429 over HTTP, RESOURCE_EXHAUSTED over
 * gRPC) rather than queued, so an overloaded Vouch answers fast and its memory does not grow with
 * the backlog. Counts requests, not actions: a request's cost is already bounded by
 * {@code max-actions} and {@code max-blobs-per-request}.
 */
@Component
public class InFlightValidations {
    private final int max;
    private final Semaphore permits;
    private final long retryAfterSeconds;
    private final Counter rejected;

    public InFlightValidations(VouchProperties properties, MeterRegistry registry) {
        VouchProperties.Limits limits = properties.limits();
        this.max = limits.maxInFlightValidations();
        this.permits = new Semaphore(max);
        this.retryAfterSeconds = wholeSeconds(limits.overloadRetryAfter());
        Gauge.builder("vouch.validations.in.flight", () -> max - permits.availablePermits())
                .description("validations in progress (REST and gRPC)")
                .register(registry);
        this.rejected = Counter.builder("vouch.validations.rejected")
                .description("validations refused (429, RESOURCE_EXHAUSTED) because too many were in flight")
                .register(registry);
    }

    /** A permit, to be released exactly once however the request ends; {@link OverloadedException} when none is left. */
    public Permit acquire() {
        if (!permits.tryAcquire()) {
            rejected.increment();
            throw new OverloadedException(max, retryAfterSeconds);
        }
        return new Permit();
    }

    public int inFlight() {
        return max - permits.availablePermits();
    }

    private static long wholeSeconds(Duration duration) {
        long seconds = (duration.toMillis() + 999) / 1000;
        return Math.max(1, seconds);
    }

    /** Released on completion, error or cancellation, whichever comes first; later calls do nothing. */
    public final class Permit {
        private final AtomicBoolean held = new AtomicBoolean(true);

        public void release() {
            if (held.compareAndSet(true, false)) {
                permits.release();
            }
        }
    }

    /** Rendered as 429 with {@code Retry-After} over HTTP, RESOURCE_EXHAUSTED over gRPC. */
    public static final class OverloadedException extends RuntimeException {
        private final long retryAfterSeconds;

        OverloadedException(int max, long retryAfterSeconds) {
            super(max + " validations are in flight, the most this instance accepts "
                    + "(vouch.limits.max-in-flight-validations); retry after " + retryAfterSeconds + " s");
            this.retryAfterSeconds = retryAfterSeconds;
        }

        public long retryAfterSeconds() {
            return retryAfterSeconds;
        }
    }
}
