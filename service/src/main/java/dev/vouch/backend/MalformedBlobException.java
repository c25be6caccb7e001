package dev.vouch.backend;

import dev.vouch.digest.Digest;

/** A blob that should hold a Tree or Directory message and does not parse as one. */
public class MalformedBlobException extends RuntimeException {
    private final Digest digest;

    public MalformedBlobException(Digest digest, Throwable cause) {
        super("blob " + digest + " is not a valid message: " + cause.getMessage(), cause);
        this.digest = digest;
    }

    public Digest digest() {
        return digest;
    }
}
