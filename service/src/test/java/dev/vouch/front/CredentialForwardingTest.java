package dev.vouch.front;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import build.bazel.remote.execution.v2.ActionCacheGrpc;
import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.GetActionResultRequest;
import build.bazel.remote.execution.v2.OutputFile;
import build.bazel.remote.execution.v2.RequestMetadata;
import build.bazel.remote.execution.v2.ToolDetails;
import com.sun.net.httpserver.HttpServer;
import dev.vouch.api.grpc.GrpcServer;
import dev.vouch.backend.reapi.ReapiTestServer;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.protobuf.ProtoUtils;
import io.grpc.stub.MetadataUtils;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;
import org.springframework.boot.webtestclient.autoconfigure.AutoConfigureWebTestClient;
import org.springframework.http.HttpHeaders;
import org.springframework.http.MediaType;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;

/**
 * {@code vouch.backends[i].forward-credentials}: against caches that check tokens (a REAPI server
 * and a Bazel HTTP cache that accept only {@code Bearer good}), Vouch sends the caller's own
 * {@code authorization}, never its configured one, on the validation API and at the cache front, with
 * {@code vouch.auth} off (Vouch in front of a cache that does the checking). The presence window
 * does not let one caller's confirmed blobs answer another's lookup. At the front, the client's own
 * RequestMetadata goes to the backend as it came.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
@AutoConfigureWebTestClient
@ExtendWith(OutputCaptureExtension.class)
class CredentialForwardingTest {
    private static final String GOOD = "Bearer good";
    // may read the Action Cache but not the CAS: what a lookup needs beyond the entry, it must be refused
    private static final String AC_ONLY = "Bearer ac-only";
    private static final String OWN = "Bearer vouch-own";
    private static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization",
            Metadata.ASCII_STRING_MARSHALLER);
    private static final Metadata.Key<RequestMetadata> REQUEST_METADATA = Metadata.Key.of(
            "build.bazel.remote.execution.v2.requestmetadata-bin",
            ProtoUtils.metadataMarshaller(RequestMetadata.getDefaultInstance()));

    private static ReapiTestServer reapi;
    private static TokenCheckingHttpCache http;

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry registry) throws IOException {
        reapi = ReapiTestServer.start(64 * 1024);
        reapi.requireAuthorization(Map.of(GOOD, Set.of("*"), AC_ONLY, Set.of("GetActionResult", "GetCapabilities")));
        http = new TokenCheckingHttpCache();
        Path dir = Files.createTempDirectory("vouch-forwarding");
        registry.add("vouch.data-dir", () -> dir.resolve("data").toString());
        registry.add("vouch.grpc.port", () -> "0");
        registry.add("vouch.front.enabled", () -> "true");
        registry.add("vouch.backends[0].name", () -> "remote-grpc");
        registry.add("vouch.backends[0].type", () -> "grpc");
        registry.add("vouch.backends[0].target", reapi::target);
        registry.add("vouch.backends[0].forward-credentials", () -> "true");
        registry.add("vouch.backends[0].headers.authorization", () -> OWN);
        registry.add("vouch.backends[1].name", () -> "remote-http");
        registry.add("vouch.backends[1].type", () -> "http");
        registry.add("vouch.backends[1].url", http::url);
        registry.add("vouch.backends[1].forward-credentials", () -> "true");
        registry.add("vouch.backends[1].auth.bearer-token", () -> "vouch-own");
        for (int i = 0; i < 2; i++) {
            // refusals are the point here: they must not open the circuit for the good calls after them
            registry.add("vouch.backends[" + i + "].resilience.circuit-breaker.sliding-window-size", () -> "1000");
            registry.add("vouch.backends[" + i + "].resilience.circuit-breaker.minimum-number-of-calls", () -> "1000");
        }
        registry.add("vouch.routes[0].instance-pattern", () -> "http/.*");
        registry.add("vouch.routes[0].backend", () -> "remote-http");
        registry.add("vouch.default-backend", () -> "remote-grpc");
    }

    @AfterAll
    static void stopCaches() throws InterruptedException {
        reapi.close();
        http.close();
    }

    @Autowired
    WebTestClient client;

    @Autowired
    GrpcServer server;

    private ManagedChannel channel;

    @BeforeEach
    void connect() {
        channel = NettyChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
    }

    @AfterEach
    void disconnect() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    private static ActionResult resultWith(Digest output) {
        return ActionResult.newBuilder()
                .addOutputFiles(OutputFile.newBuilder().setPath("out/" + output.hash()).setDigest(output.toProto()))
                .build();
    }

    private static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    /** The verdict of {@code action} from {@code POST /v1/validate}, sent with {@code authorization} (null: none). */
    private String verdict(String instanceName, Digest action, String authorization) {
        WebTestClient.RequestBodySpec request = client.post().uri("/v1/validate").contentType(MediaType.APPLICATION_JSON);
        if (authorization != null) {
            request.header(HttpHeaders.AUTHORIZATION, authorization);
        }
        byte[] body = request.bodyValue("{\"instanceName\": \"" + instanceName + "\", \"actions\": [{\"hash\": \""
                        + action.hash() + "\", \"sizeBytes\": " + action.sizeBytes() + "}]}")
                .exchange()
                .expectStatus().isOk()
                .expectBody().returnResult().getResponseBody();
        String json = new String(body, StandardCharsets.UTF_8);
        int at = json.indexOf("\"verdict\":\"");
        assertThat(at).as("a verdict in %s", json).isPositive();
        return json.substring(at + 11, json.indexOf('"', at + 11));
    }

    private ActionCacheGrpc.ActionCacheBlockingStub actionCache(String authorization, RequestMetadata metadata) {
        Metadata headers = new Metadata();
        if (authorization != null) {
            headers.put(AUTHORIZATION, authorization);
        }
        if (metadata != null) {
            headers.put(REQUEST_METADATA, metadata);
        }
        return ActionCacheGrpc.newBlockingStub(channel).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers))
                .withDeadlineAfter(20, TimeUnit.SECONDS);
    }

    private static GetActionResultRequest lookup(Digest action) {
        return GetActionResultRequest.newBuilder().setActionDigest(action.toProto()).build();
    }

    @Test
    void validationApiSendsTheCallersTokenToAGrpcBackendAndNeverItsOwn(CapturedOutput log) {
        Digest output = reapi.put(bytes("grpc output for the validation API"));
        Digest action = reapi.putAction("validated over grpc", resultWith(output));

        assertThat(verdict("", action, GOOD)).isEqualTo("HIT");
        assertThat(verdict("", action, "Bearer bad")).isEqualTo("UNKNOWN");
        assertThat(verdict("", action, null)).isEqualTo("UNKNOWN");

        assertThat(reapi.authorizations(null)).contains(GOOD, "Bearer bad", "<none>").doesNotContain(OWN);
        assertThat(log.getAll()).as("the log").doesNotContain(GOOD, "Bearer bad", "vouch-own");
    }

    @Test
    void validationApiSendsTheCallersTokenToAnHttpBackendAndNeverItsOwn(CapturedOutput log) {
        Digest output = http.put("cas", bytes("http output for the validation API"));
        Digest action = DigestFunction.SHA256.digestOf(bytes("validated over http"));
        http.putAt("ac/" + action.hash(), resultWith(output).toByteArray());

        assertThat(verdict("http/team", action, GOOD)).isEqualTo("HIT");
        assertThat(verdict("http/team", action, "Bearer bad")).isEqualTo("UNKNOWN");
        assertThat(verdict("http/team", action, null)).isEqualTo("UNKNOWN");

        assertThat(http.authorizations).contains(GOOD, "Bearer bad", "<none>").doesNotContain(OWN);
        assertThat(log.getAll()).as("the log").doesNotContain(GOOD, "Bearer bad", "vouch-own");
    }

    @Test
    void frontGetActionResultIsServedOnlyWithTheCallersGoodToken() {
        Digest output = reapi.put(bytes("grpc output for the front"));
        Digest action = reapi.putAction("looked up at the front", resultWith(output));

        assertThat(actionCache(GOOD, null).getActionResult(lookup(action))).isEqualTo(resultWith(output));
        for (String refused : new String[] {"Bearer bad", null}) {
            StatusRuntimeException e = catchThrowableOfType(StatusRuntimeException.class,
                    () -> actionCache(refused, null).getActionResult(lookup(action)));
            assertThat(e).as("GetActionResult with %s", refused).isNotNull();
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
        }
        assertThat(reapi.authorizations("GetActionResult")).doesNotContain(OWN);
    }

    @Test
    void aPresenceConfirmedWithOneCallersTokenDoesNotAnswerAnothers() {
        Digest output = reapi.put(bytes("output confirmed for one caller"));
        Digest action = reapi.putAction("presence across callers", resultWith(output));

        assertThat(actionCache(GOOD, null).getActionResult(lookup(action))).isEqualTo(resultWith(output));
        // within the window: the blob was confirmed with GOOD, but AC_ONLY may not see the CAS
        StatusRuntimeException e = catchThrowableOfType(StatusRuntimeException.class,
                () -> actionCache(AC_ONLY, null).getActionResult(lookup(action)));
        assertThat(e).as("an entry served to a caller the backend refuses the CAS to").isNotNull();
        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
        // and GOOD still gets it from the window: the window is kept per caller, not turned off
        int asked = reapi.calls("FindMissingBlobs");
        assertThat(actionCache(GOOD, null).getActionResult(lookup(action))).isEqualTo(resultWith(output));
        assertThat(reapi.calls("FindMissingBlobs")).isEqualTo(asked);
    }

    @Test
    void frontForwardsTheClientsRequestMetadataUnchanged() {
        Digest output = reapi.put(bytes("output of a build with metadata"));
        Digest action = reapi.putAction("metadata forwarded", resultWith(output));
        RequestMetadata bazel = RequestMetadata.newBuilder()
                .setToolDetails(ToolDetails.newBuilder().setToolName("bazel").setToolVersion("4.2.3"))
                .setToolInvocationId("0f5d2c1e-invocation")
                .setCorrelatedInvocationsId("build-request-7")
                .setActionId(action.hash())
                .setActionMnemonic("CppCompile")
                .setTargetId("//app:main")
                .build();

        assertThat(actionCache(GOOD, bazel).getActionResult(lookup(action))).isEqualTo(resultWith(output));

        List<List<RequestMetadata>> sent = reapi.requestMetadata("GetActionResult");
        assertThat(sent.get(sent.size() - 1)).containsExactly(bazel);
    }

    /** A Bazel HTTP cache on a loopback port that answers only {@code Authorization: Bearer good}. */
    static final class TokenCheckingHttpCache implements AutoCloseable {
        final List<String> authorizations = new CopyOnWriteArrayList<>();
        private final Map<String, byte[]> entries = new ConcurrentHashMap<>();
        private final ExecutorService threads = Executors.newFixedThreadPool(4);
        private final HttpServer server;

        TokenCheckingHttpCache() throws IOException {
            server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
            server.setExecutor(threads);
            server.createContext("/", exchange -> {
                try (exchange) {
                    String authorization = exchange.getRequestHeaders().getFirst("Authorization");
                    authorizations.add(authorization == null ? "<none>" : authorization);
                    if (!GOOD.equals(authorization)) {
                        exchange.sendResponseHeaders(401, -1);
                        return;
                    }
                    byte[] entry = entries.get(exchange.getRequestURI().getPath().substring(1));
                    if (entry == null) {
                        exchange.sendResponseHeaders(404, -1);
                    } else if ("HEAD".equals(exchange.getRequestMethod())) {
                        exchange.getResponseHeaders().set("Content-Length", String.valueOf(entry.length));
                        exchange.sendResponseHeaders(200, -1);
                    } else {
                        exchange.sendResponseHeaders(200, entry.length);
                        try (OutputStream out = exchange.getResponseBody()) {
                            out.write(entry);
                        }
                    }
                }
            });
            server.start();
        }

        String url() {
            return "http://127.0.0.1:" + server.getAddress().getPort();
        }

        Digest put(String kind, byte[] blob) {
            Digest digest = DigestFunction.SHA256.digestOf(blob);
            entries.put(kind + "/" + digest.hash(), blob);
            return digest;
        }

        void putAt(String path, byte[] bytes) {
            entries.put(path, bytes);
        }

        @Override
        public void close() {
            server.stop(0);
            threads.shutdownNow();
        }
    }
}
