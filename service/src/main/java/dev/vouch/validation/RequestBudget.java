package dev.vouch.validation;

import dev.vouch.config.VouchProperties;

/**
 * What one request holds while it is validated: blobs in its closures, Tree and Directory bytes
 * parsed, ActionResults kept. Each charge counts against the request's own limit and against the
 * process-wide {@link MemoryBudget}, at the moment the memory is taken, so that neither one action
 * nor many walked at once can go past them; a refused charge is an {@link Undecidable} naming the
 * key. Everything still charged is released by {@link #close()} when the request ends.
 *
 * <p>The heap figures are measured on a 64-bit JVM with compressed pointers (see README "Memory").
 */
final class RequestBudget implements AutoCloseable {
    /** A closure's entry for one blob: the Digest and its hash, the map entry, and its share of the existence checks' sets. */
    static final long HEAP_PER_BLOB = 400;
    /** One output path recorded for a blob, besides its characters. */
    static final long HEAP_PER_PATH = 96;
    /** A Tree or Directory held parsed, per byte of its serialized form, with its index by digest. */
    static final long HEAP_PER_TREE_BYTE = 6;
    /** An ActionResult held parsed, per byte of its serialized form. */
    static final long HEAP_PER_RESULT_BYTE = 3;

    private final VouchProperties.Limits limits;
    private final MemoryBudget process;
    // paths walked, never given back: it bounds the work of a request as well as its memory
    private final java.util.concurrent.atomic.AtomicLong entries = new java.util.concurrent.atomic.AtomicLong();
    private final long maxEntries;
    // per request, so the lock is contended only by this request's own walks
    private long blobs;
    private long treeBytes;
    private long heap;
    private boolean closed;

    RequestBudget(VouchProperties.Limits limits, MemoryBudget process) {
        this.limits = limits;
        this.process = process;
        // one path per allowed blob across the request: each action may have its DAG's few, the request not 4x
        this.maxEntries = limits.maxBlobsPerRequest();
    }

    /** One more path walked in any of the request's closures. */
    void countEntry() {
        if (entries.incrementAndGet() > maxEntries) {
            throw new Undecidable("the closures of this request have more than " + maxEntries
                    + " paths (one per allowed blob, vouch.limits.max-blobs-per-request)");
        }
    }

    /** One more blob in one action's closure, with the heap it and its first path take. */
    synchronized void chargeBlob(int pathLength) {
        if (blobs + 1 > limits.maxBlobsPerRequest()) {
            throw new Undecidable("the closures of this request hold more than " + limits.maxBlobsPerRequest()
                    + " blobs (vouch.limits.max-blobs-per-request)");
        }
        chargeHeap(HEAP_PER_BLOB + HEAP_PER_PATH + pathLength);
        blobs++;
    }

    /** One more output path of a blob already in a closure. */
    synchronized void chargePath(int pathLength) {
        chargeHeap(HEAP_PER_PATH + pathLength);
    }

    /** A Tree or Directory message about to be read and held for the rest of the request. */
    synchronized void chargeTree(long bytes, String what) {
        if (treeBytes + bytes > limits.maxTreeBytesPerRequest()) {
            throw new Undecidable("Tree and Directory blobs of this request exceed " + limits.maxTreeBytesPerRequest()
                    + " bytes (vouch.limits.max-tree-bytes-per-request), not reading " + what);
        }
        chargeHeap(bytes * HEAP_PER_TREE_BYTE);
        treeBytes += bytes;
    }

    /** A parsed ActionResult held; returns the heap charged, for {@link #releaseHeap}. */
    synchronized long chargeResult(int serializedBytes) {
        long bytes = (long) serializedBytes * HEAP_PER_RESULT_BYTE;
        chargeHeap(bytes);
        return bytes;
    }

    /** Gives back what a dropped closure held: its blobs and heap. */
    synchronized void release(long blobCount, long heapBytes) {
        if (!closed) {
            blobs -= blobCount;
            releaseHeap(heapBytes);
        }
    }

    synchronized void releaseHeap(long bytes) {
        if (!closed) {
            heap -= bytes;
            process.release(bytes);
        }
    }

    private void chargeHeap(long bytes) {
        if (closed) {
            // a walk still running after its request ended (cancelled): it gets nothing more
            throw new Undecidable("the request has ended");
        }
        if (!process.tryCharge(bytes)) {
            throw new Undecidable("the requests in progress hold Vouch's memory budget for validation ("
                    + process.limitBytes() + " bytes, vouch.limits.validation-heap-percent); try again later");
        }
        heap += bytes;
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            process.release(heap);
            heap = 0;
        }
    }
}
