package dev.vouch.api.http;

import dev.vouch.backend.CallerCredentials;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.http.HttpHeaders;
import org.springframework.stereotype.Component;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.WebFilter;
import org.springframework.web.server.WebFilterChain;
import reactor.core.publisher.Mono;

/**
 * Carries each HTTP request's {@code Authorization} header to the backend calls made for it, as
 * {@link CallerCredentials} in the Reactor context, for the backends that forward it
 * ({@code vouch.backends[i].forward-credentials}); on the validation API and {@code /cache} alike,
 * whether or not {@code vouch.auth} is on. Backends that do not forward ignore it.
 */
@Component
@Order(Ordered.HIGHEST_PRECEDENCE + 50)
public class CallerCredentialsFilter implements WebFilter {
    @Override
    public Mono<Void> filter(ServerWebExchange exchange, WebFilterChain chain) {
        String authorization = exchange.getRequest().getHeaders().getFirst(HttpHeaders.AUTHORIZATION);
        return chain.filter(exchange).contextWrite(context -> CallerCredentials.put(context, authorization));
    }
}
