package dev.vouch.backend.embedded;

import dev.vouch.digest.Digest;

/**
 * A write the store's size bound ({@code vouch.embedded.max-size-bytes}) cannot take, even after
 * evicting everything it may: the blob is larger than the bound, or uploads in progress hold the
 * rest. Nothing was stored. RESOURCE_EXHAUSTED over gRPC, 507 over HTTP.
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
