package dev.vouch.digest;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.Optional;

/** The digest functions an agent may name in a request, with the hex length each one produces. */
public enum DigestFunction {
    SHA256(64, "SHA-256"),
    SHA1(40, "SHA-1"),
    MD5(32, "MD5"),
    SHA384(96, "SHA-384"),
    SHA512(128, "SHA-512"),
    /** not in the JDK: hashed with commons-codec */
    BLAKE3(64, null);

    private final int hexLength;
    private final String jcaName;
    private volatile Digest empty;

    DigestFunction(int hexLength, String jcaName) {
        this.hexLength = hexLength;
        this.jcaName = jcaName;
    }

    /**
     * The empty blob's digest under this function: its hash of nothing, size 0. REAPI servers always
     * hold it; any other digest of size 0 names no blob at all.
     */
    public Digest emptyDigest() {
        Digest digest = empty;
        if (digest == null) {
            // a benign race: every thread computes the same value
            digest = newHasher().finish();
            empty = digest;
        }
        return digest;
    }

    public int hexLength() {
        return hexLength;
    }

    /** A fresh hasher; hashers are not thread-safe, so each caller gets its own. */
    public Hasher newHasher() {
        if (jcaName == null) {
            return new Hasher.Blake3();
        }
        try {
            return new Hasher.Jca(MessageDigest.getInstance(jcaName));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("JDK lacks " + jcaName, e);
        }
    }

    /** The digest of {@code data} under this function. */
    public Digest digestOf(byte[] data) {
        return newHasher().update(data).finish();
    }

    /** The REAPI value of the same name ({@code BLAKE3} is 9). */
    public build.bazel.remote.execution.v2.DigestFunction.Value toProto() {
        return build.bazel.remote.execution.v2.DigestFunction.Value.valueOf(name());
    }

    /** Case-sensitive lookup by the REAPI name, as it appears in requests. */
    public static Optional<DigestFunction> byName(String name) {
        return Arrays.stream(values()).filter(f -> f.name().equals(name)).findFirst();
    }

    /** REAPI leaves {@code UNKNOWN} to mean "infer from the hash length"; for us that is SHA-256. */
    public static Optional<DigestFunction> fromProto(build.bazel.remote.execution.v2.DigestFunction.Value value) {
        if (value == build.bazel.remote.execution.v2.DigestFunction.Value.UNKNOWN) {
            return Optional.of(SHA256);
        }
        return byName(value.name());
    }
}
