package dev.vouch.auth;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.awaitility.Awaitility.await;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.OutputFile;
import dev.vouch.api.grpc.GrpcServer;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.v1.ValidateRequest;
import dev.vouch.v1.ValidateResponse;
import dev.vouch.v1.ValidationResult;
import dev.vouch.v1.ValidationServiceGrpc;
import dev.vouch.v1.Verdict;
import dev.vouch.validation.CacheValidator;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.context.TestConfiguration;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;
import org.springframework.boot.webtestclient.autoconfigure.AutoConfigureWebTestClient;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Primary;
import org.springframework.http.HttpHeaders;
import org.springframework.http.MediaType;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.EntityExchangeResult;
import org.springframework.test.web.reactive.server.WebTestClient;

/**
 * {@code vouch.auth.*} on, over the real ports: static tokens (configured and from a tokens file)
 * and JWTs signed with a key made here, on the REST and the gRPC validation APIs. Each refusal is
 * checked for its status, its problem or gRPC status, and for never reaching the engine.
 */
// the most talkative levels an operator might turn on for Vouch and the web stack; as inlined
// properties, since logging levels are applied before @DynamicPropertySource values exist
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "logging.level.dev.vouch=DEBUG", "logging.level.org.springframework.web=DEBUG",
        "logging.level.org.springframework.security=DEBUG", "logging.level.com.nimbusds=DEBUG"})
@AutoConfigureWebTestClient
@ExtendWith(OutputCaptureExtension.class)
class AuthApiTest {
    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final TestJwts JWTS = new TestJwts();
    private static final Path DIR = tempDir();
    /** validate on ci/...: the CI runners' token */
    private static final String CI = newToken();
    /** read on every instance, no validate */
    private static final String READER = newToken();
    /** read and write everywhere: fills the embedded cache through /cache */
    private static final String WRITER = newToken();
    /** from the tokens file: validate everywhere */
    private static final String FILED = newToken();
    private static final Path TOKENS_FILE = DIR.resolve("tokens.yaml");
    private static final Path PUBLIC_KEY = JWTS.writePublicKey(DIR.resolve("jwt.pem"));

    static {
        writeTokensFile(List.of(fileEntry("filed", FILED)));
    }

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry registry) {
        registry.add("vouch.grpc.port", () -> "0");
        registry.add("vouch.data-dir", () -> DIR.resolve("data").toString());
        registry.add("vouch.auth.enabled", () -> "true");
        token(registry, 0, "ci", CI, "ci/.*", "validate");
        token(registry, 1, "reader", READER, ".*", "read");
        token(registry, 2, "writer", WRITER, ".*", "read,write");
        registry.add("vouch.auth.tokens-file", TOKENS_FILE::toString);
        registry.add("vouch.auth.tokens-file-check-interval", () -> "100ms");
        registry.add("vouch.auth.jwt.public-key-file", PUBLIC_KEY::toString);
        registry.add("vouch.auth.jwt.issuer", () -> TestJwts.ISSUER);
        registry.add("vouch.auth.jwt.audience", () -> TestJwts.AUDIENCE);
    }

    /** Counts the requests that reach the engine, to show refused ones never do. */
    @TestConfiguration
    static class CountingEngine {
        static final AtomicInteger calls = new AtomicInteger();

        @Bean
        @Primary
        CacheValidator countingValidator(@Qualifier("cacheValidator") CacheValidator engine) {
            return request -> {
                calls.incrementAndGet();
                return engine.validate(request);
            };
        }
    }

    @Autowired
    WebTestClient client;

    @Autowired
    GrpcServer server;

    private ManagedChannel channel;
    private Digest hit;

    @BeforeEach
    void setUp() {
        channel = NettyChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
        hit = storeHit();
        CountingEngine.calls.set(0);
    }

    @AfterEach
    void tearDown() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    // --- REST ---

    @Test
    void restWithoutTokenIs401() {
        EntityExchangeResult<String> answer = post(null, "ci/main", hit);
        assertUnauthenticated(answer, "send Authorization: Bearer <token>");
        assertThat(answer.getResponseHeaders().getFirst(HttpHeaders.WWW_AUTHENTICATE)).isEqualTo("Bearer realm=\"vouch\"");
    }

    @Test
    void restBadTokenIs401() {
        String bad = newToken();
        EntityExchangeResult<String> answer = post(bad, "ci/main", hit);
        assertUnauthenticated(answer, "the bearer token is not valid here");
        assertThat(answer.getResponseHeaders().getFirst(HttpHeaders.WWW_AUTHENTICATE))
                .isEqualTo("Bearer realm=\"vouch\", error=\"invalid_token\"");
        assertThat(answer.getResponseBody()).doesNotContain(bad);
    }

    @Test
    void restExpiredJwtIs401() {
        assertUnauthenticated(post(JWTS.expired("ci-bot"), "ci/main", hit), "Jwt expired at");
    }

    @Test
    void restJwtOfAnotherIssuerOrAudienceOrKeyIs401() {
        assertUnauthenticated(post(JWTS.withIssuer("https://elsewhere.test"), "ci/main", hit), "iss");
        assertUnauthenticated(post(JWTS.withAudience("another-service"), "ci/main", hit), "aud");
        assertUnauthenticated(post(JWTS.signedByStranger(), "ci/main", hit), "not a valid JWT");
    }

    @Test
    void restTokenForAnotherInstanceIs403() {
        EntityExchangeResult<String> answer = post(CI, "release/main", hit);
        assertForbidden(answer, "'ci' may not use instance name 'release/main'");
        assertForbidden(get(CI, "release/main", hit), "'ci' may not use instance name 'release/main'");
        assertForbidden(post(JWTS.valid("ci-bot", List.of("ci/.*"), List.of("validate")), "release/main", hit),
                "'ci-bot' may not use instance name 'release/main'");
    }

    @Test
    void restIdentityWithoutValidateIs403() {
        assertForbidden(post(READER, "ci/main", hit), "'reader' does not hold the right validate");
        assertForbidden(post(JWTS.valid("reader-bot", List.of(".*"), List.of("read", "write")), "ci/main", hit),
                "'reader-bot' does not hold the right validate");
    }

    @Test
    void restGoodTokenAndGoodJwtGetTheVerdict() {
        assertThat(post(CI, "ci/main", hit).getResponseBody()).contains("\"verdict\":\"HIT\"");
        assertThat(get(CI, "ci/main", hit).getResponseBody()).contains("\"verdict\":\"HIT\"");
        String jwt = JWTS.valid("ci-bot", List.of("ci/.*"), List.of("validate"));
        assertThat(post(jwt, "ci/main", hit).getResponseBody()).contains("\"verdict\":\"HIT\"");
        assertThat(CountingEngine.calls).hasValue(3);
    }

    @Test
    void probesAndPrometheusNeedNoToken() {
        post(null, "ci/main", hit);
        post(CI, "release/main", hit);
        client.get().uri("/actuator/health/liveness").exchange().expectStatus().isOk();
        client.get().uri("/actuator/health/readiness").exchange().expectStatus().isOk();
        String scrape = scrape();
        assertThat(scrape).containsPattern("vouch_auth_refused_total\\{identity=\"none\",reason=\"missing\"} [1-9]");
        assertThat(scrape).containsPattern("vouch_auth_refused_total\\{identity=\"ci\",reason=\"forbidden\"} [1-9]");
        // any other path needs an identity, even one that does not exist
        client.get().uri("/actuator/health").exchange().expectStatus().isUnauthorized();
    }

    @Test
    void aChangedTokensFileTakesEffectWithoutRestart(CapturedOutput output) {
        String rotated = newToken();
        assertThat(post(FILED, "any/instance", hit).getStatus().value()).isEqualTo(200);
        assertThat(post(rotated, "any/instance", hit).getStatus().value()).isEqualTo(401);

        writeTokensFile(List.of(fileEntry("rotated", rotated)));
        await().atMost(WAIT).pollInterval(Duration.ofMillis(50)).untilAsserted(() ->
                assertThat(post(rotated, "any/instance", hit).getStatus().value()).as("the rotated token").isEqualTo(200));
        assertThat(post(FILED, "any/instance", hit).getStatus().value()).as("the removed token").isEqualTo(401);

        // a file that does not check keeps the tokens Vouch has, and the log says why
        write(TOKENS_FILE, "tokens: [ {name: broken, sha256: nothex} ]\n");
        await().atMost(WAIT).pollInterval(Duration.ofMillis(50))
                .until(() -> output.getAll().contains("could not be re-read, keeping its previous 1 tokens"));
        assertThat(output.getAll()).contains("tokens[0].sha256 must be 64 lowercase hex digits");
        assertThat(post(rotated, "any/instance", hit).getStatus().value()).isEqualTo(200);
        writeTokensFile(List.of(fileEntry("filed", FILED)));
    }

    // --- gRPC ---

    @Test
    void grpcWithoutOrWithBadTokenOrExpiredJwtIsUnauthenticated() {
        assertGrpcRefused(null, "ci/main", Status.Code.UNAUTHENTICATED, "send Authorization: Bearer <token>");
        assertGrpcRefused(newToken(), "ci/main", Status.Code.UNAUTHENTICATED, "the bearer token is not valid here");
        assertGrpcRefused(JWTS.expired("ci-bot"), "ci/main", Status.Code.UNAUTHENTICATED, "Jwt expired at");
        assertGrpcRefused(JWTS.withAudience("another-service"), "ci/main", Status.Code.UNAUTHENTICATED, "aud");
        assertGrpcRefused(JWTS.withIssuer("https://elsewhere.test"), "ci/main", Status.Code.UNAUTHENTICATED, "iss");
        assertThat(CountingEngine.calls).hasValue(0);
    }

    @Test
    void grpcTokenForAnotherInstanceOrWithoutValidateIsPermissionDenied() {
        assertGrpcRefused(CI, "release/main", Status.Code.PERMISSION_DENIED,
                "'ci' may not use instance name 'release/main'");
        assertGrpcRefused(READER, "ci/main", Status.Code.PERMISSION_DENIED, "'reader' does not hold the right validate");
        assertGrpcRefused(JWTS.valid("ci-bot", List.of("ci/.*"), List.of("validate")), "release/main",
                Status.Code.PERMISSION_DENIED, "'ci-bot' may not use instance name 'release/main'");
        assertThat(CountingEngine.calls).hasValue(0);
    }

    @Test
    void grpcGoodTokenAndGoodJwtGetTheVerdict() {
        assertThat(grpc(CI).validate(request("ci/main", hit)).getResults(0).getVerdict()).isEqualTo(Verdict.HIT);
        String jwt = JWTS.valid("ci-bot", List.of("ci/.*"), List.of("validate"));
        assertThat(grpc(jwt).validate(request("ci/main", hit)).getResults(0).getVerdict()).isEqualTo(Verdict.HIT);
        Iterator<ValidationResult> streamed = grpc(jwt).validateStream(request("ci/main", hit));
        assertThat(streamed.next().getVerdict()).isEqualTo(Verdict.HIT);
        assertThat(streamed.hasNext()).isFalse();
        assertThat(CountingEngine.calls).hasValue(3);
    }

    // --- never logged ---

    @Test
    void credentialsAreNeverLoggedNorInMetrics(CapturedOutput output) {
        List<String> secrets = new ArrayList<>(List.of(CI, READER, WRITER));
        String bad = newToken();
        String expired = JWTS.expired("ci-bot");
        String good = JWTS.valid("ci-bot", List.of("ci/.*"), List.of("validate"));
        String stranger = JWTS.signedByStranger();
        secrets.addAll(List.of(bad, expired, good, stranger));
        for (String token : List.of(CI, READER, bad, expired, good, stranger)) {
            post(token, "ci/main", hit);
            post(token, "release/main", hit);
            catchThrowableOfType(StatusRuntimeException.class, () -> grpc(token).validate(request("release/main", hit)));
        }
        String scrape = scrape();
        for (String secret : secrets) {
            // the JWT's signature is its secret part; a token is one piece
            String part = secret.contains(".") ? secret.substring(secret.lastIndexOf('.') + 1) : secret;
            assertThat(output.getAll()).as("the log").doesNotContain(part);
            assertThat(scrape).as("the Prometheus scrape").doesNotContain(part);
        }
        assertThat(output.getAll()).contains("refused validate on instance \"release/main\" to \"ci\" (token)");
    }

    // --- helpers ---

    private EntityExchangeResult<String> post(String token, String instanceName, Digest action) {
        WebTestClient.RequestBodySpec request = client.post().uri("/v1/validate").contentType(MediaType.APPLICATION_JSON);
        if (token != null) {
            request.header(HttpHeaders.AUTHORIZATION, "Bearer " + token);
        }
        return request.bodyValue("{\"instanceName\":\"" + instanceName + "\",\"actions\":[\"" + action.hash() + "/"
                        + action.sizeBytes() + "\"]}")
                .exchange().expectBody(String.class).returnResult();
    }

    private EntityExchangeResult<String> get(String token, String instanceName, Digest action) {
        return client.get().uri(b -> b.path("/v1/actions/{hash}/{size}").queryParam("instanceName", instanceName)
                        .build(action.hash(), action.sizeBytes()))
                .header(HttpHeaders.AUTHORIZATION, "Bearer " + token)
                .exchange().expectBody(String.class).returnResult();
    }

    private void assertUnauthenticated(EntityExchangeResult<String> answer, String detail) {
        assertThat(answer.getStatus().value()).as("%s", answer.getResponseBody()).isEqualTo(401);
        assertThat(answer.getResponseHeaders().getContentType()).isEqualTo(MediaType.APPLICATION_PROBLEM_JSON);
        assertThat(answer.getResponseHeaders().getFirst(HttpHeaders.WWW_AUTHENTICATE)).startsWith("Bearer");
        assertThat(answer.getResponseBody()).contains("\"type\":\"urn:vouch:problem:unauthenticated\"")
                .contains("\"status\":401").contains(detail);
        assertThat(CountingEngine.calls).as("requests that reached the engine").hasValue(0);
    }

    private void assertForbidden(EntityExchangeResult<String> answer, String detail) {
        assertThat(answer.getStatus().value()).as("%s", answer.getResponseBody()).isEqualTo(403);
        assertThat(answer.getResponseHeaders().getContentType()).isEqualTo(MediaType.APPLICATION_PROBLEM_JSON);
        assertThat(answer.getResponseBody()).contains("\"type\":\"urn:vouch:problem:forbidden\"")
                .contains("\"status\":403").contains(detail);
        assertThat(CountingEngine.calls).as("requests that reached the engine").hasValue(0);
    }

    private void assertGrpcRefused(String token, String instanceName, Status.Code code, String description) {
        StatusRuntimeException refused = catchThrowableOfType(StatusRuntimeException.class,
                () -> grpc(token).validate(request(instanceName, hit)));
        assertThat(refused).as("a refusal").isNotNull();
        assertThat(refused.getStatus().getCode()).isEqualTo(code);
        assertThat(refused.getStatus().getDescription()).contains(description);
        if (token != null) {
            assertThat(refused.getStatus().getDescription()).doesNotContain(token);
        }
    }

    private ValidationServiceGrpc.ValidationServiceBlockingStub grpc(String token) {
        ValidationServiceGrpc.ValidationServiceBlockingStub stub = ValidationServiceGrpc.newBlockingStub(channel)
                .withDeadlineAfter(10, TimeUnit.SECONDS);
        if (token == null) {
            return stub;
        }
        Metadata headers = new Metadata();
        headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
        return stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
    }

    private static ValidateRequest request(String instanceName, Digest action) {
        return ValidateRequest.newBuilder().setInstanceName(instanceName).addActions(action.toProto()).build();
    }

    private String scrape() {
        return client.get().uri("/actuator/prometheus").exchange().expectStatus().isOk()
                .expectBody(String.class).returnResult().getResponseBody();
    }

    /** An entry whose closure is complete, stored through the HTTP cache protocol with the writer's token. */
    private Digest storeHit() {
        byte[] output = "output of the action".getBytes(StandardCharsets.UTF_8);
        Digest blob = DigestFunction.SHA256.digestOf(output);
        byte[] result = ActionResult.newBuilder()
                .addOutputFiles(OutputFile.newBuilder().setPath("out/a.o").setDigest(blob.toProto()))
                .build().toByteArray();
        Digest action = DigestFunction.SHA256.digestOf("the action".getBytes(StandardCharsets.UTF_8));
        put("/cache/cas/" + blob.hash(), output);
        put("/cache/ac/" + action.hash(), result);
        return action;
    }

    private void put(String path, byte[] body) {
        client.put().uri(path).header(HttpHeaders.AUTHORIZATION, "Bearer " + WRITER).bodyValue(body)
                .exchange().expectStatus().is2xxSuccessful();
    }

    private static void token(DynamicPropertyRegistry registry, int i, String name, String token, String pattern,
            String rights) {
        String key = "vouch.auth.tokens[" + i + "].";
        registry.add(key + "name", () -> name);
        registry.add(key + "sha256", () -> sha256(token));
        registry.add(key + "instance-patterns[0]", () -> pattern);
        registry.add(key + "rights", () -> rights);
    }

    private static String fileEntry(String name, String token) {
        return "  - name: " + name + "\n    sha256: " + sha256(token)
                + "\n    instance-patterns: ['.*']\n    rights: [validate]\n";
    }

    private static void writeTokensFile(List<String> entries) {
        write(TOKENS_FILE, "tokens:\n" + String.join("", entries));
    }

    /** As a Secret update lands: a new file moved over the old one. */
    private static void write(Path file, String content) {
        try {
            Path next = Files.writeString(file.resolveSibling(file.getFileName() + ".next"), content);
            Files.move(next, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                    java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static String sha256(String token) {
        return HexFormat.of().formatHex(StaticTokens.sha256(token.getBytes(StandardCharsets.UTF_8)));
    }

    static String newToken() {
        byte[] bytes = new byte[32];
        new SecureRandom().nextBytes(bytes);
        return HexFormat.of().formatHex(bytes);
    }

    private static Path tempDir() {
        try {
            Path dir = Files.createTempDirectory("vouch-auth-test");
            dir.toFile().deleteOnExit();
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
