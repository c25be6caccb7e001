package dev.vouch.api.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.vouch.digest.Digest;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.webtestclient.autoconfigure.AutoConfigureWebTestClient;
import org.springframework.context.annotation.Import;
import org.springframework.http.MediaType;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The request deadline end to end over HTTP, against the real engine and a backend that never
 * answers some lookups: what was decided keeps its verdict, the rest is UNKNOWN "deadline
 * exceeded", and the answer comes within the deadline plus a small margin.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
@AutoConfigureWebTestClient
@Import(HeldBackendRouting.class)
class RequestDeadlineTest {
    private static final String HEADER = "X-Vouch-Deadline-Ms";
    private static final Duration DEFAULT_DEADLINE = Duration.ofMillis(1500);
    private static final Duration MAX_DEADLINE = Duration.ofMillis(2000);
    // the answer's trip through HTTP and JSON on a busy machine, on top of the deadline
    private static final Duration MARGIN = Duration.ofMillis(1200);

    @TempDir
    static Path dataDir;

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry registry) {
        registry.add("vouch.grpc.port", () -> "0");
        registry.add("vouch.data-dir", () -> dataDir.toString());
        registry.add("vouch.limits.default-deadline", () -> DEFAULT_DEADLINE.toMillis() + "ms");
        registry.add("vouch.limits.max-deadline", () -> MAX_DEADLINE.toMillis() + "ms");
    }

    @Autowired
    WebTestClient client;

    @Autowired
    HeldBackend backend;

    @Autowired
    JsonMapper json;

    @BeforeEach
    void reset() {
        backend.reset();
    }

    @Test
    void hangingBackendIsUnknownWithinTheDeadline() {
        Digest slow = backend.hangingAction("slow");

        Timed<JsonNode> answer = timed(() -> postOk(body(slow), "800"));

        JsonNode result = answer.value().get("results").get(0);
        assertThat(result.get("verdict").asString()).isEqualTo("UNKNOWN");
        assertThat(result.get("reason").asString()).isEqualTo("deadline exceeded");
        assertThat(answer.elapsed()).isLessThan(Duration.ofMillis(800).plus(MARGIN));
        // the lookup nobody waits for any more was cancelled, not left running
        await().atMost(Duration.ofSeconds(5)).until(() -> backend.cancelled() == 1);
    }

    @Test
    void fastActionsKeepTheirVerdictsWhileOneHangs() {
        Digest hit = backend.hitAction("hit");
        Digest slow = backend.hangingAction("slow");
        Digest miss = HeldBackend.actionDigest("never stored");

        JsonNode results = postOk(body(hit, slow, miss), "800").get("results");

        assertThat(List.of(results.get(0).get("verdict").asString(), results.get(1).get("verdict").asString(),
                results.get(2).get("verdict").asString())).containsExactly("HIT", "UNKNOWN", "MISS");
        assertThat(results.get(1).get("reason").asString()).isEqualTo("deadline exceeded");
    }

    @Test
    void streamedAnswerKeepsDecidedLinesAndEndsAtTheDeadline() {
        Digest hit = backend.hitAction("hit");
        Digest slow = backend.hangingAction("slow");

        Timed<List<JsonNode>> answer = timed(() -> client.post().uri("/v1/validate")
                .contentType(MediaType.APPLICATION_JSON)
                .accept(MediaType.APPLICATION_NDJSON)
                .header(HEADER, "800")
                .bodyValue(body(slow, hit))
                .exchange()
                .expectStatus().isOk()
                .returnResult(String.class).getResponseBody()
                .map(json::readTree)
                .collectList()
                .block(Duration.ofSeconds(10)));

        assertThat(answer.value()).hasSize(2);
        JsonNode first = answer.value().get(0);
        assertThat(first.get("index").asInt()).isEqualTo(1);
        assertThat(first.get("verdict").asString()).isEqualTo("HIT");
        JsonNode last = answer.value().get(1);
        assertThat(last.get("index").asInt()).isEqualTo(0);
        assertThat(last.get("reason").asString()).isEqualTo("deadline exceeded");
        assertThat(answer.elapsed()).isLessThan(Duration.ofMillis(800).plus(MARGIN));
    }

    @Test
    void singleActionHonoursTheHeader() {
        Digest slow = backend.hangingAction("slow");

        Timed<JsonNode> answer = timed(() -> json.readTree(client.get()
                .uri("/v1/actions/{hash}/{size}", slow.hash(), slow.sizeBytes())
                .header(HEADER, "500")
                .exchange()
                .expectStatus().isOk()
                .expectBody().returnResult().getResponseBody()));

        assertThat(answer.value().get("verdict").asString()).isEqualTo("UNKNOWN");
        assertThat(answer.value().get("reason").asString()).isEqualTo("deadline exceeded");
        assertThat(answer.elapsed()).isLessThan(Duration.ofMillis(500).plus(MARGIN));
    }

    @Test
    void withoutTheHeaderTheDefaultDeadlineApplies() {
        Digest slow = backend.hangingAction("slow");

        Timed<JsonNode> answer = timed(() -> postOk(body(slow), null));

        assertThat(answer.value().get("results").get(0).get("reason").asString()).isEqualTo("deadline exceeded");
        // lookups are given up at three quarters of the deadline, so the rest can still be checked
        assertThat(answer.elapsed()).isBetween(DEFAULT_DEADLINE.multipliedBy(3).dividedBy(4), DEFAULT_DEADLINE.plus(MARGIN));
    }

    @Test
    void headerAboveTheMaximumIsCutToIt() {
        Digest slow = backend.hangingAction("slow");

        Timed<JsonNode> answer = timed(() -> postOk(body(slow), "600000"));

        assertThat(answer.value().get("results").get(0).get("reason").asString()).isEqualTo("deadline exceeded");
        assertThat(answer.elapsed()).isLessThan(MAX_DEADLINE.plus(MARGIN));
    }

    @ParameterizedTest
    @ValueSource(strings = {"soon", "0", "-5", "1.5", "", "99999999999999999999"})
    void malformedHeader(String value) {
        Digest hit = backend.hitAction("hit");

        byte[] problem = client.post().uri("/v1/validate")
                .contentType(MediaType.APPLICATION_JSON)
                .header(HEADER, value)
                .bodyValue(body(hit))
                .exchange()
                .expectStatus().isBadRequest()
                .expectHeader().contentTypeCompatibleWith(MediaType.APPLICATION_PROBLEM_JSON)
                .expectBody().returnResult().getResponseBody();

        JsonNode detail = json.readTree(problem);
        assertThat(detail.get("field").asString()).isEqualTo(HEADER);
        assertThat(detail.get("detail").asString()).contains(HEADER);
        assertThat(backend.lookupsStarted()).isZero();
    }

    @Test
    void malformedHeaderOnSingleAction() {
        Digest hit = backend.hitAction("hit");

        client.get().uri("/v1/actions/{hash}/{size}", hit.hash(), hit.sizeBytes())
                .header(HEADER, "later")
                .exchange()
                .expectStatus().isBadRequest()
                .expectBody().jsonPath("$.field").isEqualTo(HEADER);
        assertThat(backend.lookupsStarted()).isZero();
    }

    // --- helpers

    private JsonNode postOk(String body, String deadlineMillis) {
        WebTestClient.RequestBodySpec request = client.post().uri("/v1/validate")
                .contentType(MediaType.APPLICATION_JSON);
        if (deadlineMillis != null) {
            request.header(HEADER, deadlineMillis);
        }
        byte[] bytes = request.bodyValue(body).exchange()
                .expectStatus().isOk()
                .expectBody().returnResult().getResponseBody();
        return json.readTree(bytes);
    }

    private static String body(Digest... actions) {
        StringBuilder body = new StringBuilder("{\"actions\": [");
        for (int i = 0; i < actions.length; i++) {
            body.append(i == 0 ? "" : ", ").append('"').append(actions[i].hash()).append('/')
                    .append(actions[i].sizeBytes()).append('"');
        }
        return body.append("]}").toString();
    }

    private static <T> Timed<T> timed(java.util.function.Supplier<T> call) {
        long start = System.nanoTime();
        T value = call.get();
        return new Timed<>(value, Duration.ofNanos(System.nanoTime() - start));
    }

    private record Timed<T>(T value, Duration elapsed) {
    }
}
