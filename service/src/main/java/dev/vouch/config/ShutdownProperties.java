package dev.vouch.config;

import java.time.Duration;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;

/**
 * How Vouch stops ({@code vouch.shutdown.*}). The grace periods for in-flight work are Spring's
 * {@code spring.lifecycle.timeout-per-shutdown-phase} (REST) and {@code vouch.grpc.shutdown-grace-seconds}.
 *
 * @param drainDelay how long Vouch keeps serving after its readiness turns to refusing traffic,
 *     before it stops accepting requests: time for load balancers and Kubernetes endpoints to
 *     notice and send no more. 0 stops accepting at once.
 */
@ConfigurationProperties("vouch.shutdown")
public record ShutdownProperties(@DefaultValue("0s") Duration drainDelay) {

    public ShutdownProperties {
        drainDelay = drainDelay == null ? Duration.ZERO : drainDelay;
        if (drainDelay.isNegative()) {
            throw new IllegalArgumentException("vouch.shutdown.drain-delay must not be negative, was " + drainDelay);
        }
    }
}
