package dev.vouch.api.http;

import dev.vouch.backend.BackendRouter;
import org.springframework.boot.test.context.TestConfiguration;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Primary;

/** Routes every request of a Spring test to one {@link HeldBackend}, whose calls the test completes. */
@TestConfiguration(proxyBeanMethods = false)
public class HeldBackendRouting {

    @Bean
    HeldBackend heldBackend() {
        return new HeldBackend();
    }

    @Bean
    @Primary
    BackendRouter heldRouter(HeldBackend heldBackend) {
        return instance -> heldBackend;
    }
}
