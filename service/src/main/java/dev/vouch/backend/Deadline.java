package dev.vouch.backend;

import java.time.Duration;
import java.util.Optional;
import reactor.core.publisher.Mono;
import reactor.util.context.Context;
import reactor.util.context.ContextView;

/**
 * The time by which a request must be answered. It travels in the Reactor {@link Context} from the
 * API layer to every backend call, so retries and per-call timeouts can stay within it. Time is
 * read from a monotonic {@link NanoClock}: setting the wall clock neither expires nor extends it.
 *
 * @param atNanos the deadline on {@code clock}
 * @param clock the clock it is measured on
 */
public record Deadline(long atNanos, NanoClock clock) {
    private static final Object KEY = Deadline.class;

    /** {@code timeout} from now on {@link NanoClock#system()}. */
    public static Deadline in(Duration timeout) {
        return in(timeout, NanoClock.system());
    }

    public static Deadline in(Duration timeout, NanoClock clock) {
        long now = clock.nanoTime();
        // saturated: a deadline centuries away is no deadline, and must not wrap into the past
        long nanos = timeout.compareTo(Duration.ofDays(365 * 100)) > 0 ? Long.MAX_VALUE / 2 : timeout.toNanos();
        return new Deadline(now + nanos, clock);
    }

    /** What is left, never negative. */
    public Duration remaining() {
        // nanoTime values are compared by their difference, which stays right across overflow
        return Duration.ofNanos(Math.max(0, atNanos - clock.nanoTime()));
    }

    public boolean expired() {
        return atNanos - clock.nanoTime() <= 0;
    }

    /** Adds this deadline to a subscriber context (use with {@code contextWrite}). */
    public Context addTo(Context context) {
        return context.put(KEY, this);
    }

    public static Optional<Deadline> from(ContextView context) {
        return context.getOrEmpty(KEY);
    }

    /** The deadline of the subscribing request, if it has one. */
    public static Mono<Optional<Deadline>> current() {
        return Mono.deferContextual(context -> Mono.just(from(context)));
    }
}
