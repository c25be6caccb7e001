package dev.vouch.validation;

import dev.vouch.backend.BackendRegistry;
import dev.vouch.backend.BackendRouter;
import dev.vouch.config.MetricsProperties;
import dev.vouch.config.VouchProperties;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.ArrayList;
import java.util.List;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** The validation engine shared by the REST and gRPC fronts. */
@Configuration(proxyBeanMethods = false)
public class ValidationConfiguration {

    @Bean
    public ValidationMetrics validationMetrics(MeterRegistry meterRegistry, VouchProperties properties,
            ObjectProvider<MetricsProperties> metrics) {
        return new ValidationMetrics(meterRegistry,
                instanceNameTag(properties, metrics.getIfAvailable(MetricsProperties::defaults)));
    }

    /** The configured names and those routes name literally keep their tag value; see {@link InstanceNameTag}. */
    static InstanceNameTag instanceNameTag(VouchProperties properties, MetricsProperties metrics) {
        List<String> names = new ArrayList<>(metrics.instanceNames());
        properties.routes().stream()
                .map(VouchProperties.Route::instancePattern)
                .filter(InstanceNameTag::isLiteral)
                .forEach(names::add);
        return new InstanceNameTag(names, metrics.maxSeenInstanceNames());
    }

    /**
     * Blobs recently confirmed present: for the cache front's lookups ({@code vouch.front.presence-ttl}) and the
     * validation APIs' requests ({@code vouch.limits.presence-ttl}, off by default).
     */
    @Bean
    public PresenceWindow presenceWindow(VouchProperties properties) {
        VouchProperties.Front front = properties.front();
        return new PresenceWindow(front.presenceTtl(), properties.limits().presenceTtl(), front.presenceMaxEntries());
    }

    @Bean
    public CacheValidator cacheValidator(BackendRouter backendRouter, VouchProperties properties,
            ValidationMetrics validationMetrics, PresenceWindow presenceWindow,
            ObjectProvider<BackendRegistry> backendRegistry) {
        CacheValidator validator = new CompletenessValidator(backendRouter, properties.limits(), validationMetrics,
                presenceWindow);
        String repairFrom = properties.front().repairFrom();
        if (repairFrom == null || repairFrom.isBlank()) {
            return validator;
        }
        // the name was checked at start-up: a configured backend, with its decorators
        Repairer repairer = new Repairer(backendRegistry.getObject().backends().get(repairFrom), validationMetrics);
        return new RepairingValidator(validator, repairer, backendRouter);
    }
}
