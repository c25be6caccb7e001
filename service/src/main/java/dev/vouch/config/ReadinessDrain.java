package dev.vouch.config;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.availability.AvailabilityChangeEvent;
import org.springframework.boot.availability.ReadinessState;
import org.springframework.context.ApplicationEventPublisher;
import org.springframework.context.SmartLifecycle;
import org.springframework.stereotype.Component;

/**
 * The first step of shutdown: readiness goes to REFUSING_TRAFFIC, then Vouch keeps serving for
 * {@code vouch.shutdown.drain-delay} so that traffic is steered away before the servers stop
 * accepting. Runs in the highest phase, so it stops before the web server's graceful shutdown
 * and the gRPC server, which then let in-flight requests finish within their grace periods.
 * (A web application context also publishes REFUSING_TRAFFIC when it starts closing; publishing
 * again here makes the order hold for any context, and costs nothing.)
 */
@Component
public class ReadinessDrain implements SmartLifecycle {
    private static final Logger log = LoggerFactory.getLogger(ReadinessDrain.class);

    private final ApplicationEventPublisher events;
    private final ShutdownProperties shutdown;
    private volatile boolean running;

    public ReadinessDrain(ApplicationEventPublisher events, ShutdownProperties shutdown) {
        this.events = events;
        this.shutdown = shutdown;
    }

    @Override
    public void start() {
        running = true;
    }

    @Override
    public void stop() {
        stop(() -> { });
    }

    @Override
    public void stop(Runnable callback) {
        running = false;
        AvailabilityChangeEvent.publish(events, this, ReadinessState.REFUSING_TRAFFIC);
        long delay = shutdown.drainDelay().toMillis();
        if (delay == 0) {
            callback.run();
            return;
        }
        log.info("shutting down: readiness is REFUSING_TRAFFIC, still serving for {} before stopping",
                shutdown.drainDelay());
        // waits without holding a thread; Spring waits for the callback before the next phase
        CompletableFuture.delayedExecutor(delay, TimeUnit.MILLISECONDS).execute(callback);
    }

    @Override
    public boolean isRunning() {
        return running;
    }

    @Override
    public int getPhase() {
        return Integer.MAX_VALUE;
    }
}
