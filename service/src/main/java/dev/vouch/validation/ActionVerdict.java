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
        ActionResult actionResult) {

    public ActionVerdict {
        missing = List.copyOf(missing);
        corrupt = List.copyOf(corrupt);
    }

    /** The same decision for another position of the request (a duplicate action). */
    public ActionVerdict atIndex(int newIndex) {
        return new ActionVerdict(newIndex, action, verdict, backend, blobsReferenced, bytesReferenced, missing, corrupt,
                reason, elapsedMillis, actionResult);
    }
}
