package dev.vouch.api.http;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.annotation.JsonRawValue;
import dev.vouch.digest.Digest;
import dev.vouch.validation.BlobProblem;
import dev.vouch.validation.Verdict;
import java.util.List;

/**
 * One result object of the REST API (SPEC "REST API v1"). Null fields are written as {@code null},
 * never left out, because agents read {@code reason} and {@code actionResult} unconditionally.
 *
 * @param index the action's position in the request; only in NDJSON lines, left out elsewhere
 * @param actionResult the ActionResult as proto3 JSON text, embedded verbatim as a JSON object
 * @param repaired the blobs copied in from {@code vouch.front.repair-from} (requests with {@code repair});
 *     left out when there are none
 */
@JsonInclude(JsonInclude.Include.ALWAYS)
@JsonPropertyOrder({"index", "action", "verdict", "backend", "blobsReferenced", "bytesReferenced", "missing", "corrupt",
        "reason", "elapsedMillis", "actionResult", "repaired"})
record ResultJson(
        @JsonInclude(JsonInclude.Include.NON_NULL) Integer index,
        DigestJson action,
        Verdict verdict,
        String backend,
        long blobsReferenced,
        long bytesReferenced,
        List<BlobJson> missing,
        List<BlobJson> corrupt,
        String reason,
        double elapsedMillis,
        @JsonRawValue String actionResult,
        @JsonInclude(JsonInclude.Include.NON_NULL) List<BlobJson> repaired) {

    ResultJson withIndex(int position) {
        return new ResultJson(position, action, verdict, backend, blobsReferenced, bytesReferenced, missing, corrupt,
                reason, elapsedMillis, actionResult, repaired);
    }

    @JsonPropertyOrder({"hash", "sizeBytes"})
    record DigestJson(String hash, long sizeBytes) {
        static DigestJson of(Digest digest) {
            return new DigestJson(digest.hash(), digest.sizeBytes());
        }
    }

    @JsonPropertyOrder({"hash", "sizeBytes", "kind", "paths"})
    record BlobJson(String hash, long sizeBytes, String kind, List<String> paths) {
        static BlobJson of(BlobProblem problem) {
            return new BlobJson(problem.digest().hash(), problem.digest().sizeBytes(), problem.kind().name(),
                    problem.paths());
        }
    }
}
