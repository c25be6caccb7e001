package dev.vouch.backend.embedded;

import dev.vouch.digest.Digest;

/**
 * An upload that sent nothing for {@code vouch.embedded.upload-idle-timeout}: the store gave up on
 * it and deleted its temporary file, so a stalled client holds no file or disk space.
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
