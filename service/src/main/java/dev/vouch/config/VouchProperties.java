package dev.vouch.config;

import jakarta.validation.Valid;
import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotNull;
import java.nio.file.Path;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.validation.annotation.Validated;

/**
 * Vouch's own configuration, under {@code vouch.*}. The keys named in SPEC "Configuration" are
 * normative: operators and the Helm chart rely on them.
 *
 * @param dataDir the embedded store's directory ({@code vouch.data-dir})
 * @param grpc the gRPC server
 * @param embedded the embedded cache
 * @param limits request and validation limits
 * @param io the bounded scheduler that runs blocking work (disk) off the event loops
 */
@Validated
@ConfigurationProperties("vouch")
public record VouchProperties(
        @NotNull @DefaultValue("./data") Path dataDir,
        @Valid @DefaultValue Grpc grpc,
        @Valid @DefaultValue Embedded embedded,
        @Valid @DefaultValue Limits limits,
        @Valid @DefaultValue Io io) {

    /**
     * @param port the gRPC port: embedded REAPI services ({@code vouch.grpc.port})
     * @param maxInboundMessageBytes the largest gRPC message accepted; Bazel's batch calls stay below 4 MiB
     * @param shutdownGraceSeconds how long in-flight calls may run on shutdown before they are cancelled
     */
    public record Grpc(
            @Min(0) @Max(65535) @DefaultValue("9092") int port,
            @Min(1024) @DefaultValue("16777216") int maxInboundMessageBytes,
            @Min(0) @DefaultValue("10") int shutdownGraceSeconds) {
    }

    /**
     * @param maxSizeBytes the store's size bound; least recently used entries are evicted above it
     * @param maxBatchTotalSizeBytes advertised to clients in GetCapabilities; larger blobs go over ByteStream
     */
    public record Embedded(
            @Min(1) @DefaultValue("10737418240") long maxSizeBytes,
            @Min(1024) @DefaultValue("4194304") long maxBatchTotalSizeBytes) {
    }

    /**
     * @param maxActions actions per request
     * @param maxRequestBytes request body size; larger bodies get 413
     * @param maxBlobsPerAction closure size above which an action is UNKNOWN rather than checked
     * @param maxTreeBytes total bytes of Tree and Directory messages one action may make Vouch read
     * @param findMissingBatchSize digests per existence query (bb-storage's 10,000 keeps a message near 700 KB)
     * @param actionConcurrency Action Cache lookups in flight per request
     */
    public record Limits(
            @Min(1) @DefaultValue("1000") int maxActions,
            @Min(1024) @DefaultValue("4194304") int maxRequestBytes,
            @Min(1) @DefaultValue("1000000") int maxBlobsPerAction,
            @Min(1) @DefaultValue("268435456") long maxTreeBytes,
            @Min(1) @Max(10000) @DefaultValue("10000") int findMissingBatchSize,
            @Min(1) @DefaultValue("32") int actionConcurrency) {
    }

    /**
     * @param threads threads of the bounded blocking-work scheduler
     * @param queuedTasks tasks that may wait for those threads before new work is refused
     */
    public record Io(
            @Min(1) @DefaultValue("16") int threads,
            @Min(1) @DefaultValue("100000") int queuedTasks) {
    }
}
