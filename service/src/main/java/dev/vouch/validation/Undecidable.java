package dev.vouch.validation;

/** Why one action cannot be decided; becomes its UNKNOWN reason. Control flow, so no stack trace. */
final class Undecidable extends RuntimeException {
    Undecidable(String reason) {
        super(reason, null, false, false);
    }
}
