package dev.vouch.validation;

import dev.vouch.backend.BackendRouter;
import reactor.core.publisher.Flux;

/**
 * The validation APIs' {@code repair}: each PARTIAL verdict of a request that asks for repair is
 * mended from {@code vouch.front.repair-from} ({@link Repairer}) before it is answered, and says
 * what was copied in {@code repaired}. The verdict counted in the metrics is the one decided
 * before the repair, what the backend held; requests without {@code repair} pass untouched.
 */
public final class RepairingValidator implements CacheValidator {
    private final CacheValidator delegate;
    private final Repairer repairer;
    private final BackendRouter router;

    public RepairingValidator(CacheValidator delegate, Repairer repairer, BackendRouter router) {
        this.delegate = delegate;
        this.repairer = repairer;
        this.router = router;
    }

    @Override
    public Flux<ActionVerdict> validate(ValidationRequest request) {
        Flux<ActionVerdict> verdicts = delegate.validate(request);
        if (!request.repair()) {
            return verdicts;
        }
        return verdicts.flatMap(verdict -> verdict.verdict() == Verdict.PARTIAL
                ? repairer.repair(request.scope(), verdict, router.route(request.scope().instanceName()))
                : reactor.core.publisher.Mono.just(verdict));
    }
}
