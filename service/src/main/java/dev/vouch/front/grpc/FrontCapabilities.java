package dev.vouch.front.grpc;

import build.bazel.remote.execution.v2.ActionCacheUpdateCapabilities;
import build.bazel.remote.execution.v2.CacheCapabilities;
import build.bazel.remote.execution.v2.GetCapabilitiesRequest;
import build.bazel.remote.execution.v2.ReactorCapabilitiesGrpc;
import build.bazel.remote.execution.v2.ServerCapabilities;
import build.bazel.remote.execution.v2.SymlinkAbsolutePathStrategy;
import build.bazel.semver.SemVer;
import dev.vouch.auth.Right;
import dev.vouch.backend.BackendCapabilities;
import dev.vouch.backend.CacheBackend;
import dev.vouch.backend.Scope;
import dev.vouch.digest.DigestFunction;
import dev.vouch.front.FrontBackends;
import dev.vouch.logging.LogSafe;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;

/**
 * REAPI Capabilities at the cache front: what the backend of the request's instance name offers,
 * as far as the front can pass it on. Digest functions are the backend's that resource names tell
 * apart by hash length (for {@code http} and {@code embedded} backends SHA-256 alone); Action Cache
 * updates as the backend allows them; the batch limit the backend's, else Vouch's own
 * ({@link BatchLimit}); API versions 2.0 to 2.3, what the front implements; no execution, no
 * compression. Bazel fails the build when this call fails, so a backend that cannot be asked now
 * (a {@code grpc} server that is down) gets what Vouch itself can offer, SHA-256 and updates, and
 * its calls then fail UNAVAILABLE one by one, which Bazel survives by building locally.
 */
public final class FrontCapabilities extends ReactorCapabilitiesGrpc.CapabilitiesImplBase {
    private static final Logger log = LoggerFactory.getLogger(FrontCapabilities.class);

    private final FrontBackends backends;
    private final BatchLimit batchLimit;
    private final GrpcAccess access;

    FrontCapabilities(FrontBackends backends, BatchLimit batchLimit, GrpcAccess access) {
        this.access = access;
        this.backends = backends;
        this.batchLimit = batchLimit;
    }

    @Override
    public Mono<ServerCapabilities> getCapabilities(GetCapabilitiesRequest request) {
        GrpcAccess.Call call = access.begin();
        return Mono.defer(() -> {
                    call.check(request.getInstanceName(), Right.READ);
                    CacheBackend backend = backends.forInstance(request.getInstanceName());
                    Scope scope = Scope.of(request.getInstanceName());
                    return backend.capabilities(scope)
                            .onErrorResume(e -> {
                                log.warn("front: capabilities of backend {} for instance {} unavailable, answering"
                                                + " Vouch's own: {}", backend.name(), LogSafe.quote(request.getInstanceName()),
                                        LogSafe.escape(e.toString()));
                                return Mono.just(new BackendCapabilities(Set.of(DigestFunction.SHA256), 0));
                            });
                })
                .map(this::toProto)
                .contextWrite(call::context);
    }

    private ServerCapabilities toProto(BackendCapabilities capabilities) {
        CacheCapabilities.Builder cache = CacheCapabilities.newBuilder()
                .setActionCacheUpdateCapabilities(ActionCacheUpdateCapabilities.newBuilder()
                        .setUpdateEnabled(capabilities.actionCacheUpdates()))
                .setMaxBatchTotalSizeBytes(batchLimit.of(capabilities))
                // the front stores and serves ActionResults as they are: absolute symlinks pass through
                .setSymlinkAbsolutePathStrategy(SymlinkAbsolutePathStrategy.Value.ALLOWED);
        for (DigestFunction function : DigestFunction.values()) {
            if (capabilities.supports(function) && ResourceName.NAMED_BY_LENGTH.contains(function)) {
                cache.addDigestFunctions(function.toProto());
            }
        }
        return ServerCapabilities.newBuilder()
                .setCacheCapabilities(cache)
                .setLowApiVersion(SemVer.newBuilder().setMajor(2).setMinor(0))
                .setHighApiVersion(SemVer.newBuilder().setMajor(2).setMinor(3))
                .build();
    }
}
