package dev.vouch.validation;

import reactor.core.publisher.Flux;

/** Decides verdicts. Shared by the REST and gRPC fronts. */
public interface CacheValidator {

    /**
     * One {@link ActionVerdict} per requested action (duplicates included), emitted as each is
     * decided, so not necessarily in request order; {@link ActionVerdict#index()} says where each
     * belongs. Never errors: a failure becomes UNKNOWN verdicts.
     */
    Flux<ActionVerdict> validate(ValidationRequest request);
}
