package dev.vouch.backend.reapi;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.vouch.backend.BackendException;
import dev.vouch.backend.BlobNotFoundException;
import dev.vouch.backend.MalformedBlobException;
import io.grpc.Status;
import java.util.EnumSet;
import java.util.Locale;
import java.util.Set;
import javax.net.ssl.SSLException;

/**
 * Turns a failed gRPC call into the {@link BackendException} the validator reports as the reason
 * of an UNKNOWN verdict, so it names the backend, the operation and the status; a TLS failure says
 * "TLS", since that is what an operator must fix and gRPC reports it as a bare UNAVAILABLE.
 */
final class CallFailures {
    /**
     * Statuses that say "not now" rather than "no": the server is unreachable or restarting, over
     * its quota, a transaction raced, or this one call ran out of time. INVALID_ARGUMENT,
     * PERMISSION_DENIED, UNAUTHENTICATED, FAILED_PRECONDITION, INTERNAL and the rest would fail again.
     */
    private static final Set<Status.Code> RETRYABLE = EnumSet.of(Status.Code.UNAVAILABLE,
            Status.Code.RESOURCE_EXHAUSTED, Status.Code.ABORTED, Status.Code.DEADLINE_EXCEEDED);

    private final String backend;
    private final String target;

    CallFailures(String backend, String target) {
        this.backend = backend;
        this.target = target;
    }

    static boolean isNotFound(Throwable error) {
        return !(error instanceof BackendException) && Status.fromThrowable(error).getCode() == Status.Code.NOT_FOUND;
    }

    /** The server does not implement the method: an answer about the server, for the caller to fall back on. */
    static boolean isUnimplemented(Throwable error) {
        return !(error instanceof BackendException) && Status.fromThrowable(error).getCode() == Status.Code.UNIMPLEMENTED;
    }

    /**
     * Why the answer of a call could not be parsed, if that is how it failed: gRPC then cancels the
     * call ("Failed to read message") with the protobuf error as the cause. Null otherwise.
     */
    static InvalidProtocolBufferException unparsable(Throwable error) {
        for (Throwable t = error; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof InvalidProtocolBufferException e) {
                return e;
            }
        }
        return null;
    }

    /** {@code error} as a BackendException about {@code operation}; our own exceptions pass unchanged. */
    RuntimeException of(String operation, Throwable error) {
        if (error instanceof BackendException || error instanceof BlobNotFoundException
                || error instanceof MalformedBlobException) {
            return (RuntimeException) error;
        }
        Status status = Status.fromThrowable(error);
        String prefix = "backend " + backend + ": " + operation + " failed: ";
        if (isTls(error, status)) {
            // gRPC calls it UNAVAILABLE, but a handshake that failed once fails the same way again
            return new BackendException(backend, prefix + "TLS handshake with " + target + " failed: "
                    + describe(rootCause(error)), error, false);
        }
        StringBuilder message = new StringBuilder(prefix).append(status.getCode());
        if (status.getDescription() != null) {
            message.append(": ").append(status.getDescription());
        }
        Throwable cause = status.getCause();
        if (cause != null) {
            // "io exception" alone does not tell refused from reset or unresolvable
            message.append(" (").append(describe(rootCause(cause))).append(')');
        }
        return new BackendException(backend, message.toString(), error, RETRYABLE.contains(status.getCode()));
    }

    private static boolean isTls(Throwable error, Status status) {
        for (Throwable t = error; t != null; t = t.getCause() == t ? null : t.getCause()) {
            // the shaded Netty's NotSslRecordException is not an SSLException, but its name says it
            if (t instanceof SSLException || t.getClass().getSimpleName().contains("Ssl")) {
                return true;
            }
        }
        String description = status.getDescription() == null ? "" : status.getDescription().toLowerCase(Locale.ROOT);
        return description.contains("ssl") || description.contains("tls") || description.contains("handshake");
    }

    private static Throwable rootCause(Throwable error) {
        Throwable t = error;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t;
    }

    private static String describe(Throwable t) {
        return t.getMessage() != null ? t.getMessage() : t.getClass().getSimpleName();
    }
}
