package dev.vouch.front;

import dev.vouch.backend.BackendRouter;
import dev.vouch.config.VouchProperties;
import dev.vouch.validation.CacheValidator;
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
    public ActionCacheLookup actionCacheLookup(BackendRouter backendRouter, CacheValidator cacheValidator,
            VouchProperties properties) {
        return new ActionCacheLookup(backendRouter, cacheValidator, properties.front().check());
    }
}
