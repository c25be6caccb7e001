package dev.vouch.api.grpc;

import dev.vouch.digest.Digest;
import dev.vouch.v1.BlobKind;
import dev.vouch.v1.BlobProblem;
import dev.vouch.v1.Summary;
import dev.vouch.v1.ValidationResult;
import dev.vouch.v1.Verdict;
import dev.vouch.validation.ActionVerdict;
import java.util.List;

/** Converts the validator's verdicts into {@code vouch.v1} messages. */
final class ResultProtos {
    static final String UNDECIDED_REASON = "no verdict was produced for this action";

    private ResultProtos() {
    }

    static ValidationResult toProto(ActionVerdict verdict) {
        ValidationResult.Builder result = ValidationResult.newBuilder()
                .setIndex(verdict.index())
                .setAction(verdict.action().toProto())
                .setVerdict(toProto(verdict.verdict()))
                .setBlobsReferenced(verdict.blobsReferenced())
                .setBytesReferenced(verdict.bytesReferenced())
                .setElapsedMillis(verdict.elapsedMillis());
        // proto3 strings cannot be null: absent is empty, as the field comments say
        if (verdict.backend() != null) {
            result.setBackend(verdict.backend());
        }
        if (verdict.reason() != null) {
            result.setReason(verdict.reason());
        }
        verdict.missing().forEach(problem -> result.addMissing(toProto(problem)));
        verdict.repaired().forEach(problem -> result.addRepaired(toProto(problem)));
        verdict.corrupt().forEach(problem -> result.addCorrupt(toProto(problem)));
        if (verdict.actionResult() != null) {
            result.setActionResult(verdict.actionResult());
        }
        return result.build();
    }

    /** Stands in for a verdict the validator failed to emit: fail closed rather than drop the slot. */
    static ValidationResult undecided(Digest action, int index) {
        return ValidationResult.newBuilder()
                .setIndex(index)
                .setAction(action.toProto())
                .setVerdict(Verdict.UNKNOWN)
                .setReason(UNDECIDED_REASON)
                .build();
    }

    static Summary summary(List<ValidationResult> results) {
        Summary.Builder summary = Summary.newBuilder();
        for (ValidationResult result : results) {
            switch (result.getVerdict()) {
                case HIT -> summary.setHit(summary.getHit() + 1);
                case MISS -> summary.setMiss(summary.getMiss() + 1);
                case PARTIAL -> summary.setPartial(summary.getPartial() + 1);
                default -> summary.setUnknown(summary.getUnknown() + 1);
            }
        }
        return summary.build();
    }

    private static Verdict toProto(dev.vouch.validation.Verdict verdict) {
        return switch (verdict) {
            case HIT -> Verdict.HIT;
            case MISS -> Verdict.MISS;
            case PARTIAL -> Verdict.PARTIAL;
            case UNKNOWN -> Verdict.UNKNOWN;
        };
    }

    private static BlobProblem toProto(dev.vouch.validation.BlobProblem problem) {
        return BlobProblem.newBuilder()
                .setDigest(problem.digest().toProto())
                .setKind(toProto(problem.kind()))
                .addAllPaths(problem.paths())
                .build();
    }

    private static BlobKind toProto(dev.vouch.validation.BlobKind kind) {
        return switch (kind) {
            case OUTPUT_FILE -> BlobKind.OUTPUT_FILE;
            case OUTPUT_DIRECTORY_TREE -> BlobKind.OUTPUT_DIRECTORY_TREE;
            case OUTPUT_DIRECTORY_FILE -> BlobKind.OUTPUT_DIRECTORY_FILE;
            case DIRECTORY -> BlobKind.DIRECTORY;
            case STDOUT -> BlobKind.STDOUT;
            case STDERR -> BlobKind.STDERR;
        };
    }
}
