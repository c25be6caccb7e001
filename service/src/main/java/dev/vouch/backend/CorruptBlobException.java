package dev.vouch.backend;

import dev.vouch.digest.Digest;

/**
 * A blob whose bytes do not match its digest: another hash, or another length. A read that runs
 * past the digest's size stops there with this, so an understated size never costs more than
 * {@code size + 1} bytes. An answer about the data, like absence: not a backend failure, and
 * never retried. Control flow, so no stack trace.
 */
public final class CorruptBlobException extends RuntimeException {
    private final Digest digest;
    private final String detail;

    public CorruptBlobException(Digest digest, String detail) {
        super("blob " + digest + " is corrupt: " + detail, null, false, false);
        this.digest = digest;
        this.detail = detail;
    }

    /** The stream's bytes after {@code bytesRead} of them ran past {@code digest}'s size. */
    public static CorruptBlobException longerThan(Digest digest, long bytesRead) {
        return new CorruptBlobException(digest, "read at least " + bytesRead + " bytes, digest says " + digest.sizeBytes());
    }

    public Digest digest() {
        return digest;
    }

    /** What is wrong with it, without the digest. */
    public String detail() {
        return detail;
    }
}
