package dev.vouch.digest;

import java.nio.ByteBuffer;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * A blob's chunks passed on as they stream by, hashed on the way, with the last chunk held back
 * until the whole blob has been checked against its digest. Whoever forwards the stream (a write to
 * a backend) therefore never receives the end of a blob that does not match: the stream fails with
 * {@link DigestMismatchException} instead, before the last bytes, so the write it feeds is aborted
 * incomplete and cannot be stored. One chunk is held at a time, so memory stays constant.
 *
 * <p>A blob running past its size fails at the chunk that does, which is not passed on; a blob
 * ending short of it, or hashing to something else, fails when it ends. This is what the cache
 * front puts in front of every write it forwards, and what a copy from one backend into another
 * (repair) needs.
 */
public final class VerifiedStream {

    private VerifiedStream() {
    }

    /** {@code data}, checked against {@code expected} under {@code function}; subscribe once per upload. */
    public static Flux<ByteBuffer> of(Digest expected, DigestFunction function, Flux<ByteBuffer> data) {
        return Flux.defer(() -> {
            Hasher hasher = function.newHasher();
            ByteBuffer[] held = {null};
            return data
                    .<ByteBuffer>handle((chunk, sink) -> {
                        if (!chunk.hasRemaining()) {
                            return;
                        }
                        if (hasher.size() + chunk.remaining() > expected.sizeBytes()) {
                            sink.error(new DigestMismatchException(expected, "received more than "
                                    + expected.sizeBytes() + " bytes"));
                            return;
                        }
                        hasher.update(chunk.duplicate());
                        ByteBuffer previous = held[0];
                        held[0] = chunk;
                        if (previous != null) {
                            sink.next(previous);
                        }
                    })
                    .concatWith(Mono.defer(() -> {
                        Digest actual = hasher.finish();
                        if (actual.sizeBytes() != expected.sizeBytes()) {
                            return Mono.error(new DigestMismatchException(expected, "received " + actual.sizeBytes()
                                    + " bytes, digest says " + expected.sizeBytes()));
                        }
                        if (!actual.hash().equals(expected.hash())) {
                            return Mono.error(new DigestMismatchException(expected, "content hashes to " + actual.hash()));
                        }
                        return Mono.justOrEmpty(held[0]);
                    }));
        });
    }
}
