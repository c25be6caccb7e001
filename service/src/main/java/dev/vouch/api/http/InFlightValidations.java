package dev.vouch.api.http;

import dev.vouch.config.VouchProperties;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicBoolean;
import org.springframework.stereotype.Component;

/**
 * The bound on REST validations in flight ({@code vouch.limits.max-in-flight-validations}): a
 * request past it is refused at once with 429 rather than queued, so an overloaded Vouch answers
 * fast and its memory does not grow with the backlog. Counts requests, not actions: a request's
 * cost is already bounded by {@code max-actions} and {@code max-blobs-per-request}.
 */
@Component
class InFlightValidations {
    private final int max;
    private final Semaphore permits;
    private final long retryAfterSeconds;
    private final Counter rejected;

    InFlightValidations(VouchProperties properties, MeterRegistry registry) {
        VouchProperties.Limits limits = properties.limits();
        this.max = limits.maxInFlightValidations();
        this.permits = new Semaphore(max);
        this.retryAfterSeconds = wholeSeconds(limits.overloadRetryAfter());
        Gauge.builder("vouch.validations.in.flight", () -> max - permits.availablePermits())
                .description("REST validations in progress")
                .register(registry);
        this.rejected = Counter.builder("vouch.validations.rejected")
                .description("REST validations refused with 429 because too many were in flight")
                .register(registry);
    }

    /** A permit, to be released exactly once however the request ends; or a 429 when none is left. */
    Permit acquire() {
        if (!permits.tryAcquire()) {
            rejected.increment();
            throw new OverloadedException(max, retryAfterSeconds);
        }
        return new Permit();
    }

    int inFlight() {
        return max - permits.availablePermits();
    }

    private static long wholeSeconds(Duration duration) {
        long seconds = (duration.toMillis() + 999) / 1000;
        return Math.max(1, seconds);
    }

    /** Released on completion, error or cancellation, whichever comes first; later calls do nothing. */
    final class Permit {
        private final AtomicBoolean held = new AtomicBoolean(true);

        void release() {
            if (held.compareAndSet(true, false)) {
                permits.release();
            }
        }
    }

    /** Rendered as 429 with {@code Retry-After} by {@link ProblemHandler}. */
    static final class OverloadedException extends RuntimeException {
        private final long retryAfterSeconds;

        OverloadedException(int max, long retryAfterSeconds) {
            super(max + " validations are in flight, the most this instance accepts "
                    + "(vouch.limits.max-in-flight-validations); retry after " + retryAfterSeconds + " s");
            this.retryAfterSeconds = retryAfterSeconds;
        }

        long retryAfterSeconds() {
            return retryAfterSeconds;
        }
    }
}
