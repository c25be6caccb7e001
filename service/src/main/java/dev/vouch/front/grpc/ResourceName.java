package dev.vouch.front.grpc;

import dev.vouch.backend.Scope;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.digest.InvalidDigestException;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * A ByteStream resource name as REAPI defines them:
 * {@code [{instance}/]blobs/{hash}/{size}} to read and
 * {@code [{instance}/]uploads/{uuid}/blobs/{hash}/{size}[/{metadata...}]} to write.
 * The instance name is optional and may itself contain slashes. The digest function is the one
 * whose hashes have the hash's length ({@link #NAMED_BY_LENGTH}): the form without a function name,
 * which is all Bazel 4 and the classic functions use.
 */
record ResourceName(String instanceName, Digest digest, DigestFunction function) {
    /**
     * The digest functions a resource name without a function part can name, told apart by their
     * hash lengths (REAPI). BLAKE3 has SHA-256's length and would need {@code blobs/blake3/...}.
     */
    static final Set<DigestFunction> NAMED_BY_LENGTH = EnumSet.of(DigestFunction.SHA256, DigestFunction.SHA1,
            DigestFunction.MD5, DigestFunction.SHA384, DigestFunction.SHA512);

    /** The scope of calls about this resource. */
    Scope scope() {
        return new Scope(instanceName, function);
    }

    static ResourceName forRead(String name) {
        List<String> parts = split(name);
        int blobs = parts.indexOf("blobs");
        if (blobs < 0) {
            throw malformed(name, parts.contains("compressed-blobs")
                    ? "compressed blobs are not supported" : "expected [{instance}/]blobs/{hash}/{size}");
        }
        if (parts.size() != blobs + 3) {
            throw malformed(name, "expected exactly {hash}/{size} after \"blobs\"");
        }
        return of(name, String.join("/", parts.subList(0, blobs)), parts, blobs);
    }

    static ResourceName forWrite(String name) {
        List<String> parts = split(name);
        int uploads = parts.indexOf("uploads");
        if (uploads < 0) {
            throw malformed(name, "expected [{instance}/]uploads/{uuid}/blobs/{hash}/{size}");
        }
        if (parts.size() < uploads + 5 || parts.get(uploads + 1).isEmpty()) {
            throw malformed(name, "expected uploads/{uuid}/blobs/{hash}/{size}");
        }
        String kind = parts.get(uploads + 2);
        if (!kind.equals("blobs")) {
            throw malformed(name, kind.equals("compressed-blobs")
                    ? "compressed blobs are not supported" : "expected \"blobs\" after the upload id, found \"" + kind + "\"");
        }
        // anything after {size} is optional metadata that REAPI lets clients add
        return of(name, String.join("/", parts.subList(0, uploads)), parts, uploads + 2);
    }

    private static ResourceName of(String name, String instance, List<String> parts, int blobs) {
        String hash = parts.get(blobs + 1);
        String size = parts.get(blobs + 2);
        DigestFunction function = Statuses.byLength(hash).orElseThrow(() -> malformed(name, "hash \"" + hash
                + "\" has " + hash.length() + " hex digits, which no supported digest function produces"));
        try {
            return new ResourceName(instance, new Digest(hash, Long.parseLong(size)).checkFor(function), function);
        } catch (NumberFormatException e) {
            throw malformed(name, "size \"" + size + "\" is not an integer");
        } catch (InvalidDigestException e) {
            throw malformed(name, e.getMessage());
        }
    }

    private static List<String> split(String name) {
        if (name.isEmpty()) {
            throw malformed(name, "resource_name is empty");
        }
        return Arrays.asList(name.split("/", -1));
    }

    private static RuntimeException malformed(String name, String problem) {
        return Statuses.invalidArgument("resource_name \"" + name + "\": " + problem);
    }
}
