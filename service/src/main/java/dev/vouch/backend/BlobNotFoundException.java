package dev.vouch.backend;

import dev.vouch.digest.Digest;

/** The CAS does not hold the blob: a result (the blob is missing), not a failure. */
public class BlobNotFoundException extends RuntimeException {
    private final Digest digest;

    public BlobNotFoundException(Digest digest) {
        super("blob " + digest + " not found", null, false, false);
        this.digest = digest;
    }

    public Digest digest() {
        return digest;
    }
}
