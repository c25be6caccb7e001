package dev.vouch.e2e;

import static org.assertj.core.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.vouch.digest.Digest;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import reactor.core.publisher.Mono;
import reactor.util.retry.Retry;

/**
 * Bazel's own reference remote worker, a third-party REAPI server, built from Debian's packages
 * alone: its 11 source files come from {@code bazel-bootstrap-source} ({@code /usr/src/bazel-bootstrap})
 * and compile against the Bazel server jar of {@code bazel-bootstrap}, which holds every class they
 * need (gRPC, the REAPI protos, Bazel's remote cache). Started without {@code --work_path}, it
 * serves the cache services only (Capabilities, ActionCache, CAS without BatchReadBlobs, ByteStream),
 * requires a RequestMetadata header on every call, and keeps each entry as a plain file:
 * {@link #acFile} and {@link #casFile}, so deleting one evicts it. Like real caches whose AC and CAS
 * are evicted apart, it serves AC entries whose blobs are gone.
 *
 * <p>The classes are compiled into {@code target/remote-worker/classes} (about 6 s) and reused by
 * later JVMs while the sources and the server jar are the same. The worker runs as a child process of the test JVM on a loopback
 * port; its log is {@link #logs()}.
 */
final class RemoteWorker implements AutoCloseable {
    private static final Path SOURCES = Path.of("/usr/src/bazel-bootstrap/src/tools/remote/src/main/java");
    private static final Path SERVER_JAR = Path.of("/usr/share/bazel/A-server.jar");
    private static final String MAIN = "com.google.devtools.build.remote.worker.RemoteWorker";
    private static final Path BUILD = Path.of("target", "remote-worker").toAbsolutePath();
    private static final Path CLASSES = BUILD.resolve("classes");
    // written last, so a compilation cut short is not taken for a finished one
    private static final Path COMPILED = BUILD.resolve("compiled-from");
    private static final Duration START_TIMEOUT = Duration.ofSeconds(30);

    private final Path dir;
    private final int port;
    private final Process process;

    private RemoteWorker(Path dir, int port, Process process) {
        this.dir = dir;
        this.port = port;
        this.process = process;
    }

    /**
     * Builds the worker if needed and starts it on a free loopback port with its store under
     * {@code dir/store}. Skips the calling test, saying why, when Debian's {@code bazel-bootstrap} or
     * {@code bazel-bootstrap-source} is not installed and cannot be (installing needs root and apt-get).
     */
    static RemoteWorker start(Path dir) throws IOException, InterruptedException {
        return start(dir, Nginx.freePort());
    }

    /** As {@link #start(Path)}, on {@code port}: e.g. for configuration that must name it before it starts. */
    static RemoteWorker start(Path dir, int port) throws IOException, InterruptedException {
        Path classes = compiled();
        Files.createDirectories(dir.resolve("store"));
        Path log = dir.resolve("worker.log");
        List<String> command = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx256m", "-cp", classes + ":" + SERVER_JAR, MAIN,
                "--listen_port=" + port,
                "--cas_path=" + dir.resolve("store"),
                "--pid_file=" + dir.resolve("worker.pid"));
        Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        RemoteWorker worker = new RemoteWorker(dir, port, process);
        worker.awaitListening();
        return worker;
    }

    /**
     * The compiled worker's class directory: compiled now unless an earlier JVM left it compiled from
     * the same sources and server jar (its {@link #COMPILED} marker holds their {@link #version}).
     */
    private static synchronized Path compiled() throws IOException, InterruptedException {
        ensurePackages();
        List<Path> sources;
        try (Stream<Path> files = Files.walk(SOURCES)) {
            sources = files.filter(f -> f.toString().endsWith(".java")).sorted().toList();
        }
        String version = version(sources);
        if (Files.exists(COMPILED) && Files.readString(COMPILED, StandardCharsets.UTF_8).equals(version)) {
            return CLASSES;
        }
        Files.deleteIfExists(COMPILED);
        E2eFiles.deleteTree(CLASSES);
        Files.createDirectories(CLASSES);
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        assumeTrue(javac != null, "the remote worker needs a JDK's compiler; java.home " + System.getProperty("java.home")
                + " is a JRE");
        List<String> arguments = new ArrayList<>(List.of("-proc:none", "-nowarn", "-encoding", "UTF-8",
                "-cp", SERVER_JAR.toString(), "-d", CLASSES.toString()));
        sources.forEach(f -> arguments.add(f.toString()));
        ByteArrayOutputStream diagnostics = new ByteArrayOutputStream();
        int status = javac.run(null, diagnostics, diagnostics, arguments.toArray(String[]::new));
        if (status != 0) {
            fail("javac of Bazel's remote worker (" + sources.size() + " files in " + SOURCES + ") exited " + status
                    + ":\n" + diagnostics.toString(StandardCharsets.UTF_8));
        }
        Files.writeString(COMPILED, version, StandardCharsets.UTF_8);
        return CLASSES;
    }

    /**
     * What the classes are compiled from: a hash of every source's name and bytes and of the server
     * jar's size and time, so an upgraded package (or a changed file) is compiled again.
     */
    private static String version(List<Path> sources) throws IOException {
        MessageDigest sha256;
        try {
            sha256 = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        for (Path source : sources) {
            sha256.update(SOURCES.relativize(source).toString().getBytes(StandardCharsets.UTF_8));
            sha256.update(Files.readAllBytes(source));
        }
        sha256.update((Files.size(SERVER_JAR) + "@" + Files.getLastModifiedTime(SERVER_JAR)).getBytes(StandardCharsets.UTF_8));
        return HexFormat.of().formatHex(sha256.digest()) + "\n";
    }

    /**
     * Installs Debian's {@code bazel-bootstrap} (the server jar) and {@code bazel-bootstrap-source}
     * (the worker's sources) when either is missing and we may (root with apt-get), as the other
     * end-to-end tests install theirs; otherwise the test is skipped, saying what to install.
     */
    private static void ensurePackages() throws IOException, InterruptedException {
        if (installed()) {
            return;
        }
        boolean root = "root".equals(System.getProperty("user.name"));
        if (root && Files.isExecutable(Path.of("/usr/bin/apt-get"))) {
            run("apt-get", "update", "-q");
            run("apt-get", "install", "-y", "-q", "--no-install-recommends", "bazel-bootstrap", "bazel-bootstrap-source");
        }
        assumeTrue(installed(), "Bazel's remote worker needs " + SOURCES + " and " + SERVER_JAR
                + ": install Debian's packages (apt-get install bazel-bootstrap bazel-bootstrap-source)");
    }

    private static boolean installed() {
        return Files.isRegularFile(SOURCES.resolve("com/google/devtools/build/remote/worker/RemoteWorker.java"))
                && Files.isRegularFile(SERVER_JAR);
    }

    // an install that fails leaves the files missing, which ensurePackages reports
    private static void run(String... command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        if (!process.waitFor(5, TimeUnit.MINUTES)) {
            process.destroyForcibly();
        }
    }

    /** Retries a connect until the worker listens; fails with its log if it exits or never does. */
    private void awaitListening() throws IOException {
        try {
            Mono.fromCallable(() -> {
                        if (!process.isAlive()) {
                            throw new IllegalStateException("the remote worker exited with " + process.exitValue());
                        }
                        try (Socket socket = new Socket()) {
                            socket.connect(new InetSocketAddress("127.0.0.1", port), 1000);
                        }
                        return true;
                    })
                    .retryWhen(Retry.fixedDelay(START_TIMEOUT.toMillis() / 100, Duration.ofMillis(100))
                            .filter(e -> e instanceof IOException))
                    .block(START_TIMEOUT.plusSeconds(5));
        } catch (RuntimeException e) {
            String logs = logs();
            close();
            fail("Bazel's remote worker did not start on port " + port + ": " + e.getMessage() + "\n" + logs);
        }
    }

    int port() {
        return port;
    }

    /** What a {@code grpc} backend's target or Bazel's {@code --remote_cache} names. */
    String target() {
        return "grpc://127.0.0.1:" + port;
    }

    /** The worker's store ({@code --cas_path}): {@code ac/<hh>/<hash>} and {@code cas/<hh>/<hash>}. */
    Path storeDir() {
        return dir.resolve("store");
    }

    /** Where the worker keeps the CAS blob with {@code hash}; deleting it evicts the blob. */
    Path casFile(String hash) {
        return storeDir().resolve("cas").resolve(hash.substring(0, 2)).resolve(hash);
    }

    Path casFile(Digest digest) {
        return casFile(digest.hash());
    }

    /** Where the worker keeps the Action Cache entry of {@code action} (a serialized ActionResult). */
    Path acFile(Digest action) {
        return storeDir().resolve("ac").resolve(action.hash().substring(0, 2)).resolve(action.hash());
    }

    String logs() throws IOException {
        Path log = dir.resolve("worker.log");
        return Files.exists(log) ? "--- worker.log\n" + Files.readString(log, StandardCharsets.UTF_8) : "";
    }

    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
