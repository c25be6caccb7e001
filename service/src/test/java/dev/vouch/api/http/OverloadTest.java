package dev.vouch.api.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.vouch.api.InFlightValidations;
import dev.vouch.digest.Digest;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.boot.webtestclient.autoconfigure.AutoConfigureWebTestClient;
import org.springframework.context.annotation.Import;
import org.springframework.http.HttpHeaders;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;
import org.springframework.web.reactive.function.client.WebClient;
import reactor.core.Disposable;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Past {@code vouch.limits.max-in-flight-validations} the REST API answers 429 with Retry-After
 * at once, the probes stay UP, and every way a request ends (answer, error, client gone) gives its
 * place back. Backend lookups are held open until the test releases them.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
@AutoConfigureWebTestClient
@Import(HeldBackendRouting.class)
class OverloadTest {
    private static final int MAX_IN_FLIGHT = 2;
    private static final Duration WAIT = Duration.ofSeconds(10);

    @TempDir
    static Path dataDir;

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry registry) {
        registry.add("vouch.grpc.port", () -> "0");
        registry.add("vouch.data-dir", () -> dataDir.toString());
        registry.add("vouch.limits.max-in-flight-validations", () -> String.valueOf(MAX_IN_FLIGHT));
        registry.add("vouch.limits.overload-retry-after", () -> "2500ms");
    }

    @Autowired
    WebTestClient client;

    @Autowired
    HeldBackend backend;

    @Autowired
    InFlightValidations inFlight;

    @Autowired
    JsonMapper json;

    @LocalServerPort
    int port;

    private WebClient http;

    @BeforeEach
    void reset() {
        backend.reset();
        http = WebClient.builder().baseUrl("http://127.0.0.1:" + port)
                .filter(OpenApiContract.shared().filter())
                .build();
    }

    @AfterEach
    void releaseHeldLookups() {
        backend.release();
    }

    @Test
    void pastTheBoundIs429WithRetryAfterAndTheServiceStaysHealthy() {
        Digest action = backend.hitAction("compile");
        backend.hold();
        AtomicReference<ResponseEntity<String>> first = new AtomicReference<>();
        AtomicReference<ResponseEntity<String>> second = new AtomicReference<>();
        post(action, MediaType.APPLICATION_JSON).subscribe(first::set);
        post(action, MediaType.APPLICATION_JSON).subscribe(second::set);
        await().atMost(WAIT).until(() -> backend.lookupsStarted() == MAX_IN_FLIGHT);

        byte[] refused = client.post().uri("/v1/validate").contentType(MediaType.APPLICATION_JSON)
                .bodyValue(body(action))
                .exchange()
                .expectStatus().isEqualTo(429)
                .expectHeader().valueEquals(HttpHeaders.RETRY_AFTER, "3")
                .expectHeader().contentTypeCompatibleWith(MediaType.APPLICATION_PROBLEM_JSON)
                .expectBody().returnResult().getResponseBody();
        JsonNode problem = json.readTree(refused);
        assertThat(problem.get("status").asInt()).isEqualTo(429);
        assertThat(problem.get("type").asString()).isEqualTo("urn:vouch:problem:overloaded");
        assertThat(problem.get("detail").asString()).contains("vouch.limits.max-in-flight-validations");
        client.get().uri("/v1/actions/{hash}/{size}", action.hash(), action.sizeBytes()).exchange()
                .expectStatus().isEqualTo(429)
                .expectHeader().exists(HttpHeaders.RETRY_AFTER);
        // the refused requests never reached the engine
        assertThat(backend.lookupsStarted()).isEqualTo(MAX_IN_FLIGHT);
        client.get().uri("/actuator/health/liveness").exchange()
                .expectStatus().isOk().expectBody().jsonPath("$.status").isEqualTo("UP");
        client.get().uri("/actuator/health/readiness").exchange()
                .expectStatus().isOk().expectBody().jsonPath("$.status").isEqualTo("UP");

        backend.release();

        await().atMost(WAIT).until(() -> first.get() != null && second.get() != null);
        for (ResponseEntity<String> held : List.of(first.get(), second.get())) {
            assertThat(held.getStatusCode().value()).isEqualTo(200);
            assertThat(json.readTree(held.getBody()).get("results").get(0).get("verdict").asString()).isEqualTo("HIT");
        }
        assertHitAccepted(action);
    }

    @Test
    void clientThatDisconnectsGivesItsPlaceBack() {
        Digest action = backend.hitAction("compile");
        backend.hold();
        Disposable json = post(action, MediaType.APPLICATION_JSON).subscribe();
        Disposable streamed = post(action, MediaType.APPLICATION_NDJSON).subscribe();
        await().atMost(WAIT).until(() -> backend.lookupsStarted() == MAX_IN_FLIGHT);
        assertThat(inFlight.inFlight()).isEqualTo(MAX_IN_FLIGHT);

        json.dispose();
        streamed.dispose();

        // the server sees the connections close and cancels the validations, backend calls included
        await().atMost(WAIT).untilAsserted(() -> assertThat(inFlight.inFlight()).as("in flight, with %s cancelled",
                backend.cancelled()).isZero());
        await().atMost(WAIT).until(() -> backend.cancelled() == MAX_IN_FLIGHT);
        backend.release();
        assertHitAccepted(action);
        assertHitAccepted(action);
    }

    @Test
    void refusedRequestsDoNotHoldPlaces() {
        Digest action = backend.hitAction("compile");

        client.post().uri("/v1/validate").contentType(MediaType.APPLICATION_JSON).bodyValue("{\"actions\": 7}")
                .exchange().expectStatus().isBadRequest();
        client.post().uri("/v1/validate").contentType(MediaType.APPLICATION_JSON).bodyValue("{not json")
                .exchange().expectStatus().isBadRequest();

        assertThat(inFlight.inFlight()).isZero();
        assertHitAccepted(action);
    }

    @Test
    void streamedAnswerReleasesAfterItsLastLine() {
        Digest action = backend.hitAction("compile");

        for (int i = 0; i < MAX_IN_FLIGHT + 1; i++) {
            List<String> lines = client.post().uri("/v1/validate").contentType(MediaType.APPLICATION_JSON)
                    .accept(MediaType.APPLICATION_NDJSON)
                    .bodyValue(body(action))
                    .exchange()
                    .expectStatus().isOk()
                    .returnResult(String.class).getResponseBody()
                    .collectList().block(WAIT);
            assertThat(lines).singleElement().satisfies(line -> assertThat(line).contains("\"HIT\""));
        }
        await().atMost(WAIT).until(() -> inFlight.inFlight() == 0);
    }

    // --- helpers

    private reactor.core.publisher.Mono<ResponseEntity<String>> post(Digest action, MediaType accept) {
        return http.post().uri("/v1/validate")
                .contentType(MediaType.APPLICATION_JSON)
                .accept(accept)
                .bodyValue(body(action))
                .retrieve()
                .toEntity(String.class);
    }

    private void assertHitAccepted(Digest action) {
        client.post().uri("/v1/validate").contentType(MediaType.APPLICATION_JSON).bodyValue(body(action))
                .exchange()
                .expectStatus().isOk()
                .expectBody().jsonPath("$.results[0].verdict").isEqualTo("HIT");
    }

    private static String body(Digest action) {
        return "{\"actions\": [\"" + action.hash() + "/" + action.sizeBytes() + "\"]}";
    }
}
