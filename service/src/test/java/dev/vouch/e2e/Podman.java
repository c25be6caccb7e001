package dev.vouch.e2e;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Drives Debian's podman as these machines allow: the runc runtime (crun refuses their hybrid
 * cgroups), host networking (there is no bridge set-up), and explicit ulimits (without them runc
 * fails on setrlimit). Every call is bounded in time.
 */
final class Podman {
    static final Path PODMAN = Path.of("/usr/bin/podman");
    /** Flags every build and run needs here. */
    static final List<String> ULIMITS = List.of("--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096");

    private Podman() {
    }

    record Result(int exitCode, String output) {
        boolean ok() {
            return exitCode == 0;
        }
    }

    /** {@code podman --runtime runc <args>}; returns the exit code and combined output. */
    static Result run(Duration timeout, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(PODMAN.toString(), "--runtime", "runc"));
        command.addAll(List.of(args));
        return exec(command, timeout);
    }

    /** Like {@link #run} but fails with the command's output when it exits non-zero. */
    static String check(Duration timeout, String... args) throws IOException, InterruptedException {
        Result result = run(timeout, args);
        if (!result.ok()) {
            throw new IllegalStateException("podman " + String.join(" ", args) + " exited " + result.exitCode()
                    + ":\n" + result.output());
        }
        return result.output();
    }

    static Result exec(List<String> command, Duration timeout) throws IOException, InterruptedException {
        Path log = Files.createTempFile("vouch-podman-", ".log");
        try {
            Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                throw new IllegalStateException(String.join(" ", command) + " did not finish in " + timeout + ":\n"
                        + Files.readString(log, StandardCharsets.UTF_8));
            }
            return new Result(process.exitValue(), Files.readString(log, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(log);
        }
    }
}
