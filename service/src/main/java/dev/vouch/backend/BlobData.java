package dev.vouch.backend;

import dev.vouch.digest.Digest;
import java.nio.ByteBuffer;

/**
 * A small blob held whole, for batch writes ({@link CacheBackend#writeBlobs}): its digest and its
 * bytes. The buffer is read-only as far as backends are concerned; they read a duplicate of it.
 */
public record BlobData(Digest digest, ByteBuffer data) {
    public BlobData {
        data = data.asReadOnlyBuffer();
    }

    /** The bytes, from the buffer's position, without moving it. */
    public ByteBuffer bytes() {
        return data.duplicate();
    }
}
