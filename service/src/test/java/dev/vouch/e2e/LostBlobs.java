package dev.vouch.e2e;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.OutputFile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/** The cache front tests' eviction: what a cache that lost one consumed blob looks like on disk. */
final class LostBlobs {
    private LostBlobs() {
    }

    /**
     * Deletes greeting.txt's blob (shout consumes it) and shout's Action Cache entry, so that shout
     * must run and needs greeting.txt, which Bazel with minimal downloads only has remotely.
     */
    static void loseGreetingAndShout(Path ac, Path cas) throws IOException {
        Path greeting = find(ac, "greeting.txt");
        Path shout = find(ac, "shout.txt");
        OutputFile output = ActionResult.parseFrom(Files.readAllBytes(greeting)).getOutputFilesList().stream()
                .filter(f -> f.getPath().endsWith("/greeting.txt")).findFirst().orElseThrow();
        String hash = output.getDigest().getHash();
        Path blob = Files.exists(cas.resolve(hash)) ? cas.resolve(hash) : cas.resolve(hash.substring(0, 2)).resolve(hash);
        Files.delete(blob);
        Files.delete(shout);
    }

    /** The Action Cache file (nginx's flat {@code ac/<hash>} or the store's {@code ac/<hh>/<hash>}) with an output named {@code name}. */
    static Path find(Path ac, String name) throws IOException {
        List<Path> files;
        try (Stream<Path> walk = Files.walk(ac)) {
            files = walk.filter(Files::isRegularFile).toList();
        }
        for (Path file : files) {
            ActionResult result = ActionResult.parseFrom(Files.readAllBytes(file));
            if (result.getOutputFilesList().stream().anyMatch(f -> f.getPath().endsWith("/" + name))) {
                return file;
            }
        }
        return null;
    }
}
