package dev.vouch.backend;

import dev.vouch.config.VouchProperties;
import java.util.List;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** Turns {@code vouch.backends} and {@code vouch.routes} into the router the validator asks. */
@Configuration(proxyBeanMethods = false)
public class BackendConfiguration {

    @Bean(destroyMethod = "close")
    public BackendRegistry backendRegistry(VouchProperties properties, List<BackendFactory> factories,
            ObjectProvider<BackendDecorator> decorator) {
        return new BackendRegistry(properties, factories, decorator.getIfAvailable(() -> BackendDecorator.NONE));
    }
}
