package dev.vouch.backend.embedded;

/**
 * A stored entry that cannot be what its name says (an Action Cache file larger than any
 * ActionResult may be, e.g. after tampering by hand). An error, never a miss or a hit.
 */
public class DamagedEntryException extends RuntimeException {
    public DamagedEntryException(String message) {
        super(message);
    }
}
