package dev.vouch.backend;

import dev.vouch.digest.Digest;

/**
 * Stored data that should be a REAPI message (a Tree or Directory blob, an Action Cache entry) and
 * does not parse as one. An answer about the data, not a failure of the backend.
 */
public class MalformedBlobException extends RuntimeException {
    private final Digest digest;

    public MalformedBlobException(Digest digest, Throwable cause) {
        this(digest, "blob " + digest + " is not a valid message", cause);
    }

    /** @param what what the data is, e.g. "Action Cache entry ... is not a valid ActionResult" */
    public MalformedBlobException(Digest digest, String what, Throwable cause) {
        super(what + ": " + cause.getMessage(), cause);
        this.digest = digest;
    }

    public Digest digest() {
        return digest;
    }
}
