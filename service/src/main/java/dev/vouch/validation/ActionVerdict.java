package dev.vouch.validation;

import build.bazel.remote.execution.v2.ActionResult;
import dev.vouch.digest.Digest;
import java.util.List;

/**
 * The result for one requested action.
 *
 * @param index the action's position in the request
 * @param reason why the verdict is UNKNOWN (null otherwise)
 * @param actionResult the AC entry, when the request asked for it and it exists
 * @param repaired the blobs copied into the backend from {@code vouch.front.repair-from} for this
 *     answer (a request with {@code repair}); empty otherwise
 */
public record ActionVerdict(
        int index,
        Digest action,
        Verdict verdict,
        String backend,
        long blobsReferenced,
        long bytesReferenced,
        List<BlobProblem> missing,
        List<BlobProblem> corrupt,
        String reason,
        double elapsedMillis,
        ActionResult actionResult,
        List<BlobProblem> repaired) {

    public ActionVerdict {
        missing = List.copyOf(missing);
        corrupt = List.copyOf(corrupt);
        repaired = repaired == null ? List.of() : List.copyOf(repaired);
    }

    /** A verdict with nothing repaired. */
    public ActionVerdict(int index, Digest action, Verdict verdict, String backend, long blobsReferenced,
            long bytesReferenced, List<BlobProblem> missing, List<BlobProblem> corrupt, String reason,
            double elapsedMillis, ActionResult actionResult) {
        this(index, action, verdict, backend, blobsReferenced, bytesReferenced, missing, corrupt, reason, elapsedMillis,
                actionResult, List.of());
    }

    /** The same decision for another position of the request (a duplicate action). */
    public ActionVerdict atIndex(int newIndex) {
        return new ActionVerdict(newIndex, action, verdict, backend, blobsReferenced, bytesReferenced, missing, corrupt,
                reason, elapsedMillis, actionResult, repaired);
    }

    /**
     * This PARTIAL after a repair copied {@code copied} of its missing blobs: HIT when {@code complete}
     * (every missing blob copied, none hidden under a missing Tree), else still PARTIAL with what is left.
     */
    public ActionVerdict repaired(List<BlobProblem> copied, boolean complete) {
        List<BlobProblem> left = missing.stream().filter(p -> !copied.contains(p)).toList();
        return new ActionVerdict(index, action, complete ? Verdict.HIT : verdict, backend, blobsReferenced,
                bytesReferenced, complete ? List.of() : left, corrupt, reason, elapsedMillis, actionResult, copied);
    }
}
