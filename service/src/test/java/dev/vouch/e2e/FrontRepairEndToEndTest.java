package dev.vouch.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.OutputFile;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import dev.vouch.api.grpc.GrpcServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * {@code vouch.front.repair-from} with a real Bazel 4.2.3 and {@code --remote_download_minimal}: a
 * fast nginx that lost a CAS blob, a second nginx that holds the full cache. Through Vouch's front
 * the lost blob is copied back into the first nginx before the Action Cache read is answered, so the
 * build is all remote cache hits.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {"vouch.grpc.port=0", "vouch.front.presence-ttl=0s", "vouch.front.repair-from=durable"})
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class FrontRepairEndToEndTest {
    private static final Path ROOT = E2eFiles.createTempDirectory("vouch-e2e-repair-");
    private static final int FAST_PORT = Nginx.freePort();
    private static final int DURABLE_PORT = Nginx.freePort();
    private static final int ACTIONS = 5;
    private static final String[] COMMON = {"--incompatible_strict_action_env", "--spawn_strategy=local", "--color=no",
        "--curses=no", "--remote_timeout=60", "--remote_download_minimal"};

    @DynamicPropertySource
    static void backends(DynamicPropertyRegistry registry) {
        registry.add("vouch.data-dir", () -> ROOT.resolve("data").toString());
        registry.add("vouch.backends[0].name", () -> "fast");
        registry.add("vouch.backends[0].type", () -> "http");
        registry.add("vouch.backends[0].url", () -> "http://127.0.0.1:" + FAST_PORT);
        registry.add("vouch.backends[1].name", () -> "durable");
        registry.add("vouch.backends[1].type", () -> "http");
        registry.add("vouch.backends[1].url", () -> "http://127.0.0.1:" + DURABLE_PORT);
        registry.add("vouch.front.enabled", () -> "true");
    }

    @Autowired
    GrpcServer grpcServer;

    @Autowired
    MeterRegistry meters;

    private Nginx fast;
    private Nginx durable;
    private Bazel bazel;

    @BeforeAll
    void start() throws Exception {
        Bazel.ensureInstalled();
        fast = Nginx.start(ROOT.resolve("fast"), FAST_PORT);
        durable = Nginx.start(ROOT.resolve("durable"), DURABLE_PORT);
        Path workspace = ROOT.resolve("workspace");
        E2eFiles.copyWorkspace(workspace);
        bazel = new Bazel(workspace, ROOT.resolve("bazel-root"));
    }

    @AfterAll
    void cleanUp() throws Exception {
        for (Nginx nginx : new Nginx[] {fast, durable}) {
            if (nginx != null) {
                nginx.close();
            }
        }
        if (bazel != null) {
            bazel.run("clean", "--expunge");
        }
        E2eFiles.deleteTree(ROOT);
    }

    @Test
    void aBlobLostFromTheFastCacheIsRepairedFromTheDurableOne() throws Exception {
        String filled = bazel.run("build", E2eVerdicts.concat(COMMON, "--remote_cache=http://127.0.0.1:" + FAST_PORT, "//..."));
        assertThat(E2eFiles.processes(filled, "local")).as(filled).isEqualTo(ACTIONS);
        copyTree(fast.cacheDir(), durable.cacheDir());
        Path lost = fast.cacheDir().resolve("cas").resolve(greetingHash(fast.cacheDir().resolve("ac")));
        byte[] bytes = Files.readAllBytes(lost);
        Files.delete(lost);

        bazel.run("clean");
        String repaired = bazel.run("build", E2eVerdicts.concat(COMMON,
                "--remote_cache=grpc://127.0.0.1:" + grpcServer.port(), "//..."));

        assertThat(E2eFiles.processes(repaired, "remote cache hit")).as(repaired).isEqualTo(ACTIONS);
        assertThat(E2eFiles.processes(repaired, "local")).as(repaired).isZero();
        assertThat(lost).as("the blob is back in the fast cache").hasBinaryContent(bytes);
        Counter counter = meters.find("vouch.blobs.repaired").tag("backend", "fast").counter();
        assertThat(counter).isNotNull();
        assertThat(counter.count()).isEqualTo(1);
    }

    /** The hash of greeting.txt, which shout consumes, from the Action Cache entry that lists it. */
    private static String greetingHash(Path ac) throws Exception {
        List<Path> files;
        try (Stream<Path> list = Files.list(ac)) {
            files = list.toList();
        }
        for (Path file : files) {
            for (OutputFile output : ActionResult.parseFrom(Files.readAllBytes(file)).getOutputFilesList()) {
                if (output.getPath().endsWith("/greeting.txt")) {
                    return output.getDigest().getHash();
                }
            }
        }
        throw new AssertionError("no Action Cache entry lists greeting.txt");
    }

    private static void copyTree(Path from, Path to) throws Exception {
        List<Path> paths;
        try (Stream<Path> walk = Files.walk(from)) {
            paths = walk.toList();
        }
        for (Path path : paths) {
            Path target = to.resolve(from.relativize(path).toString());
            if (Files.isDirectory(path)) {
                Files.createDirectories(target);
            } else {
                Files.copy(path, target);
            }
        }
    }
}
