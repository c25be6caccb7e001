package dev.vouch.blockhound;

import reactor.blockhound.BlockHound;
import reactor.blockhound.integration.BlockHoundIntegration;

/**
 * Vouch's BlockHound rules for tests. BlockHound's own list knows {@code java.io} streams,
 * sockets and parking but not NIO file I/O, which is what the embedded store does; so the file
 * operations the store uses are marked blocking here, and a store call that leaks disk I/O onto
 * an event loop or parallel thread fails its test. Allowed exceptions are listed with a reason.
 */
public class VouchBlockHoundIntegration implements BlockHoundIntegration {
    private static final String FILE_CHANNEL = "sun.nio.ch.FileChannelImpl";
    private static final String UNIX_FILES = "sun.nio.fs.UnixFileSystemProvider";

    @Override
    public void applyTo(BlockHound.Builder builder) {
        builder.markAsBlocking(FILE_CHANNEL, "read", "(Ljava/nio/ByteBuffer;)I");
        builder.markAsBlocking(FILE_CHANNEL, "read", "(Ljava/nio/ByteBuffer;J)I");
        builder.markAsBlocking(FILE_CHANNEL, "write", "(Ljava/nio/ByteBuffer;)I");
        builder.markAsBlocking(FILE_CHANNEL, "write", "(Ljava/nio/ByteBuffer;J)I");
        builder.markAsBlocking(UNIX_FILES, "newFileChannel",
                "(Ljava/nio/file/Path;Ljava/util/Set;[Ljava/nio/file/attribute/FileAttribute;)Ljava/nio/channels/FileChannel;");
        builder.markAsBlocking(UNIX_FILES, "newByteChannel",
                "(Ljava/nio/file/Path;Ljava/util/Set;[Ljava/nio/file/attribute/FileAttribute;)Ljava/nio/channels/SeekableByteChannel;");
        builder.markAsBlocking(UNIX_FILES, "readAttributes",
                "(Ljava/nio/file/Path;Ljava/lang/Class;[Ljava/nio/file/LinkOption;)Ljava/nio/file/attribute/BasicFileAttributes;");
        builder.markAsBlocking(UNIX_FILES, "checkAccess", "(Ljava/nio/file/Path;[Ljava/nio/file/AccessMode;)V");
        builder.markAsBlocking(UNIX_FILES, "move", "(Ljava/nio/file/Path;Ljava/nio/file/Path;[Ljava/nio/file/CopyOption;)V");
        builder.markAsBlocking(UNIX_FILES, "implDelete", "(Ljava/nio/file/Path;Z)Z");

        // Netty 4.2's adaptive buffer allocator takes a StampedLock for a moment while it adds
        // magazines under load (a large upload); a short in-memory lock, not I/O, and not covered
        // by Netty's own BlockHound integration
        builder.allowBlockingCallsInside("io.netty.buffer.AdaptivePoolingAllocator$MagazineGroup", "tryExpandMagazines");

        // Jackson builds each deserializer once, under a lock; concurrent first requests wait on
        // it for the moment that takes (in memory, once per type), as overload tests show
        builder.allowBlockingCallsInside("tools.jackson.databind.deser.DeserializerCache", "_createAndCacheValueDeserializer");

        // resilience4j guards its circuit breaker's sliding window, and the open-to-half-open step,
        // with a ReentrantLock held for a few field updates; under concurrent calls a thread may
        // park for that moment. Short in-memory locks, not I/O
        builder.allowBlockingCallsInside("io.github.resilience4j.core.metrics.FixedSizeSlidingWindowMetrics", "record");
        builder.allowBlockingCallsInside("io.github.resilience4j.core.metrics.FixedSizeSlidingWindowMetrics", "getSnapshot");
        builder.allowBlockingCallsInside("io.github.resilience4j.circuitbreaker.internal.CircuitBreakerStateMachine$OpenState",
                "toHalfOpenState");
    }
}
