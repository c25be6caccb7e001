package dev.vouch.api.http;

import build.bazel.remote.execution.v2.ActionResult;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import dev.vouch.digest.Digest;
import dev.vouch.logging.LogSafe;
import dev.vouch.validation.ActionVerdict;
import dev.vouch.validation.Verdict;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Converts the validator's verdicts into the REST API's result objects. */
final class ResultJsonMapper {
    private static final Logger log = LoggerFactory.getLogger(ResultJsonMapper.class);

    // Compact output keeps an embedded ActionResult on its NDJSON line.
    private static final JsonFormat.Printer PRINTER = JsonFormat.printer().omittingInsignificantWhitespace();

    private ResultJsonMapper() {
    }

    static ResultJson toJson(ActionVerdict verdict) {
        return new ResultJson(null, ResultJson.DigestJson.of(verdict.action()), verdict.verdict(), verdict.backend(),
                verdict.blobsReferenced(), verdict.bytesReferenced(),
                verdict.missing().stream().map(ResultJson.BlobJson::of).toList(),
                verdict.corrupt().stream().map(ResultJson.BlobJson::of).toList(),
                verdict.reason(), roundToMicros(verdict.elapsedMillis()), proto3Json(verdict.actionResult()),
                verdict.repaired().isEmpty() ? null : verdict.repaired().stream().map(ResultJson.BlobJson::of).toList());
    }

    /** Stands in for a verdict the validator failed to emit: fail closed rather than drop the slot. */
    static ResultJson undecided(Digest action) {
        return new ResultJson(null, ResultJson.DigestJson.of(action), Verdict.UNKNOWN, null, 0, 0, List.of(), List.of(),
                "no verdict was produced for this action", 0.0, null, null);
    }

    private static String proto3Json(ActionResult result) {
        if (result == null) {
            return null;
        }
        try {
            return PRINTER.print(result);
        } catch (InvalidProtocolBufferException e) {
            // Only an Any of a type we do not know (auxiliary_metadata) can fail; drop that, keep the rest.
            log.debug("ActionResult has metadata of unknown type, omitting it from JSON: {}", LogSafe.escape(e.getMessage()));
            ActionResult.Builder trimmed = result.toBuilder();
            trimmed.getExecutionMetadataBuilder().clearAuxiliaryMetadata();
            try {
                return PRINTER.print(trimmed.build());
            } catch (InvalidProtocolBufferException again) {
                return null;
            }
        }
    }

    private static double roundToMicros(double millis) {
        return Math.round(millis * 1000.0) / 1000.0;
    }
}
