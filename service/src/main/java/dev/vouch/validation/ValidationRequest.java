package dev.vouch.validation;

import dev.vouch.backend.Scope;
import dev.vouch.digest.Digest;
import java.util.List;

/**
 * A batch of actions to validate; already checked, so every field is well formed.
 *
 * @param source who asks, for the {@code source} tag of the verdict metrics
 * @param trustRecentPresence whether blobs the engine's {@link PresenceWindow} saw present a moment
 *     ago count as present without asking the backend again (the cache front's lookups); the
 *     validation APIs leave it off and always ask
 */
public record ValidationRequest(Scope scope, Mode mode, List<Digest> actions, boolean includeActionResult,
        Source source, boolean trustRecentPresence) {
    public ValidationRequest {
        actions = List.copyOf(actions);
        source = source == null ? Source.API : source;
    }

    /** A request that asks the backend about every blob. */
    public ValidationRequest(Scope scope, Mode mode, List<Digest> actions, boolean includeActionResult,
            Source source) {
        this(scope, mode, actions, includeActionResult, source, false);
    }

    /** A request of the validation APIs (REST, gRPC). */
    public ValidationRequest(Scope scope, Mode mode, List<Digest> actions, boolean includeActionResult) {
        this(scope, mode, actions, includeActionResult, Source.API);
    }
}
