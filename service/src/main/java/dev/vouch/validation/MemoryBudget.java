package dev.vouch.validation;

import java.util.concurrent.atomic.AtomicLong;

/**
 * The heap that the requests in progress may hold together, in estimated bytes
 * ({@code vouch.limits.validation-heap-percent}). Charged as closures grow and Tree messages are
 * read, released when each request ends; a charge that does not fit is refused, never waited for.
 */
final class MemoryBudget {
    private final long limitBytes;
    private final AtomicLong used = new AtomicLong();

    MemoryBudget(long limitBytes) {
        this.limitBytes = limitBytes;
    }

    long limitBytes() {
        return limitBytes;
    }

    long usedBytes() {
        return used.get();
    }

    boolean tryCharge(long bytes) {
        if (used.addAndGet(bytes) > limitBytes) {
            used.addAndGet(-bytes);
            return false;
        }
        return true;
    }

    void release(long bytes) {
        used.addAndGet(-bytes);
    }
}
