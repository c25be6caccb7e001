package dev.vouch.backend.embedded;

import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.digest.DigestMismatchException;
import dev.vouch.digest.Hasher;
import java.nio.ByteBuffer;

/** Hashes and counts an upload as it streams by, so the blob is verified without a second pass. */
final class DigestCheck {
    private final Digest expected;
    private final Hasher hasher = DigestFunction.SHA256.newHasher();
    private long received;

    DigestCheck(Digest expected) {
        this.expected = expected;
    }

    /** Accounts for {@code chunk} without moving its position. */
    void update(ByteBuffer chunk) {
        received += chunk.remaining();
        // Fail as soon as the upload overruns, instead of filling the disk with an oversized blob
        if (received > expected.sizeBytes()) {
            throw new DigestMismatchException(expected, "received more than " + expected.sizeBytes() + " bytes");
        }
        hasher.update(chunk.duplicate());
    }

    long received() {
        return received;
    }

    void finish() {
        if (received != expected.sizeBytes()) {
            throw new DigestMismatchException(expected, "received " + received + " bytes, digest says " + expected.sizeBytes());
        }
        String actual = hasher.finish().hash();
        if (!actual.equals(expected.hash())) {
            throw new DigestMismatchException(expected, "content hashes to " + actual);
        }
    }
}
