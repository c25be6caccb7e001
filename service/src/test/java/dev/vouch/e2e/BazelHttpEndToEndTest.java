package dev.vouch.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.ActionResult;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * A real Bazel (Debian's 4.2.3) uses Vouch's embedded cache over the Bazel HTTP cache protocol,
 * {@code --remote_cache=http://127.0.0.1:<port>/cache}: the first build fills it, and after
 * {@code bazel clean} every action is a remote cache hit.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = "vouch.grpc.port=0")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class BazelHttpEndToEndTest {
    private static final Path ROOT = E2eFiles.createTempDirectory("vouch-e2e-http-");

    @DynamicPropertySource
    static void dataDir(DynamicPropertyRegistry registry) {
        registry.add("vouch.data-dir", () -> ROOT.resolve("data").toString());
    }

    @LocalServerPort
    int httpPort;

    private Bazel bazel;
    private String[] flags;

    @BeforeAll
    void workspace() throws Exception {
        Bazel.ensureInstalled();
        Path workspace = ROOT.resolve("workspace");
        E2eFiles.copyWorkspace(workspace);
        bazel = new Bazel(workspace, ROOT.resolve("bazel-root"));
        flags = new String[] {"--remote_cache=http://127.0.0.1:" + httpPort + "/cache", "--incompatible_strict_action_env",
            "--spawn_strategy=local", "--color=no", "--curses=no", "--remote_timeout=60", "//..."};
    }

    @AfterAll
    void cleanUp() throws Exception {
        if (bazel != null) {
            bazel.run("clean", "--expunge");
        }
        E2eFiles.deleteTree(ROOT);
    }

    @Test
    void bazelFillsTheCacheOverHttpAndIsServedFromItAfterClean() throws Exception {
        String first = bazel.run("build", flags);
        int executed = E2eFiles.processes(first, "local");
        assertThat(executed).as("actions Bazel ran in the first build:\n%s", first).isEqualTo(5);
        List<Path> acFiles = files(ROOT.resolve("data/ac"));
        assertThat(acFiles).as("one Action Cache file per action, in the normative layout").hasSize(executed);
        for (Path file : acFiles) {
            assertThat(file.getParent().getFileName().toString()).isEqualTo(file.getFileName().toString().substring(0, 2));
            ActionResult result = ActionResult.parseFrom(Files.readAllBytes(file));
            for (var output : result.getOutputFilesList()) {
                String hash = output.getDigest().getHash();
                assertThat(ROOT.resolve("data/cas").resolve(hash.substring(0, 2)).resolve(hash))
                        .as("output %s of %s", output.getPath(), file).hasSize(output.getDigest().getSizeBytes());
            }
        }

        bazel.run("clean");
        String second = bazel.run("build", flags);
        assertThat(E2eFiles.processes(second, "remote cache hit"))
                .as("after bazel clean every action is a remote cache hit:\n%s", second)
                .isEqualTo(executed);
        assertThat(E2eFiles.processes(second, "local")).as("nothing runs locally the second time").isZero();
    }

    private static List<Path> files(Path dir) throws IOException {
        try (Stream<Path> paths = Files.walk(dir)) {
            return paths.filter(Files::isRegularFile).toList();
        }
    }
}
