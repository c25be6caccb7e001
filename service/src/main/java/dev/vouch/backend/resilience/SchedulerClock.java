package dev.vouch.backend.resilience;

import java.time.Clock;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.concurrent.TimeUnit;
import reactor.core.scheduler.Schedulers;

/**
 * Reactor's parallel-scheduler clock as a {@link Clock}, the same clock as {@code Deadline} and the
 * retry backoff delays: the circuit breaker's open-state wait and slow-call durations then follow
 * {@code StepVerifier.withVirtualTime} in tests, and wall time otherwise.
 */
final class SchedulerClock extends Clock {
    static final SchedulerClock INSTANCE = new SchedulerClock();

    private SchedulerClock() {
    }

    /** Now in nanoseconds, for resilience4j's {@code currentTimestampFunction}. */
    static long nanos() {
        return Schedulers.parallel().now(TimeUnit.NANOSECONDS);
    }

    @Override
    public Instant instant() {
        return Instant.ofEpochMilli(Schedulers.parallel().now(TimeUnit.MILLISECONDS));
    }

    @Override
    public ZoneId getZone() {
        return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(ZoneId zone) {
        return Clock.fixed(instant(), zone);
    }
}
