package dev.vouch.backend.resilience;

import dev.vouch.backend.NanoClock;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;

/**
 * A {@link NanoClock} as the {@link Clock} resilience4j's circuit breaker measures its open-state
 * wait with. Its instants count from an arbitrary origin, so they are for differences only, which
 * is all the circuit breaker takes from them; what it gains is that setting the system clock can
 * neither end an open-state wait early nor stretch it.
 */
final class MonotonicClock extends Clock {
    private final NanoClock nanos;
    private final ZoneId zone;

    MonotonicClock(NanoClock nanos) {
        this(nanos, ZoneOffset.UTC);
    }

    private MonotonicClock(NanoClock nanos, ZoneId zone) {
        this.nanos = nanos;
        this.zone = zone;
    }

    @Override
    public Instant instant() {
        return Instant.ofEpochSecond(0, nanos.nanoTime());
    }

    @Override
    public ZoneId getZone() {
        return zone;
    }

    @Override
    public Clock withZone(ZoneId zone) {
        return new MonotonicClock(nanos, zone);
    }
}
