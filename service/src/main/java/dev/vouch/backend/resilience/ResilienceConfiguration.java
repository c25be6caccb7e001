package dev.vouch.backend.resilience;

import dev.vouch.backend.BackendDecorator;
import dev.vouch.backend.metrics.MetricsBackend;
import dev.vouch.config.VouchProperties;
import io.micrometer.core.instrument.MeterRegistry;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * How every configured backend is wrapped: Metrics(Resilient(backend)) for the remote types,
 * Metrics(backend) for the embedded one. The embedded backend is this process's own disk: its
 * failures are not the transient network faults a retry or a circuit breaker helps with, and
 * opening a circuit on a local I/O error would turn one bad read into many UNKNOWNs.
 */
@Configuration(proxyBeanMethods = false)
public class ResilienceConfiguration {

    @Bean
    public ResilienceRegistries resilienceRegistries(MeterRegistry meterRegistry) {
        return ResilienceRegistries.create().bindTo(meterRegistry);
    }

    @Bean
    public BackendDecorator backendDecorator(ResilienceRegistries resilienceRegistries, MeterRegistry meterRegistry) {
        return (backend, config) -> new MetricsBackend(config.type() == VouchProperties.BackendType.EMBEDDED
                ? backend
                : new ResilientBackend(backend, config.resilience(), config.callTimeout(), resilienceRegistries),
                meterRegistry);
    }
}
