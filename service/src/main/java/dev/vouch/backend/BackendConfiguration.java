package dev.vouch.backend;

import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** Routes every request to the one configured backend; instance-name routes come with remote backends. */
@Configuration(proxyBeanMethods = false)
public class BackendConfiguration {

    @Bean
    public BackendRouter backendRouter(CacheBackend backend) {
        return instanceName -> backend;
    }
}
