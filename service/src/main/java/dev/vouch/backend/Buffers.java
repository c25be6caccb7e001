package dev.vouch.backend;

import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferUtils;

/** Copies out of Spring's (often pooled) data buffers, for the code that must keep bytes past the buffer's life. */
public final class Buffers {
    private Buffers() {
    }

    /** The buffer's readable bytes, copied; the buffer is released, whatever happens. */
    public static byte[] drain(DataBuffer buffer) {
        try {
            byte[] bytes = new byte[buffer.readableByteCount()];
            buffer.read(bytes);
            return bytes;
        } finally {
            DataBufferUtils.release(buffer);
        }
    }
}
