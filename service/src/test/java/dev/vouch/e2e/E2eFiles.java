package dev.vouch.e2e;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/** File and Bazel-output chores shared by the end-to-end tests over the HTTP cache protocol. */
final class E2eFiles {
    private static final Pattern PROCESSES = Pattern.compile("INFO: (\\d+) processes?: (.*)\\.");

    private E2eFiles() {
    }

    static Path createTempDirectory(String prefix) {
        try {
            return Files.createTempDirectory(prefix);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A fresh copy of {@code e2e/workspace} at {@code to}, without Bazel's convenience symlinks. */
    static void copyWorkspace(Path to) throws IOException {
        Path from = Path.of("..", "e2e", "workspace").toAbsolutePath().normalize();
        try (Stream<Path> paths = Files.walk(from)) {
            for (Path p : (Iterable<Path>) paths::iterator) {
                Path rel = from.relativize(p);
                if (rel.toString().startsWith("bazel-")) {
                    continue;
                }
                Path target = to.resolve(rel.toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(p, target);
                }
            }
        }
    }

    static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                p.toFile().setWritable(true);
                Files.deleteIfExists(p);
            }
        }
    }

    /** Sums "N <strategy>" from Bazel's closing "INFO: M processes: ..." line. */
    static int processes(String output, String strategy) {
        Matcher m = PROCESSES.matcher(output);
        int count = 0;
        while (m.find()) {
            count = 0;
            for (String part : m.group(2).split(",\\s*")) {
                if (part.endsWith(" " + strategy)) {
                    count += Integer.parseInt(part.substring(0, part.indexOf(' ')));
                }
            }
        }
        return count;
    }
}
