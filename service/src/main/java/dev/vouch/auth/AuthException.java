package dev.vouch.auth;

/**
 * A request refused for who it is: {@link #unauthenticated} (no identity, or one that does not
 * verify: 401 / UNAUTHENTICATED) or {@link #forbidden} (an identity without the right or instance
 * name: 403 / PERMISSION_DENIED). The detail is for the client and never holds the credential.
 */
public final class AuthException extends RuntimeException {
    private final boolean authenticated;
    private final String reason;

    private AuthException(boolean authenticated, String reason, String detail) {
        super(detail, null, false, false);
        this.authenticated = authenticated;
        this.reason = reason;
    }

    /** @param reason the metric's {@code reason}: {@code missing}, {@code invalid}, {@code expired} */
    static AuthException unauthenticated(String reason, String detail) {
        return new AuthException(false, reason, detail);
    }

    static AuthException forbidden(String detail) {
        return new AuthException(true, "forbidden", detail);
    }

    /** True for 403 / PERMISSION_DENIED, false for 401 / UNAUTHENTICATED. */
    public boolean forbidden() {
        return authenticated;
    }

    /** {@code missing}, {@code invalid}, {@code expired} or {@code forbidden}. */
    public String reason() {
        return reason;
    }
}
