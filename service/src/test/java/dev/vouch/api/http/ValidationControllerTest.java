package dev.vouch.api.http;

import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.OutputFile;
import dev.vouch.backend.Scope;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.validation.ActionVerdict;
import dev.vouch.validation.BlobKind;
import dev.vouch.validation.BlobProblem;
import dev.vouch.validation.Mode;
import dev.vouch.validation.Verdict;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.context.TestConfiguration;
import org.springframework.boot.webtestclient.autoconfigure.AutoConfigureWebTestClient;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Primary;
import org.springframework.core.ParameterizedTypeReference;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DefaultDataBufferFactory;
import org.springframework.http.MediaType;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;
import org.springframework.web.reactive.function.BodyInserters;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Sinks;
import reactor.test.StepVerifier;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
@AutoConfigureWebTestClient
class ValidationControllerTest {
    private static final int MAX_ACTIONS = 5;
    private static final int MAX_REQUEST_BYTES = 4096;

    @TempDir
    static Path dataDir;

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry registry) {
        registry.add("vouch.grpc.port", () -> "0");
        registry.add("vouch.data-dir", () -> dataDir.toString());
        registry.add("vouch.limits.max-actions", () -> String.valueOf(MAX_ACTIONS));
        registry.add("vouch.limits.max-request-bytes", () -> String.valueOf(MAX_REQUEST_BYTES));
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
    WebTestClient client;

    @Autowired
    ScriptedValidator validator;

    @Autowired
    JsonMapper json;

    @BeforeEach
    void resetValidator() {
        validator.reset();
    }

    private static Digest digestOf(String content) {
        return DigestFunction.SHA256.digestOf(content.getBytes(StandardCharsets.UTF_8));
    }

    private static final Digest A = digestOf("a");
    private static final Digest B = digestOf("b");
    private static final Digest C = digestOf("c");

    private static String action(Digest d) {
        return "{\"hash\": \"" + d.hash() + "\", \"sizeBytes\": " + d.sizeBytes() + "}";
    }

    private WebTestClient.ResponseSpec post(String body) {
        return client.post().uri("/v1/validate").contentType(MediaType.APPLICATION_JSON).bodyValue(body).exchange();
    }

    private JsonNode postOk(String body) {
        byte[] bytes = post(body).expectStatus().isOk()
                .expectHeader().contentTypeCompatibleWith(MediaType.APPLICATION_JSON)
                .expectBody().returnResult().getResponseBody();
        return json.readTree(bytes);
    }

    /** A 400 (or other) problem that names {@code field}, and a validator that was never asked. */
    private JsonNode expectProblem(WebTestClient.ResponseSpec response, int status, String field) {
        byte[] bytes = response.expectStatus().isEqualTo(status)
                .expectHeader().contentTypeCompatibleWith(MediaType.APPLICATION_PROBLEM_JSON)
                .expectBody().returnResult().getResponseBody();
        JsonNode problem = json.readTree(bytes);
        assertThat(problem.get("status").asInt()).isEqualTo(status);
        assertThat(problem.get("type").asString()).startsWith("urn:vouch:problem:");
        assertThat(problem.get("title").asString()).isNotBlank();
        assertThat(problem.get("detail").asString()).contains(field);
        if (status == 400 && !field.isEmpty()) {
            assertThat(problem.get("field").asString()).isEqualTo(field);
        }
        assertThat(validator.calls()).as("validator calls").isZero();
        return problem;
    }

    // ---- answers -------------------------------------------------------------------------------

    @Test
    void resultsInRequestOrderWithExactShape() {
        validator.answer(request -> Flux.just(
                ScriptedValidator.verdict(2, C, Verdict.MISS),
                new ActionVerdict(1, B, Verdict.PARTIAL, "embedded", 3, 1048576,
                        List.of(new BlobProblem(new Digest("0".repeat(64), 10), BlobKind.OUTPUT_FILE,
                                List.of("bazel-out/k8-fastbuild/bin/a.o"))),
                        List.of(), null, 3.2, null),
                ScriptedValidator.verdict(3, A, Verdict.UNKNOWN),
                ScriptedValidator.verdict(0, A, Verdict.HIT)));

        JsonNode body = postOk("{\"actions\": [" + action(A) + "," + action(B) + "," + action(C) + "," + action(A)
                + "]}");

        assertThat(names(body)).containsExactly("results", "summary");
        JsonNode results = body.get("results");
        assertThat(results.size()).isEqualTo(4);
        assertThat(IntStream.range(0, 4).mapToObj(i -> results.get(i).get("verdict").asString()))
                .containsExactly("HIT", "PARTIAL", "MISS", "UNKNOWN");
        assertThat(IntStream.range(0, 4).mapToObj(i -> results.get(i).get("action").get("hash").asString()))
                .containsExactly(A.hash(), B.hash(), C.hash(), A.hash());

        JsonNode partial = results.get(1);
        assertThat(names(partial)).containsExactly("action", "verdict", "backend", "blobsReferenced",
                "bytesReferenced", "missing", "corrupt", "reason", "elapsedMillis", "actionResult");
        assertThat(partial.get("action").get("sizeBytes").isIntegralNumber()).isTrue();
        assertThat(partial.get("action").get("sizeBytes").asLong()).isEqualTo(1);
        assertThat(partial.get("backend").asString()).isEqualTo("embedded");
        assertThat(partial.get("blobsReferenced").asLong()).isEqualTo(3);
        assertThat(partial.get("bytesReferenced").asLong()).isEqualTo(1048576);
        JsonNode missing = partial.get("missing").get(0);
        assertThat(names(missing)).containsExactly("hash", "sizeBytes", "kind", "paths");
        assertThat(missing.get("hash").asString()).isEqualTo("0".repeat(64));
        assertThat(missing.get("sizeBytes").isIntegralNumber()).isTrue();
        assertThat(missing.get("kind").asString()).isEqualTo("OUTPUT_FILE");
        assertThat(missing.get("paths").get(0).asString()).isEqualTo("bazel-out/k8-fastbuild/bin/a.o");
        assertThat(partial.get("corrupt").isArray()).isTrue();
        assertThat(partial.get("corrupt").isEmpty()).isTrue();
        assertThat(partial.get("reason").isNull()).isTrue();
        assertThat(partial.get("actionResult").isNull()).isTrue();
        assertThat(partial.get("elapsedMillis").isNumber()).isTrue();
        assertThat(partial.get("elapsedMillis").asDouble()).isEqualTo(3.2);
        assertThat(results.get(3).get("reason").asString()).isEqualTo("backend unavailable");

        JsonNode summary = body.get("summary");
        assertThat(names(summary)).containsExactly("HIT", "MISS", "PARTIAL", "UNKNOWN");
        assertThat(List.of(summary.get("HIT").asInt(), summary.get("MISS").asInt(), summary.get("PARTIAL").asInt(),
                summary.get("UNKNOWN").asInt())).containsExactly(1, 1, 1, 1);
    }

    @Test
    void summaryCountsEveryVerdictKeyEvenWhenZero() {
        post("{\"actions\": [" + action(A) + "," + action(B) + "," + action(A) + "]}")
                .expectStatus().isOk()
                .expectBody()
                .jsonPath("$.summary.HIT").isEqualTo(3)
                .jsonPath("$.summary.MISS").isEqualTo(0)
                .jsonPath("$.summary.PARTIAL").isEqualTo(0)
                .jsonPath("$.summary.UNKNOWN").isEqualTo(0)
                .jsonPath("$.results.length()").isEqualTo(3)
                .jsonPath("$.results[2].action.hash").isEqualTo(A.hash());
    }

    @Test
    void defaultsAndExplicitFieldsReachTheValidator() {
        postOk("{\"actions\": [" + action(A) + "]}");
        assertThat(validator.lastRequest().scope()).isEqualTo(new Scope("", DigestFunction.SHA256));
        assertThat(validator.lastRequest().mode()).isEqualTo(Mode.EXISTENCE);
        assertThat(validator.lastRequest().includeActionResult()).isFalse();

        String sha1 = "a".repeat(40);
        postOk("{\"instanceName\": \"ci/main\", \"digestFunction\": \"SHA1\", \"mode\": \"FETCH\","
                + " \"includeActionResult\": true, \"someFutureField\": {\"x\": 1},"
                + " \"actions\": [{\"hash\": \"" + sha1 + "\", \"sizeBytes\": 7}]}");
        assertThat(validator.lastRequest().scope()).isEqualTo(new Scope("ci/main", DigestFunction.SHA1));
        assertThat(validator.lastRequest().mode()).isEqualTo(Mode.FETCH);
        assertThat(validator.lastRequest().includeActionResult()).isTrue();
        assertThat(validator.lastRequest().actions()).containsExactly(new Digest(sha1, 7));
    }

    @Test
    void stringActionForm() {
        post("{\"actions\": [\"" + A.hash() + "/" + A.sizeBytes() + "\", " + action(B) + "]}")
                .expectStatus().isOk()
                .expectBody()
                .jsonPath("$.results[0].action.hash").isEqualTo(A.hash())
                .jsonPath("$.results[0].action.sizeBytes").isEqualTo(1)
                .jsonPath("$.results[1].action.hash").isEqualTo(B.hash());
        assertThat(validator.lastRequest().actions()).containsExactly(A, B);
    }

    @Test
    void includeActionResultEmbedsProto3Json() {
        ActionResult entry = ActionResult.newBuilder()
                .addOutputFiles(OutputFile.newBuilder()
                        .setPath("bin/tool").setDigest(B.toProto()).setIsExecutable(true))
                .setExitCode(0)
                .build();
        validator.answer(request -> Flux.just(new ActionVerdict(0, A, Verdict.HIT, "embedded", 1, 1, List.of(),
                List.of(), null, 0.5, request.includeActionResult() ? entry : null)));

        post("{\"includeActionResult\": true, \"actions\": [" + action(A) + "]}")
                .expectStatus().isOk()
                .expectBody()
                .jsonPath("$.results[0].actionResult.outputFiles[0].path").isEqualTo("bin/tool")
                .jsonPath("$.results[0].actionResult.outputFiles[0].digest.hash").isEqualTo(B.hash())
                // proto3 JSON writes int64 as a string
                .jsonPath("$.results[0].actionResult.outputFiles[0].digest.sizeBytes").isEqualTo("1")
                .jsonPath("$.results[0].actionResult.outputFiles[0].isExecutable").isEqualTo(true);
    }

    @Test
    void missingVerdictBecomesUnknownNeverHit() {
        validator.answer(request -> Flux.just(ScriptedValidator.verdict(1, B, Verdict.HIT)));

        post("{\"actions\": [" + action(A) + "," + action(B) + "]}")
                .expectStatus().isOk()
                .expectBody()
                .jsonPath("$.results[0].verdict").isEqualTo("UNKNOWN")
                .jsonPath("$.results[0].reason").isNotEmpty()
                .jsonPath("$.results[1].verdict").isEqualTo("HIT")
                .jsonPath("$.summary.UNKNOWN").isEqualTo(1);
    }

    @Test
    void ndjsonStreamsOneLinePerActionWithIndex() {
        byte[] bytes = client.post().uri("/v1/validate")
                .contentType(MediaType.APPLICATION_JSON)
                .accept(MediaType.APPLICATION_NDJSON)
                .bodyValue("{\"actions\": [" + action(A) + "," + action(B) + "," + action(C) + "]}")
                .exchange()
                .expectStatus().isOk()
                .expectHeader().contentTypeCompatibleWith(MediaType.APPLICATION_NDJSON)
                .expectBody().returnResult().getResponseBody();

        List<JsonNode> lines = new String(bytes, StandardCharsets.UTF_8).lines()
                .filter(line -> !line.isBlank())
                .map(json::readTree)
                .toList();
        assertThat(lines).hasSize(3);
        // decision order (the stub answers last-first), each line saying where it belongs
        assertThat(lines).extracting(line -> line.get("index").asInt()).containsExactly(2, 1, 0);
        assertThat(lines).extracting(line -> line.get("action").get("hash").asString())
                .containsExactly(C.hash(), B.hash(), A.hash());
        assertThat(lines).allSatisfy(line -> {
            assertThat(line.has("summary")).isFalse();
            assertThat(line.has("reason")).isTrue();
            assertThat(line.get("verdict").asString()).isEqualTo("HIT");
        });
    }

    @Test
    void ndjsonSendsEachLineBeforeTheBatchIsDone() {
        Sinks.Many<ActionVerdict> later = Sinks.many().unicast().onBackpressureBuffer();
        validator.answer(request -> Flux.concat(Flux.just(ScriptedValidator.verdict(1, B, Verdict.MISS)),
                later.asFlux()));

        Flux<Map<String, Object>> lines = client.post().uri("/v1/validate")
                .contentType(MediaType.APPLICATION_JSON)
                .accept(MediaType.APPLICATION_NDJSON)
                .bodyValue("{\"actions\": [" + action(A) + "," + action(B) + "]}")
                .exchange()
                .expectStatus().isOk()
                .returnResult(new ParameterizedTypeReference<Map<String, Object>>() { })
                .getResponseBody();

        StepVerifier.create(lines)
                .assertNext(line -> assertThat(line).containsEntry("index", 1).containsEntry("verdict", "MISS"))
                // only now is the first action decided: the line above did not wait for it
                .then(() -> {
                    later.tryEmitNext(ScriptedValidator.verdict(0, A, Verdict.HIT));
                    later.tryEmitComplete();
                })
                .assertNext(line -> assertThat(line).containsEntry("index", 0).containsEntry("verdict", "HIT"))
                .expectComplete()
                .verify(Duration.ofSeconds(10));
    }

    @Test
    void singleActionEndpoint() {
        client.get().uri("/v1/actions/{hash}/{size}?instanceName=ci&mode=FETCH", A.hash(), A.sizeBytes())
                .exchange()
                .expectStatus().isOk()
                .expectHeader().contentTypeCompatibleWith(MediaType.APPLICATION_JSON)
                .expectBody()
                .jsonPath("$.action.hash").isEqualTo(A.hash())
                .jsonPath("$.action.sizeBytes").isEqualTo(1)
                .jsonPath("$.verdict").isEqualTo("HIT")
                .jsonPath("$.summary").doesNotExist()
                .jsonPath("$.index").doesNotExist()
                .jsonPath("$.results").doesNotExist();
        assertThat(validator.lastRequest().scope()).isEqualTo(new Scope("ci", DigestFunction.SHA256));
        assertThat(validator.lastRequest().mode()).isEqualTo(Mode.FETCH);
        assertThat(validator.lastRequest().actions()).containsExactly(A);
    }

    @Test
    void unexpectedFailureIs500WithoutStackTrace() {
        validator.answer(request -> Flux.error(new IllegalStateException("secret internals")));

        JsonNode problem = expectProblemAfterCall(post("{\"actions\": [" + action(A) + "]}"), 500);
        assertThat(problem.toString()).doesNotContain("secret internals").doesNotContain("IllegalStateException")
                .doesNotContain("at dev.vouch");
    }

    private JsonNode expectProblemAfterCall(WebTestClient.ResponseSpec response, int status) {
        byte[] bytes = response.expectStatus().isEqualTo(status)
                .expectHeader().contentTypeCompatibleWith(MediaType.APPLICATION_PROBLEM_JSON)
                .expectBody().returnResult().getResponseBody();
        JsonNode problem = json.readTree(bytes);
        assertThat(problem.get("status").asInt()).isEqualTo(status);
        assertThat(problem.get("title").asString()).isNotBlank();
        assertThat(problem.get("detail").asString()).isNotBlank();
        return problem;
    }

    // ---- refusals: bad input never reaches the validator -------------------------------------

    @Test
    void malformedJson() {
        JsonNode problem = expectProblem(post("{\"actions\": [\n  {\"hash\": }"), 400, "");
        assertThat(problem.get("detail").asString()).contains("not valid JSON").contains("line 2");
    }

    @Test
    void emptyBody() {
        JsonNode problem = expectProblem(client.post().uri("/v1/validate").contentType(MediaType.APPLICATION_JSON)
                .exchange(), 400, "");
        assertThat(problem.get("detail").asString()).contains("empty").contains("actions");
    }

    @Test
    void bodyNotAnObject() {
        JsonNode problem = expectProblem(post("[" + action(A) + "]"), 400, "");
        assertThat(problem.get("detail").asString()).contains("JSON object");
    }

    @Test
    void missingActions() {
        expectProblem(post("{\"mode\": \"EXISTENCE\"}"), 400, "actions");
    }

    @Test
    void actionsNotAnArray() {
        expectProblem(post("{\"actions\": " + action(A) + "}"), 400, "actions");
    }

    @Test
    void emptyActions() {
        expectProblem(post("{\"actions\": []}"), 400, "actions");
    }

    @Test
    void actionNeitherObjectNorString() {
        expectProblem(post("{\"actions\": [" + action(A) + ", 42]}"), 400, "actions[1]");
    }

    @Test
    void malformedShorthand() {
        expectProblem(post("{\"actions\": [\"" + A.hash() + "\"]}"), 400, "actions[0]");
    }

    @Test
    void unknownMode() {
        JsonNode problem = expectProblem(post("{\"mode\": \"FAST\", \"actions\": [" + action(A) + "]}"), 400, "mode");
        assertThat(problem.get("detail").asString()).contains("EXISTENCE").contains("FETCH");
    }

    @Test
    void unknownDigestFunction() {
        JsonNode problem = expectProblem(post("{\"digestFunction\": \"sha256\", \"actions\": [" + action(A) + "]}"),
                400, "digestFunction");
        assertThat(problem.get("detail").asString()).contains("SHA256").contains("SHA1").contains("SHA512");
    }

    @Test
    void wrongHashLengthNamesTheAction() {
        String shortHash = A.hash().substring(1);
        JsonNode problem = expectProblem(post("{\"actions\": [" + action(A) + "," + action(B) + "," + action(C)
                + ", {\"hash\": \"" + shortHash + "\", \"sizeBytes\": 1}]}"), 400, "actions[3].hash");
        assertThat(problem.get("detail").asString()).contains("64");
    }

    @Test
    void hashLengthIsCheckedAgainstTheDigestFunction() {
        expectProblem(post("{\"digestFunction\": \"SHA1\", \"actions\": [" + action(A) + "]}"), 400,
                "actions[0].hash");
    }

    @Test
    void blake3WithSixtyFourHexDigits() {
        Digest blake3 = DigestFunction.BLAKE3.digestOf("cc -c a.c".getBytes(StandardCharsets.UTF_8));
        postOk("{\"digestFunction\": \"BLAKE3\", \"actions\": [" + action(blake3) + "]}");
        assertThat(validator.lastRequest().scope().digestFunction()).isEqualTo(DigestFunction.BLAKE3);
        assertThat(validator.lastRequest().actions()).containsExactly(blake3);
    }

    @Test
    void blake3WithWrongHashLength() {
        JsonNode problem = expectProblem(post("{\"digestFunction\": \"BLAKE3\", \"actions\": [{\"hash\": \""
                + "a".repeat(40) + "\", \"sizeBytes\": 1}]}"), 400, "actions[0].hash");
        assertThat(problem.get("detail").asString()).contains("64");
    }

    @Test
    void unknownDigestFunctionListsBlake3() {
        JsonNode problem = expectProblem(post("{\"digestFunction\": \"blake3\", \"actions\": [" + action(A) + "]}"),
                400, "digestFunction");
        assertThat(problem.get("detail").asString()).contains("BLAKE3");
    }

    @Test
    void uppercaseHex() {
        expectProblem(post("{\"actions\": [{\"hash\": \"" + A.hash().toUpperCase() + "\", \"sizeBytes\": 1}]}"), 400,
                "actions[0].hash");
    }

    @Test
    void negativeSize() {
        expectProblem(post("{\"actions\": [{\"hash\": \"" + A.hash() + "\", \"sizeBytes\": -1}]}"), 400,
                "actions[0].sizeBytes");
    }

    @Test
    void nonIntegerSize() {
        expectProblem(post("{\"actions\": [{\"hash\": \"" + A.hash() + "\", \"sizeBytes\": 1.5}]}"), 400,
                "actions[0].sizeBytes");
        expectProblem(post("{\"actions\": [{\"hash\": \"" + A.hash() + "\", \"sizeBytes\": \"1\"}]}"), 400,
                "actions[0].sizeBytes");
    }

    @Test
    void missingHash() {
        expectProblem(post("{\"actions\": [{\"sizeBytes\": 1}]}"), 400, "actions[0].hash");
    }

    @Test
    void tooManyActions() {
        String actions = IntStream.range(0, MAX_ACTIONS + 1).mapToObj(i -> action(A)).collect(Collectors.joining(","));
        JsonNode problem = expectProblem(post("{\"actions\": [" + actions + "]}"), 400, "actions");
        assertThat(problem.get("detail").asString()).contains(String.valueOf(MAX_ACTIONS));
    }

    @Test
    void instanceNameOfWrongType() {
        expectProblem(post("{\"instanceName\": 7, \"actions\": [" + action(A) + "]}"), 400, "instanceName");
    }

    @Test
    void includeActionResultOfWrongType() {
        expectProblem(post("{\"includeActionResult\": \"yes\", \"actions\": [" + action(A) + "]}"), 400,
                "includeActionResult");
    }

    @Test
    void everyBadFieldIsListed() {
        JsonNode problem = expectProblem(post("{\"mode\": \"FAST\", \"actions\": ["
                + "{\"hash\": \"XYZ\", \"sizeBytes\": 1}, {\"hash\": \"" + A.hash() + "\", \"sizeBytes\": -5}]}"),
                400, "mode");
        assertThat(problem.get("errors").valueStream().map(e -> e.get("field").asString()))
                .containsExactly("mode", "actions[0].hash", "actions[1].sizeBytes");
    }

    @Test
    void oversizedBodyWithContentLength() {
        String padding = "x".repeat(MAX_REQUEST_BYTES);
        expectProblem(post("{\"padding\": \"" + padding + "\", \"actions\": [" + action(A) + "]}"), 413,
                "max-request-bytes");
    }

    @Test
    void oversizedChunkedBody() {
        // no Content-Length: the limit must hold while the body streams in
        DefaultDataBufferFactory buffers = DefaultDataBufferFactory.sharedInstance;
        Flux<DataBuffer> chunks = Flux.concat(
                Flux.just(buffers.wrap("{\"padding\": \"".getBytes(StandardCharsets.UTF_8))),
                Flux.range(0, 64).map(i -> buffers.wrap("y".repeat(256).getBytes(StandardCharsets.UTF_8))),
                Flux.just(buffers.wrap(("\", \"actions\": [" + action(A) + "]}").getBytes(StandardCharsets.UTF_8))));
        expectProblem(client.post().uri("/v1/validate").contentType(MediaType.APPLICATION_JSON)
                .body(BodyInserters.fromDataBuffers(chunks)).exchange(), 413, "max-request-bytes");
    }

    @Test
    void unsupportedMediaType() {
        expectProblem(client.post().uri("/v1/validate").contentType(MediaType.TEXT_PLAIN)
                .bodyValue("{\"actions\": [" + action(A) + "]}").exchange(), 415, "Content-Type");
    }

    @Test
    void singleActionBadHash() {
        expectProblem(client.get().uri("/v1/actions/{hash}/1", A.hash().toUpperCase()).exchange(), 400, "hash");
        expectProblem(client.get().uri("/v1/actions/{hash}/1", "abc").exchange(), 400, "hash");
    }

    @Test
    void singleActionBadSize() {
        expectProblem(client.get().uri("/v1/actions/{hash}/-1", A.hash()).exchange(), 400, "sizeBytes");
        expectProblem(client.get().uri("/v1/actions/{hash}/ten", A.hash()).exchange(), 400, "sizeBytes");
    }

    @Test
    void singleActionBadModeOrDigestFunction() {
        expectProblem(client.get().uri("/v1/actions/{hash}/1?mode=fetch", A.hash()).exchange(), 400, "mode");
        // SHA256TREE is a REAPI digest function Vouch does not implement
        expectProblem(client.get().uri("/v1/actions/{hash}/1?digestFunction=SHA256TREE", A.hash()).exchange(), 400,
                "digestFunction");
    }

    private static List<String> names(JsonNode object) {
        return List.copyOf(object.propertyNames());
    }
}
