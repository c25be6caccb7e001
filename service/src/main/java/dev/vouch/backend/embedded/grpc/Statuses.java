package dev.vouch.backend.embedded.grpc;

import build.bazel.remote.execution.v2.DigestFunction;
import dev.vouch.backend.BlobNotFoundException;
import dev.vouch.backend.embedded.DamagedEntryException;
import dev.vouch.backend.embedded.DigestMismatchException;
import dev.vouch.backend.embedded.StoreFullException;
import dev.vouch.backend.embedded.UploadStalledException;
import dev.vouch.digest.Digest;
import dev.vouch.digest.InvalidDigestException;
import dev.vouch.logging.LogSafe;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** How the embedded REAPI services turn store outcomes into gRPC statuses, and log them. */
final class Statuses {
    private static final Logger log = LoggerFactory.getLogger(Statuses.class);

    private Statuses() {
    }

    /** The gRPC status for {@code error}, logged with what was being done ({@code about} names the digest). */
    static Status statusOf(Throwable error, String about) {
        Status status;
        if (error instanceof StatusRuntimeException sre) {
            status = sre.getStatus();
        } else if (error instanceof StatusException se) {
            status = se.getStatus();
        } else if (error instanceof BlobNotFoundException) {
            status = Status.NOT_FOUND.withDescription(error.getMessage());
        } else if (error instanceof DigestMismatchException || error instanceof InvalidDigestException) {
            status = Status.INVALID_ARGUMENT.withDescription(error.getMessage());
        } else if (error instanceof DamagedEntryException) {
            status = Status.DATA_LOSS.withDescription(error.getMessage());
        } else if (error instanceof StoreFullException) {
            status = Status.RESOURCE_EXHAUSTED.withDescription(error.getMessage());
        } else if (error instanceof UploadStalledException) {
            status = Status.DEADLINE_EXCEEDED.withDescription(error.getMessage());
        } else {
            status = Status.INTERNAL.withDescription(about + ": " + error).withCause(error);
        }
        // both may carry what the client sent (a raw hash, a resource name)
        String what = LogSafe.escape(about);
        String outcome = LogSafe.escape(status.toString());
        switch (status.getCode()) {
            case NOT_FOUND, CANCELLED -> log.debug("{}: {}", what, outcome);
            case INVALID_ARGUMENT, OUT_OF_RANGE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, FAILED_PRECONDITION ->
                    log.info("{}: {}", what, outcome);
            default -> log.error("{}: {}", what, outcome, error);
        }
        return status;
    }

    static StatusRuntimeException toException(Throwable error, String about) {
        if (error instanceof StatusRuntimeException sre) {
            statusOf(error, about);
            return sre;
        }
        return statusOf(error, about).asRuntimeException();
    }

    static com.google.rpc.Status toRpcStatus(Status status) {
        com.google.rpc.Status.Builder rpc = com.google.rpc.Status.newBuilder().setCode(status.getCode().value());
        if (status.getDescription() != null) {
            rpc.setMessage(status.getDescription());
        }
        return rpc.build();
    }

    static StatusRuntimeException invalidArgument(String message) {
        return Status.INVALID_ARGUMENT.withDescription(message).asRuntimeException();
    }

    /** A request digest as a validated SHA-256 {@link Digest}; INVALID_ARGUMENT naming {@code field} otherwise. */
    static Digest digest(build.bazel.remote.execution.v2.Digest proto, String field) {
        try {
            return Digest.fromProto(proto).checkFor(dev.vouch.digest.DigestFunction.SHA256);
        } catch (InvalidDigestException e) {
            throw invalidArgument(field + ": " + e.getMessage());
        }
    }

    /** The store holds SHA-256 only; UNKNOWN means "infer from the hash length" in REAPI. */
    static void requireSha256(DigestFunction.Value function) {
        if (function != DigestFunction.Value.UNKNOWN && function != DigestFunction.Value.SHA256) {
            throw invalidArgument("digest_function " + function + " is not supported; this cache stores SHA256 only");
        }
    }
}
