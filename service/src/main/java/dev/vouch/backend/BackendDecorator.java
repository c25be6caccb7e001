package dev.vouch.backend;

import dev.vouch.config.VouchProperties;

/**
 * Wraps each backend the factories build (metrics, resilience, ...), so that the registry holds the
 * whole decorated graph and the implementations stay free of cross-cutting code. A decorator that
 * wraps an {@link AutoCloseable} backend must close it when it is closed.
 */
@FunctionalInterface
public interface BackendDecorator {

    /** Leaves every backend as its factory built it. */
    BackendDecorator NONE = (backend, config) -> backend;

    CacheBackend decorate(CacheBackend backend, VouchProperties.Backend config);
}
