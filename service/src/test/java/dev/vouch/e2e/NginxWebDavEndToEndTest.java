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
import java.util.stream.Collectors;
import java.util.stream.Stream;
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
 * Bazel's documented HTTP cache, for real: nginx with WebDAV {@code PUT}, filled by a real Bazel
 * build, judged by Vouch's {@code http} backend (configured as {@code vouch.backends[1]}, reached by
 * routing instance name "nginx" to it) through the REST API. Deleting nginx's files is eviction.
 *
 * <p>The HTTP protocol names actions by hash only, but Vouch's API takes hash and size; the digests
 * come from Bazel's gRPC log of the same workspace built once against Vouch's embedded gRPC cache
 * (action digests do not depend on the cache), and their hashes must be exactly nginx's {@code ac/}
 * file names.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = "vouch.grpc.port=0")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class NginxWebDavEndToEndTest {
    private static final Path ROOT = E2eFiles.createTempDirectory("vouch-e2e-nginx-");
    private static final int NGINX_PORT = Nginx.freePort();
    private static final String INSTANCE = "nginx";

    @DynamicPropertySource
    static void backends(DynamicPropertyRegistry registry) {
        registry.add("vouch.data-dir", () -> ROOT.resolve("data").toString());
        registry.add("vouch.backends[0].name", () -> "embedded");
        registry.add("vouch.backends[0].type", () -> "embedded");
        registry.add("vouch.backends[1].name", () -> "nginx");
        registry.add("vouch.backends[1].type", () -> "http");
        registry.add("vouch.backends[1].url", () -> "http://127.0.0.1:" + NGINX_PORT);
        registry.add("vouch.backends[1].call-timeout", () -> "10s");
        registry.add("vouch.routes[0].instance-pattern", () -> INSTANCE);
        registry.add("vouch.routes[0].backend", () -> "nginx");
    }

    @LocalServerPort
    int httpPort;

    @Autowired
    GrpcServer grpcServer;

    private Nginx nginx;
    private Bazel bazel;
    private List<Digest> actions;
    private final Map<Digest, ActionResult> results = new HashMap<>();

    @BeforeAll
    void buildIntoNginx() throws Exception {
        Bazel.ensureInstalled();
        nginx = Nginx.start(ROOT.resolve("nginx"), NGINX_PORT);
        Path workspace = ROOT.resolve("workspace");
        E2eFiles.copyWorkspace(workspace);
        bazel = new Bazel(workspace, ROOT.resolve("bazel-root"));
        String[] common = {"--incompatible_strict_action_env", "--spawn_strategy=local", "--color=no", "--curses=no",
            "--remote_timeout=60"};

        Path grpcLog = ROOT.resolve("grpc.log");
        String viaGrpc = bazel.run("build", E2eVerdicts.concat(common, "--remote_cache=grpc://127.0.0.1:" + grpcServer.port(),
                "--experimental_remote_grpc_log=" + grpcLog, "//..."));
        int executed = E2eFiles.processes(viaGrpc, "local");
        assertThat(executed).as("actions of the workspace:\n%s", viaGrpc).isEqualTo(5);
        actions = List.copyOf(BazelGrpcLog.actionDigests(grpcLog));

        bazel.run("clean");
        String viaNginx = bazel.run("build", E2eVerdicts.concat(common, "--remote_cache=http://127.0.0.1:" + NGINX_PORT, "//..."));
        assertThat(E2eFiles.processes(viaNginx, "local"))
                .as("nginx starts empty, so Bazel runs every action and uploads it:\n%s\n%s", viaNginx, nginx.logs())
                .isEqualTo(executed);

        Set<String> acNames;
        try (Stream<Path> files = Files.list(nginx.cacheDir().resolve("ac"))) {
            acNames = files.map(f -> f.getFileName().toString()).collect(Collectors.toSet());
        }
        assertThat(acNames).as("nginx's ac/ holds exactly the actions of the gRPC log")
                .containsExactlyInAnyOrderElementsOf(actions.stream().map(Digest::hash).toList());
        for (Digest action : actions) {
            results.put(action, ActionResult.parseFrom(Files.readAllBytes(acFile(action))));
        }
    }

    @AfterAll
    void cleanUp() throws Exception {
        if (nginx != null) {
            nginx.close();
        }
        if (bazel != null) {
            bazel.run("clean", "--expunge");
        }
        E2eFiles.deleteTree(ROOT);
    }

    @Test
    @Order(1)
    void everyActionBazelStoredInNginxIsHit() {
        JsonNode body = validate(actions);

        assertThat(body.at("/summary/HIT").asInt()).as(body.toString()).isEqualTo(actions.size());
        for (JsonNode result : body.get("results")) {
            assertThat(result.get("verdict").asString()).as(result.toString()).isEqualTo("HIT");
            assertThat(result.get("backend").asString()).isEqualTo("nginx");
            assertThat(result.get("blobsReferenced").asLong()).isPositive();
        }
    }

    @Test
    @Order(2)
    void deletedNginxFilesMakeExactlyTheirActionsPartial() throws IOException {
        Digest fileAction = actionWithOutputFile("greeting.txt");
        OutputFile greeting = results.get(fileAction).getOutputFilesList().stream()
                .filter(f -> f.getPath().endsWith("/greeting.txt")).findFirst().orElseThrow();
        Digest stdoutAction = actions.stream().filter(a -> results.get(a).getStdoutDigest().getSizeBytes() > 0)
                .findFirst().orElseThrow();
        Digest stdout = Digest.fromProto(results.get(stdoutAction).getStdoutDigest());
        Digest treeAction = actions.stream().filter(a -> results.get(a).getOutputDirectoriesCount() > 0)
                .findFirst().orElseThrow();
        OutputDirectory dir = results.get(treeAction).getOutputDirectories(0);
        FileNode leaf = E2eVerdicts.leafFile(Tree.parseFrom(Files.readAllBytes(casFile(dir.getTreeDigest().getHash()))));

        Files.delete(casFile(greeting.getDigest().getHash()));
        Files.delete(casFile(stdout.hash()));
        Files.delete(casFile(leaf.getDigest().getHash()));

        JsonNode body = validate(actions);
        Map<String, JsonNode> byHash = new HashMap<>();
        body.get("results").forEach(r -> byHash.put(r.at("/action/hash").asString(), r));
        E2eVerdicts.assertSingleMissing(byHash.get(fileAction.hash()), Digest.fromProto(greeting.getDigest()), "OUTPUT_FILE", greeting.getPath());
        E2eVerdicts.assertSingleMissing(byHash.get(stdoutAction.hash()), stdout, "STDOUT", "stdout");
        E2eVerdicts.assertSingleMissing(byHash.get(treeAction.hash()), Digest.fromProto(leaf.getDigest()), "OUTPUT_DIRECTORY_FILE",
                dir.getPath() + "/sub/deeper/leaf.txt");
        Set<Digest> partial = Set.of(fileAction, stdoutAction, treeAction);
        for (Digest action : actions) {
            if (!partial.contains(action)) {
                assertThat(byHash.get(action.hash()).get("verdict").asString()).as(action.toString()).isEqualTo("HIT");
            }
        }
        assertThat(body.at("/summary/PARTIAL").asInt()).isEqualTo(3);
    }

    @Test
    @Order(3)
    void deletedNginxActionCacheFileIsMiss() throws IOException {
        Digest action = actionWithOutputFile("shout.txt");
        Files.delete(acFile(action));

        JsonNode result = client().get()
                .uri("/v1/actions/{hash}/{size}?instanceName={instance}", action.hash(), action.sizeBytes(), INSTANCE)
                .exchange().expectStatus().isOk().expectBody(JsonNode.class).returnResult().getResponseBody();
        assertThat(result.get("verdict").asString()).as(result.toString()).isEqualTo("MISS");
        assertThat(result.get("backend").asString()).isEqualTo("nginx");
    }

    private Digest actionWithOutputFile(String name) {
        return E2eVerdicts.actionWithOutputFile(actions, results, name);
    }

    private JsonNode validate(List<Digest> digests) {
        List<Map<String, Object>> list = digests.stream()
                .map(d -> Map.<String, Object>of("hash", d.hash(), "sizeBytes", d.sizeBytes())).toList();
        return client().post().uri("/v1/validate").contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("instanceName", INSTANCE, "actions", list)).exchange().expectStatus().isOk()
                .expectBody(JsonNode.class).returnResult().getResponseBody();
    }

    private WebTestClient client() {
        return WebTestClient.bindToServer().baseUrl("http://127.0.0.1:" + httpPort)
                .filter(OpenApiContract.shared().filter())
                .responseTimeout(Duration.ofSeconds(30)).build();
    }

    /** nginx stores what Bazel PUT flat under its root: {@code cas/<hash>}, {@code ac/<hash>}. */
    private Path casFile(String hash) {
        return nginx.cacheDir().resolve("cas").resolve(hash);
    }

    private Path acFile(Digest action) {
        return nginx.cacheDir().resolve("ac").resolve(action.hash());
    }
}
