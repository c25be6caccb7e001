package dev.vouch.digest;

/** A digest that is not well formed: not lowercase hex, wrong length, negative size. */
public class InvalidDigestException extends IllegalArgumentException {
    public InvalidDigestException(String message) {
        super(message);
    }
}
