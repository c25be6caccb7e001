package dev.vouch.front.grpc;

import dev.vouch.backend.BackendCapabilities;

/**
 * The {@code max_batch_total_size_bytes} the front advertises, and holds BatchReadBlobs to, for a
 * backend: the backend's own limit when it states one, otherwise Vouch's
 * ({@code vouch.embedded.max-batch-total-size-bytes}); never more than a message the front's gRPC
 * server accepts ({@code vouch.grpc.max-inbound-message-bytes}, less room for framing).
 *
 * @param own Vouch's own limit, for backends that state none (the Bazel HTTP cache protocol)
 * @param ceiling what one inbound message may carry
 */
record BatchLimit(long own, long ceiling) {
    // framing and the per-blob digests and statuses beside the blobs' bytes
    private static final long FRAMING = 64 << 10;

    static BatchLimit of(long own, int maxInboundMessageBytes) {
        return new BatchLimit(own, Math.max(1024, maxInboundMessageBytes - FRAMING));
    }

    long of(BackendCapabilities capabilities) {
        long stated = capabilities.maxBatchTotalSizeBytes();
        return Math.min(stated > 0 ? stated : own, ceiling);
    }
}
