package dev.vouch.auth;

import java.util.Set;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.http.HttpHeaders;
import org.springframework.http.MediaType;
import org.springframework.http.server.reactive.ServerHttpResponse;
import org.springframework.http.server.reactive.SslInfo;
import org.springframework.stereotype.Component;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.WebFilter;
import org.springframework.web.server.WebFilterChain;
import reactor.core.publisher.Mono;
import tools.jackson.databind.json.JsonMapper;

/**
 * Authentication on the HTTP port: when auth is on, every request but the probes and the Prometheus
 * scrape needs an identity, or is answered 401 here, before routing and before its body is read.
 * The identity is left in the exchange ({@link #identity}) for the handler's {@link Authorizer#check},
 * which needs what only the handler knows (the instance name, the right the operation needs).
 * Over mutual TLS the client certificate is an identity too ({@code vouch.auth.certificates}).
 * With auth off the filter passes every request through untouched.
 */
@Component
@Order(Ordered.HIGHEST_PRECEDENCE + 100)
public class AuthWebFilter implements WebFilter {
    /** Always reachable: Kubernetes probes and Prometheus carry no token. */
    static final Set<String> OPEN_PATHS = Set.of("/actuator/health/liveness", "/actuator/health/readiness",
            "/actuator/prometheus");
    private static final String IDENTITY = AuthWebFilter.class.getName() + ".identity";

    private final Authorizer authorizer;
    private final JsonMapper json;

    public AuthWebFilter(Authorizer authorizer, JsonMapper json) {
        this.authorizer = authorizer;
        this.json = json;
    }

    /**
     * The identity this filter found for the request: {@link Identity#ANONYMOUS} with auth off, null
     * if the request never passed the filter (which {@link Authorizer#check} refuses).
     */
    public static Identity identity(ServerWebExchange exchange) {
        return exchange.getAttribute(IDENTITY);
    }

    @Override
    public Mono<Void> filter(ServerWebExchange exchange, WebFilterChain chain) {
        if (!authorizer.enabled()) {
            exchange.getAttributes().put(IDENTITY, Identity.ANONYMOUS);
            return chain.filter(exchange);
        }
        if (OPEN_PATHS.contains(exchange.getRequest().getPath().pathWithinApplication().value())) {
            return chain.filter(exchange);
        }
        SslInfo ssl = exchange.getRequest().getSslInfo();
        return authorizer.authenticate(exchange.getRequest().getHeaders().getFirst(HttpHeaders.AUTHORIZATION),
                        ssl == null ? null : ssl.getPeerCertificates())
                .<Object>cast(Object.class)
                // only a refusal of the credential is answered here; errors of the handlers go their own way
                .onErrorResume(AuthException.class, Mono::just)
                .flatMap(outcome -> {
                    if (outcome instanceof Identity identity) {
                        exchange.getAttributes().put(IDENTITY, identity);
                        return chain.filter(exchange);
                    }
                    return refuse(exchange, (AuthException) outcome);
                });
    }

    private Mono<Void> refuse(ServerWebExchange exchange, AuthException e) {
        ServerHttpResponse response = exchange.getResponse();
        response.setStatusCode(AuthProblems.status(e));
        response.getHeaders().setContentType(MediaType.APPLICATION_PROBLEM_JSON);
        if (!e.forbidden()) {
            response.getHeaders().set(HttpHeaders.WWW_AUTHENTICATE, AuthProblems.challenge(e));
        }
        byte[] body = json.writeValueAsBytes(AuthProblems.body(e, exchange.getRequest().getPath().value()));
        return response.writeWith(Mono.just(response.bufferFactory().wrap(body)));
    }
}
