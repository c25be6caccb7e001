package dev.vouch.backend;

import dev.vouch.digest.DigestFunction;
import java.util.Set;

/**
 * What a backend can do, as far as validation cares.
 *
 * @param digestFunctions the digest functions its CAS accepts
 * @param maxBatchTotalSizeBytes the largest batch request it accepts, 0 for no stated limit
 * @param digestFunctionsNote why the list is what it is, when the protocol fixes it (for reasons); may be null
 */
public record BackendCapabilities(Set<DigestFunction> digestFunctions, long maxBatchTotalSizeBytes,
        String digestFunctionsNote) {
    public BackendCapabilities {
        digestFunctions = Set.copyOf(digestFunctions);
    }

    public BackendCapabilities(Set<DigestFunction> digestFunctions, long maxBatchTotalSizeBytes) {
        this(digestFunctions, maxBatchTotalSizeBytes, null);
    }

    public boolean supports(DigestFunction function) {
        return digestFunctions.contains(function);
    }
}
