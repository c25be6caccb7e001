package dev.vouch.backend;

/**
 * A backend could not answer: unreachable, failing, timed out. Never means "absent".
 *
 * <p>{@link #retryable()} says whether the same call may succeed if simply made again (UNAVAILABLE,
 * HTTP 503, a connection reset, one call timing out); the resilience layer retries only those. The
 * constructors without the flag make a non-retryable failure: a retry must be asked for by whoever
 * knows the failure is transient, since retrying a permanent one only adds load and latency.
 */
public class BackendException extends RuntimeException {
    private final String backend;
    private final boolean retryable;

    public BackendException(String backend, String message) {
        this(backend, message, false);
    }

    public BackendException(String backend, String message, Throwable cause) {
        this(backend, message, cause, false);
    }

    public BackendException(String backend, String message, boolean retryable) {
        super(message);
        this.backend = backend;
        this.retryable = retryable;
    }

    public BackendException(String backend, String message, Throwable cause, boolean retryable) {
        super(message, cause);
        this.backend = backend;
        this.retryable = retryable;
    }

    public String backend() {
        return backend;
    }

    /** Whether making the same call again may succeed: a transient failure, not a wrong request or a broken setup. */
    public boolean retryable() {
        return retryable;
    }
}
