package dev.vouch.backend;

/** A backend could not answer: unreachable, failing, timed out. Never means "absent". */
public class BackendException extends RuntimeException {
    private final String backend;

    public BackendException(String backend, String message) {
        super(message);
        this.backend = backend;
    }

    public BackendException(String backend, String message, Throwable cause) {
        super(message, cause);
        this.backend = backend;
    }

    public String backend() {
        return backend;
    }
}
