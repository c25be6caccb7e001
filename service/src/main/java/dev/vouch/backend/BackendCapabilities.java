package dev.vouch.backend;

import dev.vouch.digest.DigestFunction;
import java.util.Set;

/**
 * What a backend can do, as far as validation and the cache front care.
 *
 * @param digestFunctions the digest functions its CAS accepts
 * @param maxBatchTotalSizeBytes the largest batch request it accepts, 0 for no stated limit
 * @param digestFunctionsNote why the list is what it is, when the protocol fixes it (for reasons); may be null
 * @param actionCacheUpdates whether clients may write Action Cache entries (REAPI's
 *     {@code action_cache_update_capabilities.update_enabled}); the cache front tells clients so
 */
public record BackendCapabilities(Set<DigestFunction> digestFunctions, long maxBatchTotalSizeBytes,
        String digestFunctionsNote, boolean actionCacheUpdates) {
    public BackendCapabilities {
        digestFunctions = Set.copyOf(digestFunctions);
    }

    /** A backend that accepts Action Cache updates. */
    public BackendCapabilities(Set<DigestFunction> digestFunctions, long maxBatchTotalSizeBytes,
            String digestFunctionsNote) {
        this(digestFunctions, maxBatchTotalSizeBytes, digestFunctionsNote, true);
    }

    public BackendCapabilities(Set<DigestFunction> digestFunctions, long maxBatchTotalSizeBytes) {
        this(digestFunctions, maxBatchTotalSizeBytes, null);
    }

    public boolean supports(DigestFunction function) {
        return digestFunctions.contains(function);
    }
}
