package dev.vouch.front;

import dev.vouch.backend.BackendRegistry;
import dev.vouch.backend.BackendRouter;
import dev.vouch.backend.CacheBackend;
import dev.vouch.config.VouchProperties;
import dev.vouch.validation.CacheValidator;
import dev.vouch.validation.Repairer;
import dev.vouch.validation.ValidationMetrics;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Conditional;
import org.springframework.context.annotation.Configuration;

/**
 * The cache front's core, shared by its gRPC services ({@code front.grpc}) and its HTTP protocol
 * ({@code front.http}): the routing of requests to backends and the checked Action Cache read.
 */
@Configuration(proxyBeanMethods = false)
@Conditional(OnFrontEnabled.class)
public class FrontConfiguration {

    @Bean
    public FrontBackends frontBackends(BackendRouter backendRouter) {
        return new FrontBackends(backendRouter);
    }

    @Bean
    public ActionCacheLookup actionCacheLookup(BackendRegistry backendRegistry, CacheValidator cacheValidator,
            VouchProperties properties, ValidationMetrics validationMetrics) {
        String repairFrom = properties.front().repairFrom();
        // the name was checked at start-up (VouchProperties): a configured backend, with its decorators
        CacheBackend repair = repairFrom == null || repairFrom.isBlank() ? null : backendRegistry.backends().get(repairFrom);
        return new ActionCacheLookup(backendRegistry, cacheValidator, properties.front().check(),
                repair == null ? null : new Repairer(repair, validationMetrics));
    }
}
