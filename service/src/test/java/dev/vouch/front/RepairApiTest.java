package dev.vouch.front;

import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.OutputFile;
import dev.vouch.api.grpc.GrpcServer;
import dev.vouch.api.http.OpenApiContract;
import dev.vouch.backend.embedded.BlobStore;
import dev.vouch.backend.reapi.ReapiTestServer;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.v1.ValidateRequest;
import dev.vouch.v1.ValidateResponse;
import dev.vouch.v1.ValidationServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.http.MediaType;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;
import tools.jackson.databind.JsonNode;

/**
 * The validation APIs' {@code repair} with {@code vouch.front.repair-from}: the embedded store lost
 * a blob that the second tier (a REAPI server on loopback) still has; a request with repair copies
 * it back, lists it in {@code repaired} and answers HIT; without repair the answer is PARTIAL.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {"vouch.grpc.port=0", "vouch.front.repair-from=durable"})
class RepairApiTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(20);
    private static final Path DATA = createTempDirectory();
    private static final ReapiTestServer DURABLE = ReapiTestServer.start(4 << 20);

    @DynamicPropertySource
    static void backends(DynamicPropertyRegistry registry) {
        registry.add("vouch.data-dir", DATA::toString);
        registry.add("vouch.backends[0].name", () -> "embedded");
        registry.add("vouch.backends[0].type", () -> "embedded");
        registry.add("vouch.backends[1].name", () -> "durable");
        registry.add("vouch.backends[1].type", () -> "grpc");
        registry.add("vouch.backends[1].target", DURABLE::target);
    }

    @LocalServerPort
    int httpPort;

    @Autowired
    GrpcServer grpcServer;

    @Autowired
    BlobStore store;

    @AfterAll
    static void stop() throws InterruptedException {
        DURABLE.close();
    }

    @Test
    void restRepairCopiesTheLostBlobBackAndAnswersHit() {
        byte[] bytes = ("lost " + UUID.randomUUID()).getBytes(StandardCharsets.UTF_8);
        Digest lost = DURABLE.put(bytes);
        Digest action = actionOutputting(lost);

        JsonNode partial = validate(action, false).get("results").get(0);
        assertThat(partial.get("verdict").asString()).isEqualTo("PARTIAL");
        assertThat(partial.has("repaired")).isFalse();

        JsonNode repaired = validate(action, true).get("results").get(0);

        assertThat(repaired.get("verdict").asString()).as(repaired.toString()).isEqualTo("HIT");
        assertThat(repaired.get("missing")).isEmpty();
        assertThat(repaired.get("repaired")).hasSize(1);
        assertThat(repaired.at("/repaired/0/hash").asString()).isEqualTo(lost.hash());
        assertThat(repaired.at("/repaired/0/kind").asString()).isEqualTo("OUTPUT_FILE");
        assertThat(repaired.at("/repaired/0/paths/0").asString()).isEqualTo("out/lost.o");
        assertThat(store.contains(lost).block(TIMEOUT)).isTrue();
        assertThat(validate(action, false).at("/results/0/verdict").asString()).isEqualTo("HIT");
    }

    @Test
    void aBlobNeitherHasStaysMissing() {
        Digest gone = DigestFunction.SHA256.digestOf(("gone " + UUID.randomUUID()).getBytes(StandardCharsets.UTF_8));
        Digest action = actionOutputting(gone);

        JsonNode result = validate(action, true).get("results").get(0);

        assertThat(result.get("verdict").asString()).isEqualTo("PARTIAL");
        assertThat(result.at("/missing/0/hash").asString()).isEqualTo(gone.hash());
        assertThat(result.has("repaired")).isFalse();
    }

    @Test
    void grpcRepair() throws InterruptedException {
        Digest lost = DURABLE.put(("lost over grpc " + UUID.randomUUID()).getBytes(StandardCharsets.UTF_8));
        Digest action = actionOutputting(lost);
        ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", grpcServer.port()).usePlaintext().build();
        try {
            ValidateResponse response = ValidationServiceGrpc.newBlockingStub(channel)
                    .withDeadlineAfter(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)
                    .validate(ValidateRequest.newBuilder().addActions(action.toProto()).setRepair(true).build());

            assertThat(response.getResults(0).getVerdict().name()).isEqualTo("HIT");
            assertThat(response.getResults(0).getRepairedList()).singleElement()
                    .satisfies(p -> assertThat(p.getDigest()).isEqualTo(lost.toProto()));
            assertThat(response.getResults(0).getMissingList()).isEmpty();
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    private Digest actionOutputting(Digest output) {
        Digest action = DigestFunction.SHA256.digestOf(("action " + UUID.randomUUID()).getBytes(StandardCharsets.UTF_8));
        store.putActionResult(action, ActionResult.newBuilder()
                .addOutputFiles(OutputFile.newBuilder().setPath("out/lost.o").setDigest(output.toProto()))
                .build().toByteArray()).block(TIMEOUT);
        return action;
    }

    private JsonNode validate(Digest action, boolean repair) {
        Map<String, Object> body = Map.of("actions", List.of(Map.of("hash", action.hash(), "sizeBytes", action.sizeBytes())),
                "repair", repair);
        return WebTestClient.bindToServer().baseUrl("http://127.0.0.1:" + httpPort)
                .filter(OpenApiContract.shared().filter())
                .responseTimeout(TIMEOUT).build()
                .post().uri("/v1/validate").contentType(MediaType.APPLICATION_JSON).bodyValue(body)
                .exchange().expectStatus().isOk().expectBody(JsonNode.class).returnResult().getResponseBody();
    }

    private static Path createTempDirectory() {
        try {
            return Files.createTempDirectory("vouch-repair-api-").resolve("data");
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
