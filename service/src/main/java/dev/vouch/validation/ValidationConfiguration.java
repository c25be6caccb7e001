package dev.vouch.validation;

import dev.vouch.backend.BackendRouter;
import dev.vouch.config.VouchProperties;
import io.micrometer.core.instrument.MeterRegistry;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** The validation engine shared by the REST and gRPC fronts. */
@Configuration(proxyBeanMethods = false)
public class ValidationConfiguration {

    @Bean
    public ValidationMetrics validationMetrics(MeterRegistry meterRegistry) {
        return new ValidationMetrics(meterRegistry);
    }

    @Bean
    public CacheValidator cacheValidator(BackendRouter backendRouter, VouchProperties properties,
            ValidationMetrics validationMetrics) {
        return new CompletenessValidator(backendRouter, properties.limits(), validationMetrics);
    }
}
