package dev.vouch.validation;

import dev.vouch.backend.Scope;
import dev.vouch.digest.Digest;
import java.util.List;

/** A batch of actions to validate; already checked, so every field is well formed. */
public record ValidationRequest(Scope scope, Mode mode, List<Digest> actions, boolean includeActionResult) {
    public ValidationRequest {
        actions = List.copyOf(actions);
    }
}
