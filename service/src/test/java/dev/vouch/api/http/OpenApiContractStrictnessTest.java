package dev.vouch.api.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.http.HttpMethod;
import org.springframework.web.reactive.function.client.ClientRequest;
import org.springframework.web.reactive.function.client.ClientResponse;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.test.StepVerifier;
import tools.jackson.databind.JsonNode;

/**
 * The contract is strict: a response with a member the document does not declare, a member of the
 * wrong type, a missing member, header or status, fails it, and so does a conforming response
 * once the document is doctored. The responses are doctored copies of what the service sends.
 */
class OpenApiContractStrictnessTest {
    private static final OpenApiContract CONTRACT = OpenApiContract.load();
    private static final String HASH = "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb";
    private static final String ACTION = "/v1/actions/" + HASH + "/1";
    private static final String RESULT = "{\"action\":{\"hash\":\"" + HASH + "\",\"sizeBytes\":1},\"verdict\":\"PARTIAL\","
            + "\"backend\":\"embedded\",\"blobsReferenced\":2,\"bytesReferenced\":30,\"missing\":[{\"hash\":\"" + HASH
            + "\",\"sizeBytes\":1,\"kind\":\"OUTPUT_FILE\",\"paths\":[\"out/a\"]}],\"corrupt\":[],\"reason\":null,"
            + "\"elapsedMillis\":1.25,\"actionResult\":null}";
    private static final Map<String, List<String>> JSON = Map.of("Content-Type", List.of("application/json"));
    private static final Map<String, List<String>> PROBLEM = Map.of("Content-Type",
            List.of("application/problem+json"));

    @Test
    void theServicesOwnShapePasses() {
        assertThat(CONTRACT.violations(get(ACTION, 200, JSON, RESULT))).isEmpty();
        assertThat(CONTRACT.violations(post(200, JSON, "{\"results\":[" + RESULT + "],"
                + "\"summary\":{\"HIT\":0,\"MISS\":0,\"PARTIAL\":1,\"UNKNOWN\":0}}"))).isEmpty();
    }

    @Test
    void undocumentedMemberFails() {
        assertThat(CONTRACT.violations(get(ACTION, 200, JSON, RESULT.replace("{\"action\"", "{\"cached\":true,\"action\""))))
                .singleElement().asString().contains("cached").contains("additionalProperties");
        assertThat(CONTRACT.violations(get(ACTION, 200, JSON, RESULT.replace("\"paths\"", "\"path\":\"out/a\",\"paths\""))))
                .singleElement().asString().contains("$.missing[0]").contains("path");
        assertThat(CONTRACT.violations(post(200, JSON, "{\"results\":[],\"summary\":{\"HIT\":0,\"MISS\":0,"
                + "\"PARTIAL\":0,\"UNKNOWN\":0,\"REPAIRED\":0}}")))
                .singleElement().asString().contains("REPAIRED");
    }

    @Test
    void wrongTypeOrValueFails() {
        assertThat(CONTRACT.violations(get(ACTION, 200, JSON, RESULT.replace("\"blobsReferenced\":2",
                "\"blobsReferenced\":\"2\"")))).singleElement().asString().contains("$.blobsReferenced").contains("integer");
        assertThat(CONTRACT.violations(get(ACTION, 200, JSON, RESULT.replace("\"PARTIAL\"", "\"MAYBE\""))))
                .singleElement().asString().contains("$.verdict");
        assertThat(CONTRACT.violations(get(ACTION, 200, JSON, RESULT.replace("\"reason\":null,", ""))))
                .singleElement().asString().contains("reason");
        assertThat(CONTRACT.violations(get(ACTION, 200, JSON, RESULT.replace("\"sizeBytes\":1}", "\"sizeBytes\":-1}"))))
                .singleElement().asString().contains("$.action.sizeBytes");
    }

    @Test
    void ndjsonLinesAreCheckedOneByOne() {
        Map<String, List<String>> ndjson = Map.of("Content-Type", List.of("application/x-ndjson"));
        String line = RESULT.replace("{\"action\"", "{\"index\":0,\"action\"");
        assertThat(CONTRACT.violations(post(200, ndjson, line + "\n" + line + "\n"))).isEmpty();
        assertThat(CONTRACT.violations(post(200, ndjson, line + "\n" + RESULT + "\n")))
                .singleElement().asString().startsWith("line 2: ").contains("index");
        // the index belongs to streamed lines only
        assertThat(CONTRACT.violations(get(ACTION, 200, JSON, line))).singleElement().asString().contains("index");
    }

    @Test
    void problemsAreNarrowedPerStatus() {
        String tooLarge = "{\"type\":\"urn:vouch:problem:body-too-large\",\"title\":\"Request body too large\","
                + "\"status\":413,\"detail\":\"request body declares 9000 bytes\",\"instance\":\"/v1/validate\"}";
        Map<String, List<String>> closing = Map.of("Content-Type", List.of("application/problem+json"),
                "Connection", List.of("close"));
        assertThat(CONTRACT.violations(post(413, closing, tooLarge))).isEmpty();
        assertThat(CONTRACT.violations(post(413, PROBLEM, tooLarge))).singleElement().asString()
                .contains("requires header Connection");
        assertThat(CONTRACT.violations(post(413, closing, tooLarge.replace("body-too-large", "invalid-request"))))
                .singleElement().asString().contains("$.type");
        String overloaded = "{\"type\":\"urn:vouch:problem:overloaded\",\"title\":\"Too many validations in flight\","
                + "\"status\":429,\"detail\":\"2 validations are in flight\",\"instance\":\"/v1/validate\"}";
        assertThat(CONTRACT.violations(post(429, PROBLEM, overloaded))).singleElement().asString()
                .contains("requires header Retry-After");
        assertThat(CONTRACT.violations(post(429, Map.of("Content-Type", List.of("application/problem+json"),
                "Retry-After", List.of("soon")), overloaded))).singleElement().asString().contains("header Retry-After");
        // a problem without its type, as Spring writes about:blank ones unless told otherwise
        assertThat(CONTRACT.violations(new OpenApiContract.Exchange("GET", "/nowhere", 404, PROBLEM,
                bytes("{\"title\":\"Not Found\",\"status\":404,\"detail\":\"No static resource nowhere.\"}"))))
                .singleElement().asString().contains("type");
    }

    @Test
    void undeclaredStatusOrMediaTypeFails() {
        assertThat(CONTRACT.violations(get(ACTION, 404, PROBLEM, "{}"))).singleElement().asString()
                .contains("status 404 is not declared for GET /v1/actions/{hash}/{sizeBytes}");
        assertThat(CONTRACT.violations(get(ACTION, 200, Map.of("Content-Type", List.of("text/plain")), RESULT)))
                .singleElement().asString().contains("got Content-Type text/plain");
        assertThat(CONTRACT.violations(get(ACTION, 200, Map.of(), RESULT))).singleElement().asString()
                .contains("no Content-Type");
    }

    @Test
    void aRenamedMemberInTheDocumentFailsTheServicesResponse() throws Exception {
        String document = Files.readString(OpenApiContract.DOCUMENT);
        assertThat(document).contains("        elapsedMillis:");
        OpenApiContract doctored = OpenApiContract.of(document.replace("        elapsedMillis:", "        elapsedMs:")
                .replace("reason, elapsedMillis,", "reason, elapsedMs,"));

        assertThat(doctored.violations(get(ACTION, 200, JSON, RESULT)))
                .anySatisfy(v -> assertThat(v).contains("elapsedMs"))
                .anySatisfy(v -> assertThat(v).contains("elapsedMillis"));
    }

    @Test
    void theFilterFailsTheExchangeWhetherTheBodyIsReadOrNot() {
        ClientRequest request = ClientRequest.create(HttpMethod.GET, URI.create("http://127.0.0.1" + ACTION)).build();
        ClientResponse doctored = ClientResponse.create(org.springframework.http.HttpStatus.OK)
                .header("Content-Type", "application/json")
                .body(RESULT.replace("\"verdict\":\"PARTIAL\"", "\"verdict\":\"PARTIAL\",\"extra\":1"))
                .build();
        StepVerifier.create(CONTRACT.filter().filter(request, r -> Mono.just(doctored)))
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(OpenApiContract.Violation.class)
                        .hasMessageContaining("extra"))
                .verify(Duration.ofSeconds(10));

        ClientRequest streamed = ClientRequest.create(HttpMethod.POST, URI.create("http://127.0.0.1/v1/validate"))
                .build();
        String good = RESULT.replace("{\"action\"", "{\"index\":0,\"action\"");
        ClientResponse lines = ClientResponse.create(org.springframework.http.HttpStatus.OK)
                .header("Content-Type", "application/x-ndjson")
                .body(Flux.just(good + "\n", RESULT + "\n")
                        .map(text -> org.springframework.core.io.buffer.DefaultDataBufferFactory.sharedInstance
                                .wrap(bytes(text))))
                .build();
        StepVerifier.create(CONTRACT.filter().filter(streamed, r -> Mono.just(lines))
                        .flatMapMany(response -> response.bodyToFlux(String.class)))
                // the good line reaches the caller before the bad one fails the stream
                .expectNextCount(1)
                .expectErrorSatisfies(e -> assertThat(e).hasMessageContaining("line 2").hasMessageContaining("index"))
                .verify(Duration.ofSeconds(10));
    }

    @Test
    void theDocumentsOwnExamplesConform() {
        JsonNode schemas = CONTRACT.document().path("components").path("schemas");
        List<String> checked = new ArrayList<>();
        for (String name : schemas.propertyNames()) {
            for (JsonNode example : schemas.path(name).path("examples")) {
                assertThat(CONTRACT.schemaViolations("/components/schemas/" + name, example))
                        .as("example of %s: %s", name, example).isEmpty();
                checked.add(name);
            }
        }
        assertThat(checked).contains("Result", "Problem", "Hash");
    }

    // ---- helpers

    private static OpenApiContract.Exchange get(String target, int status, Map<String, List<String>> headers,
            String body) {
        return new OpenApiContract.Exchange("GET", target, status, headers, bytes(body));
    }

    private static OpenApiContract.Exchange post(int status, Map<String, List<String>> headers, String body) {
        return new OpenApiContract.Exchange("POST", "/v1/validate", status, headers, bytes(body));
    }

    private static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }
}
