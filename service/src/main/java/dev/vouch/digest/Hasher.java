package dev.vouch.digest;

import java.nio.ByteBuffer;
import java.util.HexFormat;
import java.util.Objects;

/**
 * An incremental hash of one blob under one {@link DigestFunction}, counting the bytes it is fed,
 * so that a blob can be verified while it streams by. Not thread-safe, and used once: after
 * {@link #finish()} it accepts nothing more.
 */
public abstract sealed class Hasher permits Hasher.Jca, Hasher.Blake3 {
    private long size;
    private boolean finished;

    /** Feeds the remaining bytes of {@code data}, leaving its position at its limit. */
    public final Hasher update(ByteBuffer data) {
        checkOpen();
        size += data.remaining();
        absorb(data);
        return this;
    }

    public final Hasher update(byte[] data, int offset, int length) {
        Objects.checkFromIndexSize(offset, length, data.length);
        checkOpen();
        size += length;
        absorb(data, offset, length);
        return this;
    }

    public final Hasher update(byte[] data) {
        return update(data, 0, data.length);
    }

    /** The bytes fed so far. */
    public final long size() {
        return size;
    }

    /** The digest of everything fed: the hash as lowercase hex and the byte count. */
    public final Digest finish() {
        checkOpen();
        finished = true;
        return new Digest(HexFormat.of().formatHex(result()), size);
    }

    private void checkOpen() {
        if (finished) {
            throw new IllegalStateException("hasher already finished");
        }
    }

    abstract void absorb(ByteBuffer data);

    abstract void absorb(byte[] data, int offset, int length);

    abstract byte[] result();

    /** The JDK's message digests: SHA-1, SHA-2, MD5. */
    static final class Jca extends Hasher {
        private final java.security.MessageDigest digest;

        Jca(java.security.MessageDigest digest) {
            this.digest = digest;
        }

        @Override
        void absorb(ByteBuffer data) {
            digest.update(data);
        }

        @Override
        void absorb(byte[] data, int offset, int length) {
            digest.update(data, offset, length);
        }

        @Override
        byte[] result() {
            return digest.digest();
        }
    }

    /** BLAKE3 with its default 32-byte output, from commons-codec (the JDK has none). */
    static final class Blake3 extends Hasher {
        // heap buffers are hashed in place; direct ones are copied through this much at a time
        private static final int COPY_CHUNK = 16 * 1024;
        private static final int OUTPUT_BYTES = 32;

        private final org.apache.commons.codec.digest.Blake3 blake3 =
                org.apache.commons.codec.digest.Blake3.initHash();
        private byte[] copy;

        @Override
        void absorb(ByteBuffer data) {
            if (data.hasArray()) {
                blake3.update(data.array(), data.arrayOffset() + data.position(), data.remaining());
                data.position(data.limit());
                return;
            }
            if (copy == null) {
                copy = new byte[COPY_CHUNK];
            }
            while (data.hasRemaining()) {
                int n = Math.min(copy.length, data.remaining());
                data.get(copy, 0, n);
                blake3.update(copy, 0, n);
            }
        }

        @Override
        void absorb(byte[] data, int offset, int length) {
            blake3.update(data, offset, length);
        }

        @Override
        byte[] result() {
            return blake3.doFinalize(OUTPUT_BYTES);
        }
    }
}
