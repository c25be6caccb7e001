package dev.vouch.backend.embedded.grpc;

import build.bazel.remote.execution.v2.ActionCacheUpdateCapabilities;
import build.bazel.remote.execution.v2.CacheCapabilities;
import build.bazel.remote.execution.v2.DigestFunction;
import build.bazel.remote.execution.v2.GetCapabilitiesRequest;
import build.bazel.remote.execution.v2.ReactorCapabilitiesGrpc;
import build.bazel.remote.execution.v2.ServerCapabilities;
import build.bazel.remote.execution.v2.SymlinkAbsolutePathStrategy;
import build.bazel.semver.SemVer;
import reactor.core.publisher.Mono;

/** REAPI Capabilities of the embedded cache. Bazel fails the build when this call fails. */
public final class EmbeddedCapabilities extends ReactorCapabilitiesGrpc.CapabilitiesImplBase {
    private final ServerCapabilities capabilities;

    public EmbeddedCapabilities(long maxBatchTotalSizeBytes) {
        this.capabilities = ServerCapabilities.newBuilder()
                .setCacheCapabilities(CacheCapabilities.newBuilder()
                        .addDigestFunctions(DigestFunction.Value.SHA256)
                        .setActionCacheUpdateCapabilities(ActionCacheUpdateCapabilities.newBuilder().setUpdateEnabled(true))
                        .setMaxBatchTotalSizeBytes(maxBatchTotalSizeBytes)
                        .setSymlinkAbsolutePathStrategy(SymlinkAbsolutePathStrategy.Value.ALLOWED))
                .setLowApiVersion(SemVer.newBuilder().setMajor(2).setMinor(0))
                .setHighApiVersion(SemVer.newBuilder().setMajor(2).setMinor(3))
                .build();
    }

    @Override
    public Mono<ServerCapabilities> getCapabilities(GetCapabilitiesRequest request) {
        return Mono.just(capabilities);
    }
}
