package dev.vouch.backend;

/**
 * The backend's protocol cannot do what was asked (a backend that accepts no writes, a REAPI server
 * asked for a blob by hash alone). An answer about the setup, never absence or a failure of the
 * backend: UNIMPLEMENTED over gRPC, 501 over HTTP.
 */
public class NotSupportedException extends RuntimeException {
    private final String backend;

    public NotSupportedException(String backend, String message) {
        super(message);
        this.backend = backend;
    }

    public String backend() {
        return backend;
    }
}
