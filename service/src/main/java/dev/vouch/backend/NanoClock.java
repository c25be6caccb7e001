package dev.vouch.backend;

import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

/**
 * Monotonic time in nanoseconds (only differences mean anything), for everything that measures a
 * span: request {@link Deadline}s, the circuit breakers' open-state waits and call durations. Never
 * the wall clock, which an operator or NTP may set at any moment: an hour forward would expire every
 * deadline and end every open-state wait at once, an hour back would stretch them by an hour.
 */
@FunctionalInterface
public interface NanoClock {

    long nanoTime();

    /**
     * {@code System.nanoTime()}; under reactor-test's {@code VirtualTimeScheduler} the virtual time
     * instead, so that tests on virtual time see deadlines and open-state waits pass as they advance
     * it. Only that scheduler is followed: Reactor's own schedulers answer {@code now()} from the
     * wall clock.
     */
    static NanoClock system() {
        return SystemNanoClock.INSTANCE;
    }
}

/** See {@link NanoClock#system()}. */
final class SystemNanoClock implements NanoClock {
    static final SystemNanoClock INSTANCE = new SystemNanoClock();
    // absent from the production class path, where this is System.nanoTime and nothing else
    private static final Class<?> VIRTUAL_TIME = virtualTimeScheduler();

    private SystemNanoClock() {
    }

    @Override
    public long nanoTime() {
        if (VIRTUAL_TIME != null) {
            Scheduler parallel = Schedulers.parallel();
            // Schedulers hands out its cached schedulers wrapped
            Scheduler actual = parallel instanceof Supplier<?> cached && cached.get() instanceof Scheduler inner
                    ? inner
                    : parallel;
            if (VIRTUAL_TIME.isInstance(actual)) {
                return actual.now(TimeUnit.NANOSECONDS);
            }
        }
        return System.nanoTime();
    }

    private static Class<?> virtualTimeScheduler() {
        try {
            return Class.forName("reactor.test.scheduler.VirtualTimeScheduler", false, SystemNanoClock.class.getClassLoader());
        } catch (ClassNotFoundException | LinkageError e) {
            return null;
        }
    }
}
