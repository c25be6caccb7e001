package dev.vouch.backend;

import dev.vouch.digest.Digest;

/**
 * An upload whose client sent nothing for too long: for the embedded store
 * {@code vouch.embedded.upload-idle-timeout}, after which it deleted the temporary file, so a
 * stalled client holds no file or disk space. The writer's doing, not a failure of the backend:
 * DEADLINE_EXCEEDED over gRPC, 408 over HTTP.
 */
public class UploadStalledException extends RuntimeException {
    private final Digest digest;

    public UploadStalledException(Digest digest, String message) {
        super(message);
        this.digest = digest;
    }

    public Digest digest() {
        return digest;
    }
}
