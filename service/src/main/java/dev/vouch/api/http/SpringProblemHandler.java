package dev.vouch.api.http;

import java.net.URI;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatusCode;
import org.springframework.http.ProblemDetail;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.ControllerAdvice;
import org.springframework.web.reactive.result.method.annotation.ResponseEntityExceptionHandler;
import org.springframework.web.server.ServerWebExchange;
import reactor.core.publisher.Mono;

/**
 * Spring's own refusals outside Vouch's controller (an unknown path, a method or media type the
 * route does not take, the actuator's) as problem details with the members SPEC "REST API v1"
 * names: Spring leaves {@code type} out when it is {@code about:blank}, so it is written here.
 * Takes the place of Spring Boot's handler for {@code spring.webflux.problemdetails.enabled}.
 */
@ControllerAdvice
@Order(Ordered.LOWEST_PRECEDENCE)
class SpringProblemHandler extends ResponseEntityExceptionHandler {
    /** RFC 9457's type of a problem that says no more than its status. */
    static final URI BLANK = URI.create("about:blank");

    @Override
    protected Mono<ResponseEntity<Object>> createResponseEntity(Object body, HttpHeaders headers, HttpStatusCode status,
            ServerWebExchange exchange) {
        if (body instanceof ProblemDetail problem && problem.getType() == null) {
            problem.setType(BLANK);
        }
        return super.createResponseEntity(body, headers, status, exchange);
    }
}
