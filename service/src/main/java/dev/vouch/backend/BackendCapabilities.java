package dev.vouch.backend;

import dev.vouch.digest.DigestFunction;
import java.util.Set;

/**
 * What a backend can do, as far as validation cares.
 *
 * @param digestFunctions the digest functions its CAS accepts
 * @param maxBatchTotalSizeBytes the largest batch request it accepts, 0 for no stated limit
 */
public record BackendCapabilities(Set<DigestFunction> digestFunctions, long maxBatchTotalSizeBytes) {
    public BackendCapabilities {
        digestFunctions = Set.copyOf(digestFunctions);
    }

    public boolean supports(DigestFunction function) {
        return digestFunctions.contains(function);
    }
}
