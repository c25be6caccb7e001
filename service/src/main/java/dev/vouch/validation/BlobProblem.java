package dev.vouch.validation;

import dev.vouch.digest.Digest;
import java.util.List;

/**
 * A blob of an action's closure that is missing (or corrupt), with every output path that needs it.
 * A blob referenced in several roles is reported under the first kind the closure walk met it as.
 */
public record BlobProblem(Digest digest, BlobKind kind, List<String> paths) {
    public BlobProblem {
        paths = List.copyOf(paths);
    }
}
