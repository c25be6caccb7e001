package dev.vouch.validation;

import dev.vouch.backend.Scope;
import dev.vouch.digest.Digest;
import java.util.List;

/**
 * A batch of actions to validate; already checked, so every field is well formed.
 *
 * @param source who asks, for the {@code source} tag of the verdict metrics
 */
public record ValidationRequest(Scope scope, Mode mode, List<Digest> actions, boolean includeActionResult,
        Source source) {
    public ValidationRequest {
        actions = List.copyOf(actions);
        source = source == null ? Source.API : source;
    }

    /** A request of the validation APIs (REST, gRPC). */
    public ValidationRequest(Scope scope, Mode mode, List<Digest> actions, boolean includeActionResult) {
        this(scope, mode, actions, includeActionResult, Source.API);
    }
}
