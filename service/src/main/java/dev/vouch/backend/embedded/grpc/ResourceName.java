package dev.vouch.backend.embedded.grpc;

import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.digest.InvalidDigestException;
import java.util.Arrays;
import java.util.List;

/**
 * A ByteStream resource name as REAPI defines them:
 * {@code [{instance}/]blobs/{hash}/{size}} to read and
 * {@code [{instance}/]uploads/{uuid}/blobs/{hash}/{size}[/{metadata...}]} to write.
 * The instance name is optional and may itself contain slashes.
 */
record ResourceName(String instanceName, Digest digest) {

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
        return new ResourceName(String.join("/", parts.subList(0, blobs)), digest(name, parts, blobs));
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
        return new ResourceName(String.join("/", parts.subList(0, uploads)), digest(name, parts, uploads + 2));
    }

    private static Digest digest(String name, List<String> parts, int blobs) {
        String hash = parts.get(blobs + 1);
        String size = parts.get(blobs + 2);
        try {
            return new Digest(hash, Long.parseLong(size)).checkFor(DigestFunction.SHA256);
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
