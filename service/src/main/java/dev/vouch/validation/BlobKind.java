package dev.vouch.validation;

/** Why an ActionResult references a blob. */
public enum BlobKind {
    OUTPUT_FILE,
    /** the {@code tree_digest} blob of an output directory */
    OUTPUT_DIRECTORY_TREE,
    /** a file inside an output directory */
    OUTPUT_DIRECTORY_FILE,
    /** a {@code Directory} blob reachable from a {@code root_directory_digest} */
    DIRECTORY,
    STDOUT,
    STDERR
}
