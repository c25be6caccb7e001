package dev.vouch.backend;

import dev.vouch.config.VouchProperties;

/** Builds the backends of one {@code type}; one factory bean per type turns configuration into backends. */
public interface BackendFactory {

    VouchProperties.BackendType type();

    /** A backend for {@code config}; if it holds resources (channels, pools) it should be {@link AutoCloseable}. */
    CacheBackend create(VouchProperties.Backend config);
}
