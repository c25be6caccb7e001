package dev.vouch.backend;

import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;
import reactor.util.context.Context;
import reactor.util.context.ContextView;

/**
 * The time by which a request must be answered. It travels in the Reactor {@link Context} from the
 * API layer to every backend call, so retries and per-call timeouts can stay within it. Time is
 * read from Reactor's parallel scheduler clock, which {@code StepVerifier.withVirtualTime} replaces.
 *
 * @param atMillis the deadline on that clock, in milliseconds
 */
public record Deadline(long atMillis) {
    private static final Object KEY = Deadline.class;

    public static Deadline in(Duration timeout) {
        return new Deadline(now() + timeout.toMillis());
    }

    /** What is left, never negative. */
    public Duration remaining() {
        return Duration.ofMillis(Math.max(0, atMillis - now()));
    }

    public boolean expired() {
        return now() >= atMillis;
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

    private static long now() {
        return Schedulers.parallel().now(TimeUnit.MILLISECONDS);
    }
}
