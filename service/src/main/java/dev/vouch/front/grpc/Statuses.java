package dev.vouch.front.grpc;

import dev.vouch.backend.BackendException;
import dev.vouch.backend.BlobNotFoundException;
import dev.vouch.backend.CorruptBlobException;
import dev.vouch.backend.MalformedBlobException;
import dev.vouch.backend.NotSupportedException;
import dev.vouch.backend.Scope;
import dev.vouch.backend.StoreFullException;
import dev.vouch.backend.UploadStalledException;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.digest.DigestMismatchException;
import dev.vouch.digest.InvalidDigestException;
import dev.vouch.front.BadRequestException;
import dev.vouch.logging.LogSafe;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How the cache front's REAPI services turn backend outcomes into gRPC statuses, and log them, and
 * how they read the digests and digest functions of requests. A backend that cannot answer is
 * UNAVAILABLE (clients retry, then build locally), never NOT_FOUND: absence is only what a backend
 * said is absent.
 */
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
        } else if (error instanceof DigestMismatchException || error instanceof InvalidDigestException
                || error instanceof BadRequestException) {
            status = Status.INVALID_ARGUMENT.withDescription(error.getMessage());
        } else if (error instanceof StoreFullException) {
            status = Status.RESOURCE_EXHAUSTED.withDescription(error.getMessage());
        } else if (error instanceof UploadStalledException) {
            status = Status.DEADLINE_EXCEEDED.withDescription(error.getMessage());
        } else if (error instanceof NotSupportedException) {
            status = Status.UNIMPLEMENTED.withDescription(error.getMessage());
        } else if (error instanceof CorruptBlobException || error instanceof MalformedBlobException) {
            status = Status.DATA_LOSS.withDescription(error.getMessage());
        } else if (error instanceof BackendException) {
            status = Status.UNAVAILABLE.withDescription(error.getMessage());
        } else {
            status = Status.INTERNAL.withDescription(about + ": " + error).withCause(error);
        }
        // both may carry what the client sent (a raw hash, a resource name)
        String what = LogSafe.escape(about);
        String outcome = LogSafe.escape(status.toString());
        switch (status.getCode()) {
            case NOT_FOUND, CANCELLED -> log.debug("{}: {}", what, outcome);
            case INVALID_ARGUMENT, OUT_OF_RANGE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, FAILED_PRECONDITION,
                    UNIMPLEMENTED, UNAVAILABLE, DATA_LOSS -> log.info("{}: {}", what, outcome);
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

    /** A request digest as a validated {@link Digest} of {@code function}; INVALID_ARGUMENT naming {@code field} otherwise. */
    static Digest digest(build.bazel.remote.execution.v2.Digest proto, String field, DigestFunction function) {
        try {
            return Digest.fromProto(proto).checkFor(function);
        } catch (InvalidDigestException e) {
            throw invalidArgument(field + ": " + e.getMessage());
        }
    }

    /**
     * The scope of a request: its instance name and digest function. REAPI's UNKNOWN means "infer it
     * from the hash length", which {@code sampleHash} (any digest of the request; null when it has
     * none) decides; with nothing to go by it is SHA-256, as REAPI's default.
     */
    static Scope scope(String instanceName, build.bazel.remote.execution.v2.DigestFunction.Value function,
            String sampleHash) {
        if (function != build.bazel.remote.execution.v2.DigestFunction.Value.UNKNOWN) {
            DigestFunction known = DigestFunction.fromProto(function).orElseThrow(() -> invalidArgument(
                    "digest_function " + function + " is not supported by Vouch"));
            if (!ResourceName.NAMED_BY_LENGTH.contains(known)) {
                throw invalidArgument("digest_function " + function + " is not supported by the cache front"
                        + " (its resource names would need the function's name)");
            }
            return new Scope(instanceName, known);
        }
        return new Scope(instanceName, sampleHash == null || sampleHash.isEmpty() ? DigestFunction.SHA256 : byLength(sampleHash)
                .orElseThrow(() -> invalidArgument("no digest function has hashes of " + sampleHash.length()
                        + " hex digits (set digest_function)")));
    }

    /** The digest function whose hashes have {@code hash}'s length, among those REAPI tells apart that way. */
    static Optional<DigestFunction> byLength(String hash) {
        return ResourceName.NAMED_BY_LENGTH.stream().filter(f -> f.hexLength() == hash.length()).findFirst();
    }
}
