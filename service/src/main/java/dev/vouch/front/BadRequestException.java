package dev.vouch.front;

/**
 * A request to the cache front that cannot be served as asked (a digest function the backend does
 * not support, a malformed field); it never reaches the backend. INVALID_ARGUMENT over gRPC, 400
 * over HTTP, with this message.
 */
public class BadRequestException extends RuntimeException {
    public BadRequestException(String message) {
        super(message);
    }
}
