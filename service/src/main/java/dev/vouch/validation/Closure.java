package dev.vouch.validation;

import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

/**
 * The blobs one ActionResult references, each with the kind it was first met as and every output
 * path that needs it, in the order the walk met them. Enforces the per-action limits as it grows,
 * so a hostile or huge result is cut off before it costs memory.
 */
final class Closure {
    /*
     * A Tree or Directory DAG may reach one subdirectory by many paths, so the paths (not the
     * distinct digests) can grow exponentially; this many path entries per distinct blob allowed
     * bounds the walk while leaving room for the usual duplicates (empty __init__.py files...).
     */
    static final int ENTRIES_PER_BLOB = 4;

    private final Map<Digest, Reference> references = new LinkedHashMap<>();
    private final Set<Digest> chargedMetadata = new HashSet<>();
    private final DigestFunction digestFunction;
    private final RequestBudget budget;
    private final int maxBlobs;
    private final long maxEntries;
    private final long maxMetadataBytes;
    private long entries;
    private long metadataBytes;
    private long bytes;
    // what this closure charged to its request, given back if the action is dropped
    private long blobsCharged;
    private long heapCharged;

    Closure(VouchProperties.Limits limits, DigestFunction digestFunction, RequestBudget budget) {
        this.digestFunction = digestFunction;
        this.budget = budget;
        this.maxBlobs = limits.maxBlobsPerAction();
        this.maxEntries = (long) ENTRIES_PER_BLOB * limits.maxBlobsPerAction();
        this.maxMetadataBytes = limits.maxTreeBytes();
    }

    void add(Digest digest, BlobKind kind, String path) {
        Reference reference = references.get(digest);
        countEntry();
        if (reference == null) {
            if (references.size() >= maxBlobs) {
                throw new Undecidable("closure has more than " + maxBlobs + " blobs (vouch.limits.max-blobs-per-action)");
            }
            budget.chargeBlob(path.length());
            blobsCharged++;
            heapCharged += RequestBudget.HEAP_PER_BLOB + RequestBudget.HEAP_PER_PATH + path.length();
            reference = new Reference(kind, path);
            references.put(digest, reference);
            bytes += digest.sizeBytes();
            return;
        }
        // the empty blob is never missing, so its (often many) paths are never reported
        if (!digest.isEmptyBlob(digestFunction) && reference.addPath(path)) {
            budget.chargePath(path.length());
            heapCharged += RequestBudget.HEAP_PER_PATH + path.length();
        }
    }

    /** Gives this closure's share of the request's budget back: its action is dropped. */
    void release() {
        budget.release(blobsCharged, heapCharged);
        blobsCharged = 0;
        heapCharged = 0;
    }

    /** One more directory visited by path; counted so that a DAG cannot make the walk explode. */
    void countEntry() {
        if (++entries > maxEntries) {
            throw new Undecidable("closure has more than " + maxEntries + " paths (" + ENTRIES_PER_BLOB
                    + " per allowed blob, vouch.limits.max-blobs-per-action)");
        }
        budget.countEntry();
    }

    /** Counts a Tree or Directory blob against the byte limit; call before reading it. */
    void chargeMetadata(Digest digest) {
        if (chargedMetadata.add(digest)) {
            metadataBytes += digest.sizeBytes();
            if (metadataBytes > maxMetadataBytes) {
                throw new Undecidable("Tree and Directory blobs of this action exceed " + maxMetadataBytes
                        + " bytes (vouch.limits.max-tree-bytes), not reading " + digest);
            }
        }
    }

    Set<Digest> digests() {
        return references.keySet();
    }

    int blobCount() {
        return references.size();
    }

    long byteCount() {
        return bytes;
    }

    /** The kind {@code digest} was first met as, or null when this closure does not hold it. */
    BlobKind kindOf(Digest digest) {
        Reference reference = references.get(digest);
        return reference == null ? null : reference.kind;
    }

    List<BlobProblem> problems(Predicate<Digest> isProblem) {
        List<BlobProblem> problems = new ArrayList<>();
        references.forEach((digest, reference) -> {
            if (isProblem.test(digest)) {
                problems.add(new BlobProblem(digest, reference.kind, reference.paths()));
            }
        });
        return problems;
    }

    /** A blob's kind and paths: most blobs have one path, so the set exists only for a second. */
    private static final class Reference {
        final BlobKind kind;
        final String first;
        Set<String> more;

        Reference(BlobKind kind, String first) {
            this.kind = kind;
            this.first = first;
        }

        boolean addPath(String path) {
            if (path.equals(first)) {
                return false;
            }
            if (more == null) {
                more = new LinkedHashSet<>();
            }
            return more.add(path);
        }

        List<String> paths() {
            if (more == null) {
                return List.of(first);
            }
            List<String> all = new ArrayList<>(1 + more.size());
            all.add(first);
            all.addAll(more);
            return all;
        }
    }
}
