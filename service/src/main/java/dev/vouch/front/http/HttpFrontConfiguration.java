package dev.vouch.front.http;

import dev.vouch.auth.Authorizer;
import dev.vouch.config.VouchProperties;
import dev.vouch.front.ActionCacheLookup;
import dev.vouch.front.FrontBackends;
import dev.vouch.front.OnFrontEnabled;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Conditional;
import org.springframework.context.annotation.Configuration;
import org.springframework.web.reactive.function.server.RouterFunction;
import org.springframework.web.reactive.function.server.RouterFunctions;
import org.springframework.web.reactive.function.server.ServerResponse;
import reactor.core.scheduler.Scheduler;

/**
 * The cache front's Bazel HTTP cache protocol under {@code /cache} on the HTTP port (SPEC "The cache
 * front"): {@code /cache/ac/<hash>} and {@code /cache/cas/<hash>} for instance name "", and
 * {@code /cache/<instance>/ac/<hash>}, {@code /cache/<instance>/cas/<hash>} for another (which may
 * contain {@code /}), so {@code bazel build --remote_cache=http://localhost:8080/cache} works for
 * any backend.
 */
@Configuration(proxyBeanMethods = false)
@Conditional(OnFrontEnabled.class)
public class HttpFrontConfiguration {
    public static final String PREFIX = "/cache";

    @Bean
    public HttpCacheHandler httpCacheHandler(FrontBackends frontBackends, ActionCacheLookup actionCacheLookup,
            VouchProperties properties, Authorizer authorizer, @Qualifier("ioScheduler") Scheduler io) {
        return new HttpCacheHandler(frontBackends, actionCacheLookup, properties.limits().maxActionResultBytes(),
                properties.limits().defaultDeadline(), authorizer, io);
    }

    @Bean
    public RouterFunction<ServerResponse> httpCacheRoutes(HttpCacheHandler httpCacheHandler) {
        HttpCacheHandler handler = httpCacheHandler;
        // HEAD first: a GET route may also answer HEAD, and HEAD must not read a whole blob
        return RouterFunctions.route()
                .HEAD(PREFIX + "/**", handler::head)
                .GET(PREFIX + "/**", handler::get)
                .PUT(PREFIX + "/**", handler::put)
                .build();
    }
}
