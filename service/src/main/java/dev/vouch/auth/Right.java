package dev.vouch.auth;

import java.util.Locale;

/** What an identity may do (SPEC "Authentication and TLS"). */
public enum Right {
    /** The validation APIs: {@code POST /v1/validate}, {@code GET /v1/actions/...}, {@code vouch.v1.ValidationService}. */
    VALIDATE,
    /** AC and CAS reads at the cache front. */
    READ,
    /** UpdateActionResult and CAS writes at the cache front. */
    WRITE;

    /** The right a configuration or claim names ({@code validate}, {@code read}, {@code write}), or null. */
    public static Right parse(String name) {
        if (name == null) {
            return null;
        }
        return switch (name.trim().toLowerCase(Locale.ROOT)) {
            case "validate" -> VALIDATE;
            case "read" -> READ;
            case "write" -> WRITE;
            default -> null;
        };
    }

    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }
}
