package dev.vouch.backend;

import java.time.Duration;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

/**
 * A system clock that an operator (or NTP) sets while Vouch runs, as Reactor sees it: Reactor's
 * own schedulers take {@code now()} from the wall clock, so while this is installed every
 * scheduler it makes reports the wall clock moved by {@link #jump}, and schedules work as usual.
 * Close it to put Reactor's own schedulers back.
 */
public final class WallClockJump implements AutoCloseable {
    private final AtomicLong offsetMillis = new AtomicLong();

    private WallClockJump() {
    }

    public static WallClockJump install() {
        WallClockJump jump = new WallClockJump();
        Schedulers.setFactory(new Schedulers.Factory() {
            @Override
            public Scheduler newParallel(int parallelism, java.util.concurrent.ThreadFactory threadFactory) {
                return jump.wrap(Schedulers.Factory.super.newParallel(parallelism, threadFactory));
            }

            @Override
            public Scheduler newBoundedElastic(int threadCap, int queuedTaskCap, java.util.concurrent.ThreadFactory threadFactory,
                    int ttlSeconds) {
                return jump.wrap(Schedulers.Factory.super.newBoundedElastic(threadCap, queuedTaskCap, threadFactory, ttlSeconds));
            }

            @Override
            public Scheduler newSingle(java.util.concurrent.ThreadFactory threadFactory) {
                return jump.wrap(Schedulers.Factory.super.newSingle(threadFactory));
            }
        });
        return jump;
    }

    /** Sets the wall clock {@code by} away from the real one (negative: back). */
    public void jump(Duration by) {
        offsetMillis.set(by.toMillis());
    }

    private Scheduler wrap(Scheduler scheduler) {
        return new Scheduler() {
            @Override
            public reactor.core.Disposable schedule(Runnable task) {
                return scheduler.schedule(task);
            }

            @Override
            public reactor.core.Disposable schedule(Runnable task, long delay, TimeUnit unit) {
                return scheduler.schedule(task, delay, unit);
            }

            @Override
            public reactor.core.Disposable schedulePeriodically(Runnable task, long initialDelay, long period,
                    TimeUnit unit) {
                return scheduler.schedulePeriodically(task, initialDelay, period, unit);
            }

            @Override
            public long now(TimeUnit unit) {
                return unit.convert(System.currentTimeMillis() + offsetMillis.get(), TimeUnit.MILLISECONDS);
            }

            @Override
            public Worker createWorker() {
                return scheduler.createWorker();
            }

            @Override
            public void init() {
                scheduler.init();
            }

            @Override
            public void dispose() {
                scheduler.dispose();
            }

            @Override
            public boolean isDisposed() {
                return scheduler.isDisposed();
            }
        };
    }

    @Override
    public void close() {
        Schedulers.resetFactory();
    }
}
