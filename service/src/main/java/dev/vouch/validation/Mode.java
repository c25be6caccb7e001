package dev.vouch.validation;

/** How blobs are confirmed: by an existence query, or by reading them back and checking the hash. */
public enum Mode {
    EXISTENCE, FETCH
}
