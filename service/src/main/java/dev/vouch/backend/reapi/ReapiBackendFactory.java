package dev.vouch.backend.reapi;

import dev.vouch.backend.BackendFactory;
import dev.vouch.backend.CacheBackend;
import dev.vouch.config.VouchProperties;
import org.springframework.stereotype.Component;

/**
 * Builds the {@code grpc} backends: one {@link ReapiBackend}, with its own channel, per entry. The
 * channel connects lazily, so a cache that is down at start-up does not stop Vouch; its verdicts
 * are UNKNOWN until it answers.
 */
@Component
public class ReapiBackendFactory implements BackendFactory {
    private final int maxActionResultBytes;

    /** A factory with the default limits, for tests. */
    public ReapiBackendFactory() {
        this.maxActionResultBytes = VouchProperties.Limits.defaults().maxActionResultBytes();
    }

    @org.springframework.beans.factory.annotation.Autowired
    public ReapiBackendFactory(VouchProperties properties) {
        this.maxActionResultBytes = properties.limits().maxActionResultBytes();
    }

    @Override
    public VouchProperties.BackendType type() {
        return VouchProperties.BackendType.GRPC;
    }

    @Override
    public CacheBackend create(VouchProperties.Backend config) {
        return new ReapiBackend(config, ReapiBackend.DEFAULT_TREE_PAGE_SIZE, maxActionResultBytes);
    }
}
