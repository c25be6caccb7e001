package dev.vouch.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.OutputFile;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.webtestclient.autoconfigure.AutoConfigureWebTestClient;
import org.springframework.http.MediaType;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Only the digest function's hash of nothing is the empty blob: an entry uploaded to the embedded
 * cache with another hash of size 0 is malformed, through the REST API, in both modes.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
@AutoConfigureWebTestClient
class EmptyBlobEmbeddedTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    private static final JsonMapper JSON = JsonMapper.builder().build();

    @TempDir
    static Path dataDir;

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry registry) {
        registry.add("vouch.grpc.port", () -> "0");
        registry.add("vouch.data-dir", () -> dataDir.toString());
    }

    @Autowired
    WebTestClient client;

    @ParameterizedTest
    @ValueSource(strings = {"EXISTENCE", "FETCH"})
    void sizeZeroWithAnotherHashIsMalformed(String mode) {
        Digest notEmpty = new Digest(sha256("never stored " + mode).hash(), 0);
        Digest malformed = upload("size zero " + mode, ActionResult.newBuilder()
                .addOutputFiles(OutputFile.newBuilder().setPath("bazel-out/bin/a.o").setDigest(notEmpty.toProto()))
                .build());
        Digest empty = DigestFunction.SHA256.emptyDigest();
        Digest wellFormed = upload("really empty " + mode, ActionResult.newBuilder()
                .addOutputFiles(OutputFile.newBuilder().setPath("bazel-out/bin/__init__.py").setDigest(empty.toProto()))
                .build());

        JsonNode results = validate(mode, malformed, wellFormed).get("results");

        assertThat(results.get(0).get("verdict").asString()).isEqualTo("UNKNOWN");
        assertThat(results.get(0).get("reason").asString()).isEqualTo("malformed ActionResult: output file "
                + "bazel-out/bin/a.o: digest " + notEmpty + " has size 0 but is not the empty blob (" + empty + ")");
        assertThat(results.get(1).get("verdict").asString()).isEqualTo("HIT");
    }

    /** Stores the entry over the embedded cache's HTTP protocol, as Bazel would. */
    private Digest upload(String name, ActionResult result) {
        Digest action = sha256("action " + name);
        client.put().uri("/cache/ac/" + action.hash()).bodyValue(result.toByteArray())
                .exchange()
                .expectStatus().isOk();
        return action;
    }

    private JsonNode validate(String mode, Digest... actions) {
        StringBuilder body = new StringBuilder("{\"mode\": \"" + mode + "\", \"actions\": [");
        for (int i = 0; i < actions.length; i++) {
            body.append(i == 0 ? "" : ", ").append('"').append(actions[i]).append('"');
        }
        body.append("]}");
        byte[] response = client.mutate().responseTimeout(TIMEOUT).build()
                .post().uri("/v1/validate").contentType(MediaType.APPLICATION_JSON).bodyValue(body.toString())
                .exchange()
                .expectStatus().isOk()
                .expectBody().returnResult().getResponseBody();
        return JSON.readTree(response);
    }

    private static Digest sha256(String text) {
        return DigestFunction.SHA256.digestOf(text.getBytes(StandardCharsets.UTF_8));
    }
}
