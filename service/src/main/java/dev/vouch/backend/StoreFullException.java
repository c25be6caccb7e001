package dev.vouch.backend;

import dev.vouch.digest.Digest;

/**
 * A write the backend has no room for: for the embedded store, one its size bound
 * ({@code vouch.embedded.max-size-bytes}) cannot take even after evicting everything it may (the
 * blob is larger than the bound, or uploads in progress hold the rest). Nothing was stored. An
 * answer to the writer, not a failure of the backend: RESOURCE_EXHAUSTED over gRPC, 507 over HTTP.
 */
public class StoreFullException extends RuntimeException {
    private final Digest digest;

    public StoreFullException(Digest digest, String message) {
        super(message);
        this.digest = digest;
    }

    public Digest digest() {
        return digest;
    }
}
