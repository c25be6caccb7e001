package dev.vouch.backend.embedded.http;

import dev.vouch.backend.embedded.BlobStore;
import dev.vouch.backend.embedded.OnEmbeddedBackend;
import dev.vouch.config.VouchProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Conditional;
import org.springframework.context.annotation.Configuration;
import org.springframework.web.reactive.function.server.RouterFunction;
import org.springframework.web.reactive.function.server.RouterFunctions;
import org.springframework.web.reactive.function.server.ServerResponse;

/**
 * The embedded cache's Bazel HTTP cache protocol under {@code /cache} on the HTTP port (SPEC "The
 * embedded backend"), so {@code bazel build --remote_cache=http://localhost:8080/cache} works.
 */
@Configuration(proxyBeanMethods = false)
@Conditional(OnEmbeddedBackend.class)
public class EmbeddedHttpConfiguration {
    public static final String PREFIX = "/cache";

    @Bean
    public HttpCacheHandler embeddedHttpCacheHandler(BlobStore embeddedBlobStore, VouchProperties properties) {
        return new HttpCacheHandler(embeddedBlobStore, properties.limits().maxActionResultBytes());
    }

    @Bean
    public RouterFunction<ServerResponse> embeddedHttpCacheRoutes(HttpCacheHandler embeddedHttpCacheHandler) {
        HttpCacheHandler handler = embeddedHttpCacheHandler;
        // HEAD routes first: a GET route may also answer HEAD, and HEAD must not read a whole blob
        return RouterFunctions.route()
                .HEAD(PREFIX + "/ac/{hash}", handler::headActionResult)
                .HEAD(PREFIX + "/cas/{hash}", handler::headBlob)
                .GET(PREFIX + "/ac/{hash}", handler::getActionResult)
                .GET(PREFIX + "/cas/{hash}", handler::getBlob)
                .PUT(PREFIX + "/ac/{hash}", handler::putActionResult)
                .PUT(PREFIX + "/cas/{hash}", handler::putBlob)
                .build();
    }
}
