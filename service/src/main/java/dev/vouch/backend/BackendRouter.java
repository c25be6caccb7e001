package dev.vouch.backend;

/** Picks the backend for a request (SPEC "Backends": instance-name routes, else the default). */
@FunctionalInterface
public interface BackendRouter {
    CacheBackend route(String instanceName);
}
