package dev.vouch.api.http;

import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.OutputDirectory;
import build.bazel.remote.execution.v2.OutputFile;
import dev.vouch.VouchApplication;
import dev.vouch.api.InFlightValidations;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.validation.ActionVerdict;
import dev.vouch.validation.BlobKind;
import dev.vouch.validation.BlobProblem;
import dev.vouch.validation.Verdict;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.availability.AvailabilityChangeEvent;
import org.springframework.boot.availability.LivenessState;
import org.springframework.boot.availability.ReadinessState;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.context.TestConfiguration;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ApplicationContext;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Primary;
import org.springframework.http.HttpHeaders;
import org.springframework.http.MediaType;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;
import reactor.core.publisher.Flux;

/**
 * Provokes every response {@code api-spec/openapi.yaml} declares, each checked against it by a
 * contract of this class's own, and then asks that none was left unseen: the document holds no
 * response the service does not give. (Every other REST test's responses are checked by the
 * shared contract; this class is what makes the document's list complete.)
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class OpenApiContractTest {
    private static final OpenApiContract CONTRACT = OpenApiContract.load();
    private static final int MAX_REQUEST_BYTES = 4096;

    @TempDir
    static Path dataDir;

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry registry) {
        registry.add("vouch.grpc.port", () -> "0");
        registry.add("vouch.data-dir", () -> dataDir.toString());
        registry.add("vouch.limits.max-actions", () -> "5");
        registry.add("vouch.limits.max-request-bytes", () -> String.valueOf(MAX_REQUEST_BYTES));
        registry.add("vouch.limits.max-in-flight-validations", () -> "1");
        registry.add("vouch.limits.overload-retry-after", () -> "2s");
    }

    @TestConfiguration
    static class StubValidator {
        @Bean
        @Primary
        ScriptedValidator scriptedValidator() {
            return new ScriptedValidator();
        }
    }

    @Autowired
    ScriptedValidator validator;

    @Autowired
    InFlightValidations inFlight;

    @Autowired
    ApplicationContext context;

    @LocalServerPort
    int port;

    private WebTestClient client;

    private static final Digest A = DigestFunction.SHA256.digestOf("a".getBytes(StandardCharsets.UTF_8));
    private static final Digest B = DigestFunction.SHA256.digestOf("b".getBytes(StandardCharsets.UTF_8));
    private static final Digest C = DigestFunction.SHA256.digestOf("c".getBytes(StandardCharsets.UTF_8));
    private static final Digest D = DigestFunction.SHA256.digestOf("d".getBytes(StandardCharsets.UTF_8));

    @BeforeEach
    void setUp() {
        validator.reset();
        client = WebTestClient.bindToServer()
                .baseUrl("http://127.0.0.1:" + port)
                .filter(CONTRACT.filter())
                .responseTimeout(Duration.ofSeconds(20))
                .build();
    }

    // ---- POST /v1/validate and GET /v1/actions/{hash}/{sizeBytes} -------------------------

    @Test
    void everyVerdictAsJsonAndAsNdjson() {
        validator.answer(request -> Flux.just(
                new ActionVerdict(0, A, Verdict.HIT, "embedded", 4, 300, List.of(), List.of(), null, 1.5,
                        request.includeActionResult() ? actionResult() : null),
                new ActionVerdict(1, B, Verdict.PARTIAL, "embedded", 3, 200,
                        List.of(new BlobProblem(C, BlobKind.OUTPUT_DIRECTORY_FILE, List.of("out/dir/a.o")),
                                new BlobProblem(D, BlobKind.STDERR, List.of())),
                        List.of(new BlobProblem(A, BlobKind.OUTPUT_FILE, List.of("out/a", "out/b"))), null, 2.0,
                        null),
                ScriptedValidator.verdict(2, C, Verdict.MISS),
                ScriptedValidator.verdict(3, D, Verdict.UNKNOWN)));
        String body = "{\"mode\": \"FETCH\", \"includeActionResult\": true, \"actions\": [" + action(A) + ", "
                + action(B) + ", \"" + C.hash() + "/" + C.sizeBytes() + "\", " + action(D) + "]}";

        client.post().uri("/v1/validate").contentType(MediaType.APPLICATION_JSON).bodyValue(body).exchange()
                .expectStatus().isOk()
                .expectBody()
                .jsonPath("$.results[0].actionResult.outputFiles[0].path").isEqualTo("out/tool")
                .jsonPath("$.results[1].corrupt[0].kind").isEqualTo("OUTPUT_FILE")
                .jsonPath("$.summary.PARTIAL").isEqualTo(1);
        List<String> lines = client.post().uri("/v1/validate").contentType(MediaType.APPLICATION_JSON)
                .accept(MediaType.APPLICATION_NDJSON).bodyValue(body).exchange()
                .expectStatus().isOk()
                .returnResult(String.class).getResponseBody()
                .collectList().block(Duration.ofSeconds(10));
        assertThat(lines).hasSize(4);
    }

    @Test
    void singleAction() {
        client.get().uri("/v1/actions/{hash}/{size}?includeActionResult=true", A.hash(), A.sizeBytes()).exchange()
                .expectStatus().isOk()
                .expectBody().jsonPath("$.verdict").isEqualTo("HIT");
        client.get().uri("/v1/actions/{hash}/{size}", A.hash().substring(2), A.sizeBytes()).exchange()
                .expectStatus().isBadRequest()
                .expectBody().jsonPath("$.field").isEqualTo("hash");
    }

    @Test
    void refusals() {
        post("{\"mode\": \"FAST\", \"actions\": [{\"hash\": \"XYZ\", \"sizeBytes\": -1}]}")
                .expectStatus().isBadRequest()
                .expectBody().jsonPath("$.type").isEqualTo("urn:vouch:problem:invalid-request")
                .jsonPath("$.errors.length()").isEqualTo(3);
        post("{\"actions\": [")
                .expectStatus().isBadRequest()
                .expectBody().jsonPath("$.type").isEqualTo("urn:vouch:problem:malformed-json");
        client.post().uri("/v1/validate").contentType(MediaType.APPLICATION_JSON)
                .header("X-Vouch-Deadline-Ms", "soon").bodyValue("{\"actions\": [" + action(A) + "]}").exchange()
                .expectStatus().isBadRequest()
                .expectBody().jsonPath("$.field").isEqualTo("X-Vouch-Deadline-Ms");
        post("{\"padding\": \"" + "x".repeat(MAX_REQUEST_BYTES) + "\"}")
                .expectStatus().isEqualTo(413)
                .expectHeader().valueEquals(HttpHeaders.CONNECTION, "close")
                .expectBody().jsonPath("$.type").isEqualTo("urn:vouch:problem:body-too-large");
        client.post().uri("/v1/validate").contentType(MediaType.TEXT_PLAIN).bodyValue("{}").exchange()
                .expectStatus().isEqualTo(415)
                .expectBody().jsonPath("$.type").isEqualTo("urn:vouch:problem:unsupported-media-type");
        assertThat(validator.calls()).isZero();
    }

    @Test
    void overloaded() {
        InFlightValidations.Permit taken = inFlight.acquire();
        try {
            post("{\"actions\": [" + action(A) + "]}")
                    .expectStatus().isEqualTo(429)
                    .expectHeader().valueEquals(HttpHeaders.RETRY_AFTER, "2")
                    .expectBody().jsonPath("$.type").isEqualTo("urn:vouch:problem:overloaded");
            client.get().uri("/v1/actions/{hash}/{size}", A.hash(), A.sizeBytes()).exchange()
                    .expectStatus().isEqualTo(429);
        } finally {
            taken.release();
        }
    }

    @Test
    void unexpectedFailure() {
        validator.answer(request -> Flux.error(new IllegalStateException("internals")));
        post("{\"actions\": [" + action(A) + "]}")
                .expectStatus().isEqualTo(500)
                .expectBody().jsonPath("$.type").isEqualTo("urn:vouch:problem:internal-error");
        client.get().uri("/v1/actions/{hash}/{size}", A.hash(), A.sizeBytes()).exchange()
                .expectStatus().isEqualTo(500);
    }

    // ---- actuator -----------------------------------------------------------------------------

    @Test
    void probesAndHealthUpAndDown() {
        for (String path : List.of("/actuator/health/liveness", "/actuator/health/readiness", "/actuator/health")) {
            client.get().uri(path).exchange().expectStatus().isOk();
            client.get().uri(path).accept(MediaType.APPLICATION_JSON).exchange().expectStatus().isOk();
        }
        AvailabilityChangeEvent.publish(context, LivenessState.BROKEN);
        AvailabilityChangeEvent.publish(context, ReadinessState.REFUSING_TRAFFIC);
        try {
            for (String path : List.of("/actuator/health/liveness", "/actuator/health/readiness", "/actuator/health")) {
                client.get().uri(path).exchange().expectStatus().isEqualTo(503);
                client.get().uri(path).accept(MediaType.APPLICATION_JSON).exchange().expectStatus().isEqualTo(503);
            }
        } finally {
            AvailabilityChangeEvent.publish(context, LivenessState.CORRECT);
            AvailabilityChangeEvent.publish(context, ReadinessState.ACCEPTING_TRAFFIC);
        }
    }

    @Test
    void infoAndMetrics() {
        client.get().uri("/actuator/info").exchange().expectStatus().isOk();
        client.get().uri("/actuator/info").accept(MediaType.APPLICATION_JSON).exchange().expectStatus().isOk();
        client.get().uri("/actuator/prometheus").exchange().expectStatus().isOk()
                .expectBody(String.class).value(text -> assertThat(text).contains("vouch_validations_in_flight"));
        client.get().uri("/actuator/prometheus").accept(MediaType.parseMediaType("application/openmetrics-text"))
                .exchange().expectStatus().isOk()
                .expectBody(String.class).value(text -> assertThat(text).endsWith("# EOF\n"));
    }

    // ---- requests no operation takes, and refusals before any routing ----------------------

    @Test
    void unknownPathAndMethod() {
        client.get().uri("/v2/validate").exchange().expectStatus().isNotFound();
        client.get().uri("/v1/validate").exchange().expectStatus().isEqualTo(405)
                .expectHeader().exists(HttpHeaders.ALLOW);
    }

    /**
     * What every operation may answer whatever it does, sent to each operation the document
     * declares it for (and to a path it does not know): the connection guard's refusals before
     * any routing (an undecodable target: 400, a request line over 4 KiB: 414, headers over
     * 8 KiB: 431) and Spring's 406 for an {@code Accept} the operation cannot satisfy.
     */
    @Test
    void refusalsOfEveryOperation() throws IOException {
        Set<String> sent = new TreeSet<>();
        for (OpenApiContract.Key key : CONTRACT.declared()) {
            String query = switch (key.status()) {
                case "400" -> "?q=%zz";
                case "414" -> "?q=" + "a".repeat(9000);
                case "406", "431" -> "";
                default -> null;
            };
            if (query == null) {
                continue;
            }
            String header = switch (key.status()) {
                case "406" -> "Accept: text/csv\r\n";
                case "431" -> "X-Big: " + "a".repeat(20_000) + "\r\n";
                default -> "";
            };
            String[] operation = key.operation().equals(OpenApiContract.UNROUTED)
                    ? new String[] {"GET", "/no/such/path"} : key.operation().split(" ");
            try (RawHttp http = RawHttp.connect(port, Duration.ofSeconds(10), CONTRACT)) {
                RawHttp.Response response = http.send(operation[0] + " " + concrete(operation[1]) + query
                        + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n" + header + "\r\n").read();
                assertThat(response.status()).as(key.toString()).isEqualTo(Integer.parseInt(key.status()));
            }
            sent.add(key.operation() + " " + key.status());
        }
        assertThat(sent).contains("GET /actuator/health/liveness 431", OpenApiContract.UNROUTED + " 414");
    }

    /**
     * The refusals of {@code vouch.auth.enabled}, from a second Vouch with auth on (this class's own
     * has it off, as every other test does): 401 before routing, on every operation but the probes
     * and the scrape, and 403 for an identity without {@code validate}.
     */
    @Test
    @Order(Integer.MAX_VALUE - 1)
    void authenticationRefusals() {
        String token = "0123456789abcdef0123456789abcdef";
        // command-line arguments: builder properties are defaults, which application.yaml's server.port 8080 outranks
        try (ConfigurableApplicationContext secured = new SpringApplicationBuilder(VouchApplication.class).run(
                "--server.port=0", "--vouch.grpc.port=0", "--vouch.data-dir=" + dataDir.resolve("secured"),
                "--vouch.auth.enabled=true", "--vouch.auth.tokens[0].name=reader",
                "--vouch.auth.tokens[0].sha256=" + DigestFunction.SHA256.digestOf(token.getBytes(StandardCharsets.UTF_8)).hash(),
                "--vouch.auth.tokens[0].instance-patterns[0]=.*", "--vouch.auth.tokens[0].rights[0]=read")) {
            WebTestClient securedClient = WebTestClient.bindToServer()
                    .baseUrl("http://127.0.0.1:" + secured.getEnvironment().getProperty("local.server.port"))
                    .filter(CONTRACT.filter())
                    .responseTimeout(Duration.ofSeconds(20))
                    .build();
            for (String path : List.of("/actuator/health", "/actuator/info", "/no/such/path",
                    "/v1/actions/" + A.hash() + "/" + A.sizeBytes())) {
                securedClient.get().uri(path).exchange().expectStatus().isUnauthorized();
            }
            securedClient.post().uri("/v1/validate").contentType(MediaType.APPLICATION_JSON)
                    .bodyValue("{\"actions\": [" + action(A) + "]}").exchange().expectStatus().isUnauthorized();
            securedClient.post().uri("/v1/validate").contentType(MediaType.APPLICATION_JSON)
                    .header(HttpHeaders.AUTHORIZATION, "Bearer " + token)
                    .bodyValue("{\"actions\": [" + action(A) + "]}").exchange().expectStatus().isForbidden();
            securedClient.get().uri("/v1/actions/" + A.hash() + "/" + A.sizeBytes())
                    .header(HttpHeaders.AUTHORIZATION, "Bearer " + token).exchange().expectStatus().isForbidden();
            securedClient.get().uri("/actuator/health/liveness").exchange().expectStatus().isOk();
        }
    }

    /** Runs last: every response the document declares was given by the service and checked above. */
    @Test
    @Order(Integer.MAX_VALUE)
    void everyDeclaredResponseWasSeen() {
        Set<OpenApiContract.Key> unseen = new TreeSet<>(CONTRACT.declared());
        unseen.removeAll(CONTRACT.seen());
        assertThat(unseen).as("responses declared in %s that no test of this class produced",
                OpenApiContract.DOCUMENT).isEmpty();
    }

    // ---- helpers ------------------------------------------------------------------------------

    private WebTestClient.ResponseSpec post(String body) {
        return client.post().uri("/v1/validate").contentType(MediaType.APPLICATION_JSON).bodyValue(body).exchange();
    }

    private static String action(Digest d) {
        return "{\"hash\": \"" + d.hash() + "\", \"sizeBytes\": " + d.sizeBytes() + "}";
    }

    /** A request path for a path template, with valid values for its parameters. */
    private static String concrete(String template) {
        return template.replace("{hash}", A.hash()).replace("{sizeBytes}", String.valueOf(A.sizeBytes()));
    }

    private static ActionResult actionResult() {
        return ActionResult.newBuilder()
                .addOutputFiles(OutputFile.newBuilder().setPath("out/tool").setDigest(B.toProto()).setIsExecutable(true))
                .addOutputDirectories(OutputDirectory.newBuilder().setPath("out/dir").setTreeDigest(C.toProto()))
                .setStdoutDigest(D.toProto())
                .setExitCode(0)
                .build();
    }
}
