package dev.vouch.backend.reapi;

import dev.vouch.backend.BackendFactory;
import dev.vouch.backend.CacheBackend;
import dev.vouch.backend.CallGuard;
import dev.vouch.config.VouchProperties;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.stereotype.Component;

/**
 * Builds the {@code grpc} backends: one {@link ReapiBackend}, with its own channel, per entry. The
 * channel connects lazily, so a cache that is down at start-up does not stop Vouch; its verdicts
 * are UNKNOWN until it answers. Each backend's calls go through the guard {@code guards} builds for it.
 */
@Component
public class ReapiBackendFactory implements BackendFactory {
    private final int maxActionResultBytes;
    private final CallGuard.Factory guards;

    /** A factory with the default limits whose backends' calls go out unguarded, for tests. */
    public ReapiBackendFactory() {
        this(CallGuard.Factory.NONE);
    }

    /** A factory with the default limits, for tests. */
    public ReapiBackendFactory(CallGuard.Factory guards) {
        this(VouchProperties.Limits.defaults().maxActionResultBytes(), guards);
    }

    /** With the guards of the context's resilience configuration; none without one, as for the decorator. */
    @Autowired
    public ReapiBackendFactory(VouchProperties properties, ObjectProvider<CallGuard.Factory> guards) {
        this(properties.limits().maxActionResultBytes(), guards.getIfAvailable(() -> CallGuard.Factory.NONE));
    }

    private ReapiBackendFactory(int maxActionResultBytes, CallGuard.Factory guards) {
        this.maxActionResultBytes = maxActionResultBytes;
        this.guards = guards;
    }

    @Override
    public VouchProperties.BackendType type() {
        return VouchProperties.BackendType.GRPC;
    }

    @Override
    public CacheBackend create(VouchProperties.Backend config) {
        CallGuard guard = guards.forBackend(config);
        try {
            return new ReapiBackend(config, guard, ReapiBackend.DEFAULT_TREE_PAGE_SIZE, maxActionResultBytes);
        } catch (RuntimeException e) {
            // e.g. an unreadable TLS file: the guard's meters must not outlive the backend that failed
            guard.close();
            throw e;
        }
    }
}
