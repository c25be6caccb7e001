package dev.vouch.validation;

import dev.vouch.backend.Scope;
import dev.vouch.digest.Digest;
import java.util.List;

/**
 * A batch of actions to validate; already checked, so every field is well formed.
 *
 * @param source who asks, for the {@code source} tag of the verdict metrics
 * @param trustRecentPresence whether blobs the engine's {@link PresenceWindow} saw present a moment
 *     ago count as present without asking the backend again, within the window of the request's
 *     source: {@code vouch.front.presence-ttl} for the cache front's lookups,
 *     {@code vouch.limits.presence-ttl} (off by default) for the validation APIs, which set it
 * @param repair whether the blobs a PARTIAL action lacks are copied in from {@code vouch.front.repair-from}
 *     before the answer (the validation APIs' {@code repair})
 */
public record ValidationRequest(Scope scope, Mode mode, List<Digest> actions, boolean includeActionResult,
        Source source, boolean trustRecentPresence, boolean repair) {
    public ValidationRequest {
        actions = List.copyOf(actions);
        source = source == null ? Source.API : source;
    }

    /** A request that repairs nothing. */
    public ValidationRequest(Scope scope, Mode mode, List<Digest> actions, boolean includeActionResult,
            Source source, boolean trustRecentPresence) {
        this(scope, mode, actions, includeActionResult, source, trustRecentPresence, false);
    }

    /** A request of the validation APIs, repairing when {@code repair}; it may use the APIs' presence window. */
    public ValidationRequest(Scope scope, Mode mode, List<Digest> actions, boolean includeActionResult, boolean repair) {
        this(scope, mode, actions, includeActionResult, Source.API, true, repair);
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
