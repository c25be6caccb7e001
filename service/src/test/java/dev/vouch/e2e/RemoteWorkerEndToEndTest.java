package dev.vouch.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.FileNode;
import build.bazel.remote.execution.v2.OutputDirectory;
import build.bazel.remote.execution.v2.OutputFile;
import build.bazel.remote.execution.v2.Tree;
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
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.http.MediaType;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;
import tools.jackson.databind.JsonNode;

/**
 * Vouch's {@code grpc} backend against a REAPI server Vouch did not write: Bazel's reference remote
 * worker ({@link RemoteWorker}), filled by a real Bazel 4.2.3 over gRPC, judged through the REST API.
 * The worker refuses calls without a RequestMetadata header and does not implement BatchReadBlobs,
 * so the verdicts are exact only if Vouch sends the header and reads Tree blobs with ByteStream.
 * Deleting the worker's files is eviction; the verdicts must be those the embedded store gives
 * ({@link BazelEndToEndTest}).
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = "vouch.grpc.port=0")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class RemoteWorkerEndToEndTest {
    private static final Path ROOT = E2eFiles.createTempDirectory("vouch-e2e-worker-");
    private static final int WORKER_PORT = Nginx.freePort();

    @DynamicPropertySource
    static void backends(DynamicPropertyRegistry registry) {
        registry.add("vouch.data-dir", () -> ROOT.resolve("data").toString());
        registry.add("vouch.backends[0].name", () -> "worker");
        registry.add("vouch.backends[0].type", () -> "grpc");
        registry.add("vouch.backends[0].target", () -> "grpc://127.0.0.1:" + WORKER_PORT);
        registry.add("vouch.backends[0].call-timeout", () -> "10s");
    }

    @LocalServerPort
    int httpPort;

    private RemoteWorker worker;
    private Bazel bazel;
    private List<Digest> actions;
    private final Map<Digest, ActionResult> results = new HashMap<>();

    @BeforeAll
    void buildIntoTheWorker() throws Exception {
        Bazel.ensureInstalled();
        worker = RemoteWorker.start(ROOT.resolve("worker"), WORKER_PORT);
        Path workspace = ROOT.resolve("workspace");
        E2eFiles.copyWorkspace(workspace);
        bazel = new Bazel(workspace, ROOT.resolve("bazel-root"));
        Path grpcLog = ROOT.resolve("grpc.log");
        String build = bazel.run("build", "--remote_cache=" + worker.target(), "--incompatible_strict_action_env",
                "--spawn_strategy=local", "--color=no", "--curses=no", "--remote_timeout=60",
                "--experimental_remote_grpc_log=" + grpcLog, "//...");
        int executed = E2eFiles.processes(build, "local");
        assertThat(executed).as("the worker starts empty, so Bazel runs every action and uploads it:\n%s\n%s",
                build, worker.logs()).isEqualTo(5);
        actions = List.copyOf(BazelGrpcLog.actionDigests(grpcLog));

        Set<String> acNames;
        try (Stream<Path> files = Files.walk(worker.storeDir().resolve("ac"))) {
            acNames = files.filter(Files::isRegularFile).map(f -> f.getFileName().toString()).collect(Collectors.toSet());
        }
        assertThat(acNames).as("the worker's ac/ holds exactly the actions of the gRPC log")
                .containsExactlyInAnyOrderElementsOf(actions.stream().map(Digest::hash).toList());
        for (Digest action : actions) {
            results.put(action, ActionResult.parseFrom(Files.readAllBytes(worker.acFile(action))));
        }
    }

    @AfterAll
    void cleanUp() throws Exception {
        if (worker != null) {
            worker.close();
        }
        if (bazel != null) {
            bazel.run("clean", "--expunge");
        }
        E2eFiles.deleteTree(ROOT);
    }

    @Test
    @Order(1)
    void everyActionBazelStoredInTheWorkerIsHit() {
        JsonNode body = validate(actions);

        assertThat(body.at("/summary/HIT").asInt()).as(body.toString()).isEqualTo(actions.size());
        for (JsonNode result : body.get("results")) {
            assertThat(result.get("verdict").asString()).as(result.toString()).isEqualTo("HIT");
            assertThat(result.get("backend").asString()).isEqualTo("worker");
            assertThat(result.get("blobsReferenced").asLong()).isPositive();
            assertThat(result.get("missing")).isEmpty();
        }
    }

    @Test
    @Order(2)
    void deletedWorkerCasFilesMakeExactlyTheirActionsPartial() throws IOException {
        Digest fileAction = actionWithOutputFile("greeting.txt");
        OutputFile greeting = results.get(fileAction).getOutputFilesList().stream()
                .filter(f -> f.getPath().endsWith("/greeting.txt")).findFirst().orElseThrow();
        // Bazel records an (empty) stdout for every action; only the chatty genrule printed something
        Digest stdoutAction = actions.stream().filter(a -> results.get(a).getStdoutDigest().getSizeBytes() > 0)
                .findFirst().orElseThrow();
        Digest stdout = Digest.fromProto(results.get(stdoutAction).getStdoutDigest());
        Digest treeAction = treeAction();
        OutputDirectory dir = results.get(treeAction).getOutputDirectories(0);
        FileNode leaf = E2eVerdicts.leafFile(Tree.parseFrom(Files.readAllBytes(worker.casFile(dir.getTreeDigest().getHash()))));

        Files.delete(worker.casFile(greeting.getDigest().getHash()));
        Files.delete(worker.casFile(stdout));
        Files.delete(worker.casFile(leaf.getDigest().getHash()));

        JsonNode body = validate(actions);
        Map<Digest, JsonNode> byAction = E2eVerdicts.byAction(body);
        E2eVerdicts.assertSingleMissing(byAction.get(fileAction), Digest.fromProto(greeting.getDigest()), "OUTPUT_FILE",
                greeting.getPath());
        E2eVerdicts.assertSingleMissing(byAction.get(stdoutAction), stdout, "STDOUT", "stdout");
        E2eVerdicts.assertSingleMissing(byAction.get(treeAction), Digest.fromProto(leaf.getDigest()), "OUTPUT_DIRECTORY_FILE",
                dir.getPath() + "/sub/deeper/leaf.txt");
        assertOthersHit(body, Set.of(fileAction, stdoutAction, treeAction));
        assertThat(body.at("/summary/PARTIAL").asInt()).as(body.toString()).isEqualTo(3);
    }

    /** With the Tree blob itself gone, the files inside cannot be known: the Tree is what is missing. */
    @Test
    @Order(3)
    void deletedTreeBlobIsTheMissingBlobOfItsAction() throws IOException {
        Digest treeAction = treeAction();
        OutputDirectory dir = results.get(treeAction).getOutputDirectories(0);
        Files.delete(worker.casFile(dir.getTreeDigest().getHash()));

        JsonNode result = validate(List.of(treeAction)).get("results").get(0);
        E2eVerdicts.assertSingleMissing(result, Digest.fromProto(dir.getTreeDigest()), "OUTPUT_DIRECTORY_TREE", dir.getPath());
    }

    @Test
    @Order(4)
    void deletedWorkerActionCacheFileIsMiss() throws IOException {
        Digest action = actionWithOutputFile("shout.txt");
        Files.delete(worker.acFile(action));

        JsonNode result = client().get().uri("/v1/actions/{hash}/{size}", action.hash(), action.sizeBytes())
                .exchange().expectStatus().isOk().expectBody(JsonNode.class).returnResult().getResponseBody();
        assertThat(result.get("verdict").asString()).as(result.toString()).isEqualTo("MISS");
        assertThat(result.get("backend").asString()).isEqualTo("worker");
    }

    private void assertOthersHit(JsonNode body, Set<Digest> partial) {
        Map<Digest, JsonNode> byAction = E2eVerdicts.byAction(body);
        for (Digest action : actions) {
            if (!partial.contains(action)) {
                assertThat(byAction.get(action).get("verdict").asString()).as(byAction.get(action).toString())
                        .isEqualTo("HIT");
            }
        }
    }

    private Digest treeAction() {
        return actions.stream().filter(a -> results.get(a).getOutputDirectoriesCount() > 0).findFirst().orElseThrow();
    }

    private Digest actionWithOutputFile(String name) {
        return E2eVerdicts.actionWithOutputFile(actions, results, name);
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
}
