package dev.vouch.backend.resilience;

import dev.vouch.backend.BackendDecorator;
import dev.vouch.backend.CallGuard;
import dev.vouch.backend.metrics.MetricsBackend;
import io.micrometer.core.instrument.MeterRegistry;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * How every configured backend is protected and measured: the remote types ({@code grpc},
 * {@code http}) get a {@link ResilientCallGuard} from their factory, which they put around each
 * call they send over the wire; every backend is wrapped in {@link MetricsBackend}, which times
 * each logical call. The embedded backend gets no guard: it is this process's own disk, whose
 * failures are not the transient network faults a retry or a circuit breaker helps with, and
 * opening a circuit on a local I/O error would turn one bad read into many UNKNOWNs.
 */
@Configuration(proxyBeanMethods = false)
public class ResilienceConfiguration {

    @Bean
    public ResilienceRegistries resilienceRegistries(MeterRegistry meterRegistry) {
        return ResilienceRegistries.create().bindTo(meterRegistry);
    }

    /** The guard of each remote backend, configured by its {@code vouch.backends[i].resilience}. */
    @Bean
    public CallGuard.Factory callGuards(ResilienceRegistries resilienceRegistries) {
        return config -> new ResilientCallGuard(config.name(), config.resilience(), config.callTimeout(),
                resilienceRegistries);
    }

    @Bean
    public BackendDecorator backendDecorator(MeterRegistry meterRegistry) {
        return (backend, config) -> new MetricsBackend(backend, meterRegistry);
    }
}
