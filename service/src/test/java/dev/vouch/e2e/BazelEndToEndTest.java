package dev.vouch.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.FileNode;
import build.bazel.remote.execution.v2.OutputDirectory;
import build.bazel.remote.execution.v2.OutputFile;
import build.bazel.remote.execution.v2.Tree;
import dev.vouch.api.grpc.GrpcServer;
import dev.vouch.api.http.OpenApiContract;
import dev.vouch.digest.Digest;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.http.MediaType;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;
import tools.jackson.databind.JsonNode;

/**
 * A real Bazel (Debian's bazel-bootstrap 4.2.3) fills Vouch's embedded cache over REAPI gRPC, is
 * served from it after {@code bazel clean}, and Vouch's verdicts over REST follow the files an
 * operator deletes from the store. The workspace is {@code e2e/workspace}: file outputs, an output
 * directory from {@code ctx.actions.declare_directory}, and an action that prints to stdout.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = "vouch.grpc.port=0")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class BazelEndToEndTest {

    /** Static, not a JUnit TempDir: Spring reads the data directory before JUnit would inject one. */
    private static final Path ROOT = E2eFiles.createTempDirectory("vouch-e2e-");

    @DynamicPropertySource
    static void dataDir(DynamicPropertyRegistry registry) {
        registry.add("vouch.data-dir", () -> ROOT.resolve("data").toString());
    }

    @LocalServerPort
    int httpPort;

    @Autowired
    GrpcServer grpcServer;

    private Path data;
    private Bazel bazel;
    private List<Digest> actions;
    private final Map<Digest, ActionResult> results = new HashMap<>();

    @BeforeAll
    void buildWithBazel() throws Exception {
        Bazel.ensureInstalled();
        data = ROOT.resolve("data");
        Path workspace = ROOT.resolve("workspace");
        E2eFiles.copyWorkspace(workspace);
        bazel = new Bazel(workspace, ROOT.resolve("bazel-root"));

        Path grpcLog = ROOT.resolve("grpc.log");
        String[] flags = {"--remote_cache=grpc://127.0.0.1:" + grpcServer.port(), "--incompatible_strict_action_env",
            "--spawn_strategy=local", "--color=no", "--curses=no", "--remote_timeout=60"};
        String first = bazel.run("build", E2eVerdicts.concat(flags, "--experimental_remote_grpc_log=" + grpcLog, "//..."));
        int executed = E2eFiles.processes(first, "local");
        assertThat(executed).as("actions Bazel ran in the first build:\n%s", first).isEqualTo(5);

        bazel.run("clean");
        String second = bazel.run("build", E2eVerdicts.concat(flags, "//..."));
        assertThat(E2eFiles.processes(second, "remote cache hit"))
                .as("after bazel clean every cacheable action is a remote cache hit:\n%s", second)
                .isEqualTo(executed);
        assertThat(E2eFiles.processes(second, "local")).as("nothing runs locally the second time").isZero();

        actions = List.copyOf(BazelGrpcLog.actionDigests(grpcLog));
        for (Digest action : actions) {
            results.put(action, ActionResult.parseFrom(Files.readAllBytes(acFile(action.hash()))));
        }
        assertThat(actions).hasSize(executed);
    }

    @AfterAll
    void cleanUp() throws Exception {
        if (bazel != null) {
            bazel.run("clean", "--expunge");
        }
        E2eFiles.deleteTree(ROOT);
    }

    @Test
    @Order(1)
    void everyCachedActionIsHit() {
        JsonNode body = validate(actions);
        assertThat(body.at("/summary/HIT").asInt()).isEqualTo(actions.size());
        for (JsonNode result : body.get("results")) {
            assertThat(result.get("verdict").asString()).as(result.toString()).isEqualTo("HIT");
            assertThat(result.get("backend").asString()).isEqualTo("embedded");
            assertThat(result.get("blobsReferenced").asLong()).isPositive();
            assertThat(result.get("missing")).isEmpty();
        }
    }

    @Test
    @Order(2)
    void deletedCasFilesMakeExactlyTheirActionsPartial() throws IOException {
        Digest fileAction = actionWithOutputFile("greeting.txt");
        OutputFile greeting = outputFile(results.get(fileAction), "greeting.txt");
        // Bazel records an (empty) stdout for every action; only the chatty genrule printed something
        Digest stdoutAction = actions.stream().filter(a -> results.get(a).getStdoutDigest().getSizeBytes() > 0)
                .findFirst().orElseThrow();
        Digest stdout = Digest.fromProto(results.get(stdoutAction).getStdoutDigest());
        Digest treeAction = actions.stream().filter(a -> results.get(a).getOutputDirectoriesCount() > 0).findFirst().orElseThrow();
        OutputDirectory dir = results.get(treeAction).getOutputDirectories(0);
        Tree tree = Tree.parseFrom(Files.readAllBytes(casFile(dir.getTreeDigest().getHash())));
        FileNode leaf = E2eVerdicts.leafFile(tree);

        Files.delete(casFile(greeting.getDigest().getHash()));
        Files.delete(casFile(stdout.hash()));
        Files.delete(casFile(leaf.getDigest().getHash()));

        JsonNode body = validate(actions);
        Map<Digest, JsonNode> byAction = E2eVerdicts.byAction(body);
        E2eVerdicts.assertSingleMissing(byAction.get(fileAction), Digest.fromProto(greeting.getDigest()), "OUTPUT_FILE", greeting.getPath());
        E2eVerdicts.assertSingleMissing(byAction.get(stdoutAction), stdout, "STDOUT", "stdout");
        E2eVerdicts.assertSingleMissing(byAction.get(treeAction), Digest.fromProto(leaf.getDigest()), "OUTPUT_DIRECTORY_FILE",
                dir.getPath() + "/sub/deeper/leaf.txt");
        Set<Digest> partial = Set.of(fileAction, stdoutAction, treeAction);
        for (Digest action : actions) {
            if (!partial.contains(action)) {
                assertThat(byAction.get(action).get("verdict").asString()).as(action.toString()).isEqualTo("HIT");
            }
        }
        assertThat(body.at("/summary/PARTIAL").asInt()).isEqualTo(3);
    }

    @Test
    @Order(3)
    void deletedActionCacheFileIsMiss() throws IOException {
        Digest action = actionWithOutputFile("shout.txt");
        Files.delete(acFile(action.hash()));

        JsonNode result = client().get().uri("/v1/actions/{hash}/{size}", action.hash(), action.sizeBytes())
                .exchange().expectStatus().isOk().expectBody(JsonNode.class).returnResult().getResponseBody();
        assertThat(result.get("verdict").asString()).isEqualTo("MISS");
        assertThat(result.at("/action/hash").asString()).isEqualTo(action.hash());
    }

    private Digest actionWithOutputFile(String name) {
        return E2eVerdicts.actionWithOutputFile(actions, results, name);
    }

    private static OutputFile outputFile(ActionResult result, String name) {
        return result.getOutputFilesList().stream().filter(f -> f.getPath().endsWith("/" + name)).findFirst().orElseThrow();
    }

    private JsonNode validate(List<Digest> digests) {
        List<Map<String, Object>> list = digests.stream()
                .map(d -> Map.<String, Object>of("hash", d.hash(), "sizeBytes", d.sizeBytes())).toList();
        return client().post().uri("/v1/validate").contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("actions", list)).exchange().expectStatus().isOk()
                .expectBody(JsonNode.class).returnResult().getResponseBody();
    }

    private WebTestClient client() {
        return WebTestClient.bindToServer().baseUrl("http://127.0.0.1:" + httpPort)
                .filter(OpenApiContract.shared().filter())
                .responseTimeout(Duration.ofSeconds(30)).build();
    }

    private Path casFile(String hash) {
        return data.resolve("cas").resolve(hash.substring(0, 2)).resolve(hash);
    }

    private Path acFile(String hash) {
        return data.resolve("ac").resolve(hash.substring(0, 2)).resolve(hash);
    }
}
