package dev.vouch.digest;

/** Uploaded bytes that do not hash to the digest they were sent under; nothing was stored. */
public class DigestMismatchException extends RuntimeException {
    private final Digest expected;

    public DigestMismatchException(Digest expected, String message) {
        super("blob " + expected + ": " + message);
        this.expected = expected;
    }

    public Digest expected() {
        return expected;
    }
}
