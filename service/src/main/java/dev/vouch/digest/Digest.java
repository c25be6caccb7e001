package dev.vouch.digest;

/**
 * A content digest: lowercase hex hash and size in bytes. Built only in valid form, so code that
 * holds a {@code Digest} never re-checks it; the hash length is checked against a
 * {@link DigestFunction} with {@link #checkFor(DigestFunction)} where the function is known.
 */
public record Digest(String hash, long sizeBytes) implements Comparable<Digest> {

    public Digest {
        if (hash == null || hash.isEmpty()) {
            throw new InvalidDigestException("hash is empty");
        }
        for (int i = 0; i < hash.length(); i++) {
            char c = hash.charAt(i);
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
                throw new InvalidDigestException("hash must be lowercase hex, found '" + c + "' at position " + i);
            }
        }
        if (sizeBytes < 0) {
            throw new InvalidDigestException("sizeBytes must not be negative, was " + sizeBytes);
        }
    }

    /** Parses the {@code "<hash>/<sizeBytes>"} form used in URLs and request shorthands. */
    public static Digest parse(String text) {
        int slash = text.indexOf('/');
        if (slash < 0 || slash != text.lastIndexOf('/')) {
            throw new InvalidDigestException("expected \"<hash>/<sizeBytes>\", got \"" + text + "\"");
        }
        long size;
        try {
            size = Long.parseLong(text.substring(slash + 1));
        } catch (NumberFormatException e) {
            throw new InvalidDigestException("sizeBytes is not an integer: \"" + text.substring(slash + 1) + "\"");
        }
        return new Digest(text.substring(0, slash), size);
    }

    /** This digest, after checking its hash has the length {@code function} produces. */
    public Digest checkFor(DigestFunction function) {
        if (hash.length() != function.hexLength()) {
            throw new InvalidDigestException("hash has " + hash.length() + " hex digits, " + function + " needs "
                    + function.hexLength());
        }
        return this;
    }

    /**
     * Whether this is the empty blob of {@code function}: size 0 and the function's hash of nothing.
     * A size-0 digest with another hash is not the empty blob (nor any blob): it must be asked
     * about or refused, never taken as present.
     */
    public boolean isEmptyBlob(DigestFunction function) {
        return sizeBytes == 0 && hash.equals(function.emptyDigest().hash());
    }

    public build.bazel.remote.execution.v2.Digest toProto() {
        return build.bazel.remote.execution.v2.Digest.newBuilder().setHash(hash).setSizeBytes(sizeBytes).build();
    }

    /** Converts a digest found in a proto; throws {@link InvalidDigestException} if it is malformed. */
    public static Digest fromProto(build.bazel.remote.execution.v2.Digest proto) {
        return new Digest(proto.getHash(), proto.getSizeBytes());
    }

    @Override
    public int compareTo(Digest other) {
        int byHash = hash.compareTo(other.hash);
        return byHash != 0 ? byHash : Long.compare(sizeBytes, other.sizeBytes);
    }

    @Override
    public String toString() {
        return hash + "/" + sizeBytes;
    }
}
