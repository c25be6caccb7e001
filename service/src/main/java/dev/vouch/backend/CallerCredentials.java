package dev.vouch.backend;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Optional;
import reactor.util.context.Context;
import reactor.util.context.ContextView;

/**
 * The {@code authorization} header of the client a request is served for, as it travels in the
 * Reactor {@link Context} from the port that received it to the backend calls (as {@link Deadline}
 * and {@link CallMetadata} do). A backend with {@code vouch.backends[i].forward-credentials} sends it
 * instead of its own configured credentials, so Vouch never sees more than its caller could; without
 * one (a client that sent none, or Vouch's own work) such a backend is called without credentials.
 *
 * <p>The value is a secret: {@link #toString} never shows it, and what is kept per caller (the
 * presence window, a backend's capabilities) is keyed by {@link #fingerprint}, never by the value.
 */
public final class CallerCredentials {
    private static final Object KEY = CallerCredentials.class;
    /** No credentials: a client that sent none, or work Vouch does on its own. */
    public static final CallerCredentials NONE = new CallerCredentials(null);

    private final String authorization;
    private final String fingerprint;

    private CallerCredentials(String authorization) {
        this.authorization = authorization;
        this.fingerprint = authorization == null ? "" : sha256(authorization);
    }

    /** Calls made within {@code context} are for a client that sent {@code authorization} (null or blank: none). */
    public static Context put(Context context, String authorization) {
        return context.put(KEY, authorization == null || authorization.isBlank() ? NONE
                : new CallerCredentials(authorization));
    }

    /** The credentials of the client calls made within {@code context} are for; {@link #NONE} outside any. */
    public static CallerCredentials from(ContextView context) {
        return context.getOrEmpty(KEY).map(CallerCredentials.class::cast).orElse(NONE);
    }

    /** The header's value, as the client sent it. */
    public Optional<String> authorization() {
        return Optional.ofNullable(authorization);
    }

    /** Tells callers apart without holding their secret: SHA-256 hex of the value, "" for none. */
    public String fingerprint() {
        return fingerprint;
    }

    private static String sha256(String value) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                    .digest(value.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JVM has SHA-256", e);
        }
    }

    @Override
    public String toString() {
        return authorization == null ? "CallerCredentials[none]" : "CallerCredentials[sha256:" + fingerprint.substring(0, 8) + "...]";
    }
}
