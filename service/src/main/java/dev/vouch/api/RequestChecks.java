package dev.vouch.api;

import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.digest.InvalidDigestException;
import java.util.Optional;

/**
 * The request rules the REST and gRPC fronts share (SPEC "REST API v1": bad input never reaches a
 * backend), each as a sentence naming the field, so both transports refuse the same inputs with
 * the same words. Field paths are the caller's: {@code actions[3].sizeBytes} in JSON,
 * {@code actions[3].size_bytes} in protobuf.
 */
public final class RequestChecks {
    private RequestChecks() {
    }

    /**
     * Why {@code hash} is not lowercase hex of {@code function}'s length, if it is not;
     * {@code function} is null when it was itself refused, and then only the hex is judged.
     */
    public static Optional<String> hashProblem(String field, String hash, DigestFunction function) {
        try {
            Digest digest = new Digest(hash, 0);
            if (function != null) {
                digest.checkFor(function);
            }
            return Optional.empty();
        } catch (InvalidDigestException e) {
            // Digest's messages start with "hash ..."; put the field's full path in its place.
            String message = e.getMessage();
            String reason = message.startsWith("hash ") ? message.substring("hash ".length()) : message;
            String subject = field.endsWith("hash") ? field : field + " hash";
            return Optional.of(subject + " " + reason);
        }
    }

    /** Why {@code size} is not a valid blob size, if it is not; {@code subject} names the field. */
    public static Optional<String> sizeProblem(String subject, long size) {
        return size < 0 ? Optional.of(subject + " must not be negative, was " + size) : Optional.empty();
    }

    /** Why a batch of {@code count} actions is refused, if it is: none, or more than {@code maxActions}. */
    public static Optional<String> actionCountProblem(String field, int count, int maxActions) {
        if (count == 0) {
            return Optional.of(field + " must not be empty");
        }
        if (count > maxActions) {
            return Optional.of(field + " has " + count + " entries, more than the limit of " + maxActions
                    + " per request (vouch.limits.max-actions)");
        }
        return Optional.empty();
    }
}
