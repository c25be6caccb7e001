package dev.vouch.api.http;

import org.springframework.boot.test.context.TestConfiguration;
import org.springframework.boot.webtestclient.autoconfigure.WebTestClientBuilderCustomizer;
import org.springframework.context.annotation.Bean;

/**
 * Puts {@link OpenApiContract#filter()} on the WebTestClient of every test that has
 * {@code @AutoConfigureWebTestClient}: listed in this module's test resources under
 * {@code META-INF/spring/...AutoConfigureWebTestClient.imports}, which Spring Boot merges with its
 * own, so no test needs to ask for it and none can forget it.
 */
@TestConfiguration(proxyBeanMethods = false)
public class OpenApiContractConfiguration {
    @Bean
    WebTestClientBuilderCustomizer openApiContract() {
        return builder -> builder.filter(OpenApiContract.shared().filter());
    }
}
