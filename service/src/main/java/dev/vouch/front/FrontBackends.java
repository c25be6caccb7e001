package dev.vouch.front;

import dev.vouch.backend.BackendRouter;
import dev.vouch.backend.CacheBackend;
import dev.vouch.backend.Scope;
import reactor.core.publisher.Mono;

/**
 * Picks the backend of a front request by its instance name, through the same routes as validation
 * ({@code vouch.routes}, else the default backend), and refuses a digest function the backend does
 * not support before anything reaches it.
 */
public final class FrontBackends {
    private final BackendRouter router;

    public FrontBackends(BackendRouter router) {
        this.router = router;
    }

    /** The backend for {@code scope}, once its capabilities say it supports the scope's digest function. */
    public Mono<CacheBackend> forScope(Scope scope) {
        return Mono.defer(() -> {
            CacheBackend backend = router.route(scope.instanceName());
            return backend.capabilities(scope).flatMap(caps -> caps.supports(scope.digestFunction())
                    ? Mono.just(backend)
                    : Mono.error(new BadRequestException("digest_function " + scope.digestFunction()
                            + " is not supported by backend " + backend.name() + ", which offers " + caps.digestFunctions()
                            + (caps.digestFunctionsNote() == null ? "" : " (" + caps.digestFunctionsNote() + ")"))));
        });
    }

    /** The backend for {@code instanceName}, unchecked: for calls that carry no digest function (Capabilities). */
    public CacheBackend forInstance(String instanceName) {
        return router.route(instanceName);
    }
}
