package dev.vouch.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.OutputFile;
import dev.vouch.digest.Digest;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The repository's Dockerfile as an operator uses it: the image is built with podman from the jar
 * this build just packaged ({@code JAR=prebuilt}, so the project is not compiled again inside),
 * started with a memory limit, filled by a real Bazel over gRPC, asked about every action over
 * REST, and stopped with SIGTERM. Runs in Maven's integration-test phase, after {@code package}.
 *
 * <p>Skipped, saying why, where podman is missing (and cannot be installed: not root) or cannot run
 * containers. The base image is Debian's JRE (debootstrap, since no image registry is reachable
 * here), cached as a tarball in {@code ~/.cache/vouch-test} and as a podman image, so only the first
 * run pays for it.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ContainerImageIT {
    private static final String BASE_IMAGE = "localhost/vouch-base:jre17";
    private static final String IMAGE = "localhost/vouch:it";
    private static final Path REPO = Path.of("..").toAbsolutePath().normalize();
    private static final Path JAR = REPO.resolve("service/target/vouch.jar");
    private static final Path CACHE = Path.of(System.getProperty("user.home"), ".cache", "vouch-test");
    private static final long MEMORY_LIMIT = 1L << 30;
    private static final Duration DRAIN = Duration.ofSeconds(4);
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private Path root;
    private Path data;
    private String container;
    private int httpPort;
    private int grpcPort;
    private Bazel bazel;
    private List<Digest> actions;
    private final Map<Digest, ActionResult> results = new HashMap<>();

    @BeforeAll
    void startImageAndFillItWithBazel() throws Exception {
        assumeTrue(Files.isRegularFile(JAR), JAR + " is not built: this test runs in `./mvnw verify`, after package");
        ensurePodman();
        ensureBaseImage();
        Podman.Result probe = Podman.run(Duration.ofMinutes(2), concat(List.of("run", "--rm", "--network=host"),
                Podman.ULIMITS, List.of(BASE_IMAGE, "true")));
        assumeTrue(probe.ok(), () -> "podman cannot run containers here:\n" + probe.output());

        Podman.check(Duration.ofMinutes(10), concat(List.of("build", "--network=host", "--format", "docker", "--force-rm"),
                Podman.ULIMITS, List.of("--build-arg", "BASE=" + BASE_IMAGE, "--build-arg", "JAR=prebuilt",
                        "-t", IMAGE, "-f", REPO.resolve("Dockerfile").toString(), REPO.toString())));

        root = Files.createTempDirectory("vouch-image-");
        data = Files.createDirectory(root.resolve("data"));
        // the image's user (10001) writes the embedded store into this bind-mounted volume
        Files.setPosixFilePermissions(data, PosixFilePermissions.fromString("rwxrwxrwx"));
        httpPort = Nginx.freePort();
        grpcPort = Nginx.freePort();
        container = "vouch-it-" + UUID.randomUUID().toString().substring(0, 8);
        Podman.check(Duration.ofMinutes(2), concat(List.of("run", "-d", "--name", container, "--network=host",
                "--memory", Long.toString(MEMORY_LIMIT)), Podman.ULIMITS, List.of(
                "-e", "SERVER_PORT=" + httpPort, "-e", "VOUCH_GRPC_PORT=" + grpcPort,
                "-e", "VOUCH_SHUTDOWN_DRAIN_DELAY=" + DRAIN.toSeconds() + "s",
                "-v", data + ":/var/lib/vouch", IMAGE)));
        awaitReadiness(200, Duration.ofMinutes(3));

        Bazel.ensureInstalled();
        Path workspace = root.resolve("workspace");
        E2eFiles.copyWorkspace(workspace);
        bazel = new Bazel(workspace, root.resolve("bazel-root"));
        Path grpcLog = root.resolve("grpc.log");
        String build = bazel.run("build", "--remote_cache=grpc://127.0.0.1:" + grpcPort, "--incompatible_strict_action_env",
                "--spawn_strategy=local", "--color=no", "--curses=no", "--remote_timeout=60",
                "--experimental_remote_grpc_log=" + grpcLog, "//...");
        assertThat(E2eFiles.processes(build, "local")).as("actions Bazel ran:\n%s", build).isEqualTo(5);
        actions = List.copyOf(BazelGrpcLog.actionDigests(grpcLog));
        for (Digest action : actions) {
            results.put(action, ActionResult.parseFrom(Files.readAllBytes(storeFile("ac", action.hash()))));
        }
        assertThat(actions).hasSize(5);
    }

    @AfterAll
    void cleanUp() throws Exception {
        if (container != null) {
            Podman.run(Duration.ofMinutes(1), "rm", "-f", container);
        }
        if (bazel != null) {
            bazel.run("clean", "--expunge");
        }
        if (root != null) {
            E2eFiles.deleteTree(root);
        }
    }

    @Test
    @Order(1)
    void runsAsNonRootWithItsHealthCheckAndAHeapSizedFromTheMemoryLimit() throws Exception {
        assertThat(Podman.check(Duration.ofSeconds(30), "exec", container, "id", "-u").strip()).isEqualTo("10001");
        // the image's HEALTHCHECK (bash /dev/tcp to /actuator/health/readiness), run on demand: no systemd timers here
        Podman.Result health = Podman.run(Duration.ofSeconds(30), "healthcheck", "run", container);
        assertThat(health.exitCode()).as(health.output()).isZero();

        double heap = 0;
        Matcher m = Pattern.compile("(?m)^jvm_memory_max_bytes\\{area=\"heap\",[^}]*} (\\S+)$").matcher(get("/actuator/prometheus").body());
        while (m.find()) {
            heap += Math.max(0, Double.parseDouble(m.group(1)));
        }
        // -XX:MaxRAMPercentage=75 of the 1 GiB limit (the JVM's own default would be 25 %); the heap
        // pools add up to a little less than the maximum heap when one survivor space is counted
        assertThat(heap / MEMORY_LIMIT).as("heap pools' maximum / memory limit").isBetween(0.65, 0.76);
    }

    @Test
    @Order(2)
    void everyActionBazelStoredIsHit() throws Exception {
        JsonNode body = validate(actions);
        assertThat(body.at("/summary/HIT").asInt()).as(body.toString()).isEqualTo(actions.size());
        for (JsonNode result : body.get("results")) {
            assertThat(result.get("verdict").asString()).as(result.toString()).isEqualTo("HIT");
            assertThat(result.get("backend").asString()).isEqualTo("embedded");
        }
    }

    @Test
    @Order(3)
    void theStoreIsOnTheVolume() throws Exception {
        Digest action = E2eVerdicts.actionWithOutputFile(actions, results, "greeting.txt");
        OutputFile greeting = results.get(action).getOutputFilesList().stream()
                .filter(f -> f.getPath().endsWith("/greeting.txt")).findFirst().orElseThrow();
        Files.delete(storeFile("cas", greeting.getDigest().getHash()));

        JsonNode result = validate(List.of(action)).get("results").get(0);
        E2eVerdicts.assertSingleMissing(result, Digest.fromProto(greeting.getDigest()), "OUTPUT_FILE", greeting.getPath());
    }

    @Test
    @Order(4)
    void sigtermDrainsThenStopsGracefully() throws Exception {
        CompletableFuture<Podman.Result> stop = CompletableFuture.supplyAsync(() -> {
            try {
                return Podman.run(Duration.ofMinutes(2), "stop", "-t", "60", container);
            } catch (IOException | InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        // during the drain readiness says 503 while validation is still served
        awaitReadiness(503, DRAIN.multipliedBy(2));
        Digest untouched = actions.stream()
                .filter(a -> !a.equals(E2eVerdicts.actionWithOutputFile(actions, results, "greeting.txt"))).findFirst().orElseThrow();
        JsonNode body = validate(List.of(untouched));
        assertThat(body.get("results").get(0).get("verdict").asString()).isEqualTo("HIT");

        Podman.Result stopped = stop.get(2, TimeUnit.MINUTES);
        assertThat(stopped.exitCode()).as(stopped.output()).isZero();
        String exit = Podman.check(Duration.ofSeconds(30), "inspect", "--format", "{{.State.ExitCode}}", container).strip();
        String log = Podman.check(Duration.ofSeconds(30), "logs", container);
        // 143 = 128 + SIGTERM: the JVM ended on the signal itself, not on podman's SIGKILL after 60 s (137)
        assertThat(exit).as(log).isEqualTo("143");
        assertThat(log)
                .contains("shutting down: readiness is REFUSING_TRAFFIC, still serving for PT" + DRAIN.toSeconds() + "S")
                .contains("Commencing graceful shutdown. Waiting for active requests to complete")
                .contains("Graceful shutdown complete")
                .doesNotContain("gRPC calls still running");
        assertThat(log.indexOf("REFUSING_TRAFFIC")).isLessThan(log.indexOf("Commencing graceful shutdown"));
    }

    private void awaitReadiness(int status, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        int last = -1;
        while (System.nanoTime() < deadline) {
            try {
                last = get("/actuator/health/readiness").statusCode();
                if (last == status) {
                    return;
                }
            } catch (IOException notListening) {
                last = -1;
            }
            TimeUnit.MILLISECONDS.sleep(100);
        }
        throw new AssertionError("readiness did not answer " + status + " within " + timeout + " (last: " + last
                + "); container log:\n" + Podman.run(Duration.ofSeconds(30), "logs", container).output());
    }

    private HttpResponse<String> get(String path) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + httpPort + path))
                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private JsonNode validate(List<Digest> digests) throws IOException, InterruptedException {
        List<Map<String, Object>> list = digests.stream()
                .map(d -> Map.<String, Object>of("hash", d.hash(), "sizeBytes", d.sizeBytes())).toList();
        HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + httpPort + "/v1/validate"))
                .timeout(Duration.ofSeconds(30)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(Map.of("actions", list)))).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        return JSON.readTree(response.body());
    }

    private Path storeFile(String kind, String hash) {
        return data.resolve(kind).resolve(hash.substring(0, 2)).resolve(hash);
    }

    /** podman, runc and debootstrap: installed when missing if we are root, else the test is skipped. */
    private static void ensurePodman() throws IOException, InterruptedException {
        boolean root = "root".equals(System.getProperty("user.name"));
        for (Map.Entry<Path, String> tool : Map.of(Podman.PODMAN, "podman", Path.of("/usr/sbin/runc"), "runc",
                Path.of("/usr/sbin/debootstrap"), "debootstrap").entrySet()) {
            if (!Files.isExecutable(tool.getKey())) {
                assumeTrue(root, tool.getKey() + " is missing: install Debian's podman, runc and debootstrap "
                        + "(apt-get install podman runc debootstrap) to run the container image test");
                Bazel.ensureDebianPackage(tool.getKey(), tool.getValue());
            }
        }
    }

    /**
     * Debian bookworm's minimal system with its OpenJDK 17 JRE, as {@code localhost/vouch-base:jre17}:
     * the stand-in for the Dockerfile's public default (eclipse-temurin:17-jre), which no registry
     * here serves.
     */
    private static void ensureBaseImage() throws IOException, InterruptedException {
        if (Podman.run(Duration.ofSeconds(30), "image", "exists", BASE_IMAGE).ok()) {
            return;
        }
        Path tarball = CACHE.resolve("vouch-base-jre17.tar");
        if (!Files.isRegularFile(tarball)) {
            assumeTrue("root".equals(System.getProperty("user.name")), "building the base image " + BASE_IMAGE
                    + " needs root (debootstrap); build it once as root or import one under that name");
            Files.createDirectories(CACHE);
            Path rootfs = CACHE.resolve("rootfs-" + ProcessHandle.current().pid());
            Path partial = CACHE.resolve("vouch-base-jre17.tar.partial");
            try {
                checkExit(List.of("debootstrap", "--variant=minbase", "--include=openjdk-17-jre-headless", "bookworm",
                        rootfs.toString()), Duration.ofMinutes(30));
                // the downloaded packages and indexes are not needed at run time: ~140 MB less
                checkExit(List.of("sh", "-c", "rm -rf " + rootfs + "/var/cache/apt/archives/*.deb " + rootfs
                        + "/var/lib/apt/lists/*"), Duration.ofMinutes(1));
                checkExit(List.of("tar", "-C", rootfs.toString(), "-cf", partial.toString(), "."), Duration.ofMinutes(5));
                Files.move(partial, tarball);
            } finally {
                checkExit(List.of("rm", "-rf", rootfs.toString(), partial.toString()), Duration.ofMinutes(2));
            }
        }
        Podman.check(Duration.ofMinutes(5), "import", tarball.toString(), BASE_IMAGE);
    }

    private static void checkExit(List<String> command, Duration timeout) throws IOException, InterruptedException {
        Podman.Result result = Podman.exec(command, timeout);
        if (!result.ok()) {
            throw new IllegalStateException(String.join(" ", command) + " exited " + result.exitCode() + ":\n"
                    + result.output());
        }
    }

    private static String[] concat(List<String> first, List<String> second, List<String> third) {
        return Stream.of(first, second, third).flatMap(List::stream).toArray(String[]::new);
    }
}
