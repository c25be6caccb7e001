package dev.vouch.auth;

import java.net.URI;
import java.util.LinkedHashMap;
import java.util.Map;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ProblemDetail;
import org.springframework.http.ResponseEntity;

/**
 * The HTTP form of an {@link AuthException}: RFC 9457 problem+json, 401 with
 * {@code WWW-Authenticate: Bearer} or 403. For controllers ({@link #response}) and for filters that
 * answer before any controller ({@link #body}).
 */
public final class AuthProblems {
    public static final URI UNAUTHENTICATED = URI.create("urn:vouch:problem:unauthenticated");
    public static final URI FORBIDDEN = URI.create("urn:vouch:problem:forbidden");

    private AuthProblems() {
    }

    public static HttpStatus status(AuthException e) {
        return e.forbidden() ? HttpStatus.FORBIDDEN : HttpStatus.UNAUTHORIZED;
    }

    /** RFC 6750's challenge; {@code invalid_token} when a token was sent but refused. */
    public static String challenge(AuthException e) {
        return "missing".equals(e.reason()) ? "Bearer realm=\"vouch\""
                : "Bearer realm=\"vouch\", error=\"invalid_token\"";
    }

    public static ResponseEntity<ProblemDetail> response(AuthException e, String path) {
        ProblemDetail problem = ProblemDetail.forStatusAndDetail(status(e), e.getMessage());
        problem.setType(e.forbidden() ? FORBIDDEN : UNAUTHENTICATED);
        problem.setTitle(title(e));
        if (path != null) {
            problem.setInstance(URI.create(path));
        }
        ResponseEntity.BodyBuilder answer = ResponseEntity.status(status(e)).contentType(MediaType.APPLICATION_PROBLEM_JSON);
        if (!e.forbidden()) {
            answer.header(HttpHeaders.WWW_AUTHENTICATE, challenge(e));
        }
        return answer.body(problem);
    }

    /** The same problem as a plain map, for writing with a JSON mapper. */
    public static Map<String, Object> body(AuthException e, String path) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("type", (e.forbidden() ? FORBIDDEN : UNAUTHENTICATED).toString());
        body.put("title", title(e));
        body.put("status", status(e).value());
        body.put("detail", e.getMessage());
        if (path != null) {
            body.put("instance", path);
        }
        return body;
    }

    private static String title(AuthException e) {
        return e.forbidden() ? "Forbidden" : "Unauthenticated";
    }
}
