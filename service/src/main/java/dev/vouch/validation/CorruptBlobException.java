package dev.vouch.validation;

import dev.vouch.digest.Digest;

/** A blob read back in mode FETCH whose bytes do not match its digest. Control flow, so no stack trace. */
final class CorruptBlobException extends RuntimeException {
    private final Digest digest;

    CorruptBlobException(Digest digest, String detail) {
        super("blob " + digest + " is corrupt: " + detail, null, false, false);
        this.digest = digest;
    }

    Digest digest() {
        return digest;
    }
}
