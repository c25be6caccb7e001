package dev.vouch.backend;

import dev.vouch.digest.Digest;

/**
 * What became of one blob of a batch write: stored ({@code failure} null), or why not. A failure
 * is what a single write would have failed with ({@link BackendException},
 * {@link StoreFullException}, {@link dev.vouch.digest.DigestMismatchException}, ...), so one bad
 * blob does not fail its batch.
 */
public record BlobWrite(Digest digest, Throwable failure) {

    public static BlobWrite stored(Digest digest) {
        return new BlobWrite(digest, null);
    }

    public static BlobWrite failed(Digest digest, Throwable failure) {
        return new BlobWrite(digest, failure);
    }

    public boolean isStored() {
        return failure == null;
    }
}
