package dev.vouch.faults;

/**
 * What {@link FaultyBackend} does to one backend call instead of (or on top of) passing it on.
 * Faults that corrupt data apply to blob reads and Action Cache reads; on other operations they
 * behave like {@link #NONE}. No fault ever makes a missing blob look present: that would be a lying
 * cache, which no validator can catch in mode EXISTENCE.
 */
public enum Fault {
    /** The call goes through unchanged. */
    NONE,
    /** Fails at once as gRPC UNAVAILABLE would: worth a retry. */
    RETRYABLE_ERROR,
    /** Fails at once as gRPC INTERNAL would: not worth a retry. */
    FATAL_ERROR,
    /** Fails at once as a call whose deadline passed. */
    TIMEOUT,
    /** Never answers; with a hang limit, times out after it on the backend's timer (virtual time in tests). */
    HANG,
    /** Answers correctly, late, after the plan's delay on the backend's timer. */
    DELAY,
    /**
     * Answers with nothing: an empty Action Cache answer (a lie: MISS for an entry that exists), no
     * existence answer, a blob of zero bytes, an empty directory tree.
     */
    EMPTY,
    /** Reads: one byte of the blob flipped. Action Cache: an ActionResult with a malformed digest. */
    CORRUPT,
    /** Reads: the stream ends after half the blob, as if the connection closed cleanly. */
    TRUNCATE,
    /** Reads: half the blob, then the stream fails, as a connection reset would. */
    RESET_MID_STREAM;

    /** Whether this fault changes what a successful call returns (as opposed to failing or delaying it). */
    public boolean altersData() {
        return this == EMPTY || this == CORRUPT || this == TRUNCATE;
    }
}
