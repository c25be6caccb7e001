package dev.vouch.e2e;

import static org.assertj.core.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs Debian's Bazel 4.2.3 in batch mode against a workspace copy. The user's rc file is skipped; the
 * system one stays, since Debian's packaging sets the install base there.
 */
final class Bazel {
    private static final Path BAZEL = Path.of("/usr/bin/bazel");
    private static final long TIMEOUT_MINUTES = 5;

    private final Path workspace;
    private final Path outputUserRoot;

    Bazel(Path workspace, Path outputUserRoot) {
        this.workspace = workspace;
        this.outputUserRoot = outputUserRoot;
    }

    /** Installs Debian's bazel-bootstrap when it is missing and we may (root with apt-get). */
    static void ensureInstalled() throws IOException, InterruptedException {
        ensureDebianPackage(BAZEL, "bazel-bootstrap");
    }

    /**
     * Makes sure {@code binary} exists, installing Debian's {@code pkg} when we may (root with
     * apt-get), so the README's one test command works on a fresh machine; otherwise the test fails
     * saying what to install.
     */
    static void ensureDebianPackage(Path binary, String pkg) throws IOException, InterruptedException {
        if (Files.isExecutable(binary)) {
            return;
        }
        boolean root = "root".equals(System.getProperty("user.name"));
        if (!root || !Files.isExecutable(Path.of("/usr/bin/apt-get"))) {
            fail(binary + " is missing: install Debian's " + pkg + " (apt-get install " + pkg + ")");
        }
        run(List.of("apt-get", "update", "-q"), Path.of("/"));
        String out = run(List.of("apt-get", "install", "-y", "-q", "--no-install-recommends", pkg), Path.of("/"));
        if (!Files.isExecutable(binary)) {
            fail("installing " + pkg + " did not give " + binary + ":\n" + out);
        }
    }

    /** Runs {@code bazel <command> <args>} and returns its combined output; fails the test on a non-zero exit. */
    String run(String command, String... args) throws IOException, InterruptedException {
        List<String> line = new ArrayList<>(List.of(BAZEL.toString(), "--batch", "--nohome_rc",
                "--output_user_root=" + outputUserRoot, command));
        line.addAll(List.of(args));
        return run(line, workspace);
    }

    /** A finished {@code bazel} run that may have failed: its exit code and combined output. */
    record Outcome(int exitCode, String output) {
    }

    /** Runs {@code bazel <command> <args>} as {@link #run} does, but returns a failure instead of failing the test. */
    Outcome attempt(String command, String... args) throws IOException, InterruptedException {
        List<String> line = new ArrayList<>(List.of(BAZEL.toString(), "--batch", "--nohome_rc",
                "--output_user_root=" + outputUserRoot, command));
        line.addAll(List.of(args));
        Path log = Files.createTempFile("vouch-e2e-", ".log");
        try {
            Process process = new ProcessBuilder(line).directory(workspace.toFile()).redirectErrorStream(true)
                    .redirectOutput(log.toFile()).start();
            if (!process.waitFor(TIMEOUT_MINUTES, TimeUnit.MINUTES)) {
                process.destroyForcibly();
                fail(String.join(" ", line) + " did not finish in " + TIMEOUT_MINUTES + " minutes:\n"
                        + Files.readString(log, StandardCharsets.UTF_8));
            }
            return new Outcome(process.exitValue(), Files.readString(log, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(log);
        }
    }

    private static String run(List<String> command, Path dir) throws IOException, InterruptedException {
        Path log = Files.createTempFile("vouch-e2e-", ".log");
        try {
            Process process = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true)
                    .redirectOutput(log.toFile()).start();
            if (!process.waitFor(TIMEOUT_MINUTES, TimeUnit.MINUTES)) {
                process.destroyForcibly();
                fail(String.join(" ", command) + " did not finish in " + TIMEOUT_MINUTES + " minutes:\n"
                        + Files.readString(log, StandardCharsets.UTF_8));
            }
            String output = Files.readString(log, StandardCharsets.UTF_8);
            if (process.exitValue() != 0) {
                fail(String.join(" ", command) + " exited " + process.exitValue() + ":\n" + output);
            }
            return output;
        } finally {
            Files.deleteIfExists(log);
        }
    }
}
