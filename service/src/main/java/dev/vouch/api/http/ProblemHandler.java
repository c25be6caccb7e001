package dev.vouch.api.http;

import dev.vouch.api.InFlightValidations;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatusCode;
import org.springframework.http.MediaType;
import org.springframework.http.ProblemDetail;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.ExceptionHandler;
import org.springframework.web.bind.annotation.RestControllerAdvice;
import org.springframework.web.server.ResponseStatusException;

/**
 * Renders every failure of the REST API as RFC 9457 {@code application/problem+json}. Unexpected
 * exceptions are logged here and answered without a stack trace.
 */
@RestControllerAdvice(assignableTypes = ValidationController.class)
@Order(Ordered.HIGHEST_PRECEDENCE)
class ProblemHandler {
    private static final Logger log = LoggerFactory.getLogger(ProblemHandler.class);

    @ExceptionHandler(ApiProblemException.class)
    ResponseEntity<ProblemDetail> refused(ApiProblemException e) {
        ProblemDetail problem = problem(e.type(), e.getMessage());
        List<FieldProblem> fields = e.problems();
        if (!fields.isEmpty()) {
            if (fields.get(0).field() != null) {
                problem.setProperty("field", fields.get(0).field());
            }
            if (fields.size() > 1) {
                problem.setProperty("errors", fields.stream()
                        .map(f -> f.field() == null ? Map.of("detail", f.detail())
                                : Map.of("field", f.field(), "detail", f.detail()))
                        .toList());
            }
        }
        if (e.type() == ProblemType.BODY_TOO_LARGE) {
            // a body past the drain bound is left unread: closing after every 413 keeps clients and server in step
            return ResponseEntity.status(e.type().status())
                    .header(HttpHeaders.CONNECTION, "close")
                    .contentType(MediaType.APPLICATION_PROBLEM_JSON)
                    .body(problem);
        }
        return respond(e.type().status(), problem);
    }

    /** Refused before any work, with a hint for clients that back off by the header. */
    @ExceptionHandler(InFlightValidations.OverloadedException.class)
    ResponseEntity<ProblemDetail> overloaded(InFlightValidations.OverloadedException e) {
        return ResponseEntity.status(ProblemType.OVERLOADED.status())
                .header(HttpHeaders.RETRY_AFTER, Long.toString(e.retryAfterSeconds()))
                .contentType(MediaType.APPLICATION_PROBLEM_JSON)
                .body(problem(ProblemType.OVERLOADED, e.getMessage()));
    }

    /** Spring's own refusals (a missing path variable, a bad query string) keep their status. */
    @ExceptionHandler(ResponseStatusException.class)
    ResponseEntity<ProblemDetail> rejected(ResponseStatusException e) {
        HttpStatusCode status = e.getStatusCode();
        ProblemDetail problem = ProblemDetail.forStatusAndDetail(status,
                e.getReason() != null ? e.getReason() : "request rejected");
        problem.setType(SpringProblemHandler.BLANK);
        return respond(status, problem);
    }

    @ExceptionHandler(Exception.class)
    ResponseEntity<ProblemDetail> unexpected(Exception e) {
        log.error("REST request failed unexpectedly", e);
        return respond(ProblemType.INTERNAL_ERROR.status(), problem(ProblemType.INTERNAL_ERROR,
                "the request could not be completed; the cause is in the service log"));
    }

    private static ProblemDetail problem(ProblemType type, String detail) {
        ProblemDetail problem = ProblemDetail.forStatusAndDetail(type.status(), detail);
        problem.setType(type.type());
        problem.setTitle(type.title());
        return problem;
    }

    private static ResponseEntity<ProblemDetail> respond(HttpStatusCode status, ProblemDetail problem) {
        return ResponseEntity.status(status).contentType(MediaType.APPLICATION_PROBLEM_JSON).body(problem);
    }
}
