package dev.vouch.front;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import build.bazel.remote.execution.v2.ActionCacheGrpc;
import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.BatchUpdateBlobsRequest;
import build.bazel.remote.execution.v2.ContentAddressableStorageGrpc;
import build.bazel.remote.execution.v2.FindMissingBlobsRequest;
import build.bazel.remote.execution.v2.GetActionResultRequest;
import build.bazel.remote.execution.v2.OutputFile;
import build.bazel.remote.execution.v2.UpdateActionResultRequest;
import com.google.bytestream.ByteStreamGrpc;
import com.google.bytestream.WriteRequest;
import com.google.bytestream.WriteResponse;
import com.google.protobuf.ByteString;
import dev.vouch.api.grpc.GrpcServer;
import dev.vouch.auth.TestJwts;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.webtestclient.autoconfigure.AutoConfigureWebTestClient;
import org.springframework.http.HttpHeaders;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;

/**
 * With {@code vouch.auth} on, the cache front's reads need the right {@code read} and its writes
 * {@code write} on the request's instance name, over the REAPI services and {@code /cache} alike;
 * a refused write stores nothing.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
@AutoConfigureWebTestClient
class FrontAuthorizationTest {
    private static final String READER = token();
    private static final String WRITER = token();
    private static final String VALIDATOR = token();
    private static final String TEAM = "team-a/main";
    private static final TestJwts JWTS = new TestJwts();

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry registry) throws Exception {
        registry.add("vouch.grpc.port", () -> "0");
        Path dir = Files.createTempDirectory("vouch-front-auth");
        registry.add("vouch.data-dir", () -> dir.resolve("data").toString());
        registry.add("vouch.auth.enabled", () -> "true");
        entry(registry, 0, "reader", READER, "read");
        entry(registry, 1, "writer", WRITER, "read,write");
        entry(registry, 2, "validator", VALIDATOR, "validate");
        Path key = JWTS.writePublicKey(dir.resolve("jwt.pem"));
        registry.add("vouch.auth.jwt.public-key-file", key::toString);
        registry.add("vouch.auth.jwt.issuer", () -> TestJwts.ISSUER);
        registry.add("vouch.auth.jwt.audience", () -> TestJwts.AUDIENCE);
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
    void close() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    @Test
    void httpCacheWritesNeedWriteAndReadsNeedRead() {
        byte[] blob = "http blob".getBytes(StandardCharsets.UTF_8);
        String path = "/cache/" + TEAM + "/cas/" + DigestFunction.SHA256.digestOf(blob).hash();

        client.put().uri(path).bodyValue(blob).exchange().expectStatus().isUnauthorized()
                .expectHeader().valueMatches(HttpHeaders.WWW_AUTHENTICATE, "Bearer .*");
        client.put().uri(path).header(HttpHeaders.AUTHORIZATION, "Bearer " + READER).bodyValue(blob).exchange()
                .expectStatus().isForbidden()
                .expectBody().jsonPath("$.type").isEqualTo("urn:vouch:problem:forbidden")
                .jsonPath("$.detail").isEqualTo("'reader' does not hold the right write");
        client.head().uri(path).header(HttpHeaders.AUTHORIZATION, "Bearer " + WRITER).exchange()
                .expectStatus().isNotFound();

        client.put().uri(path).header(HttpHeaders.AUTHORIZATION, "Bearer " + WRITER).bodyValue(blob).exchange()
                .expectStatus().is2xxSuccessful();
        client.get().uri(path).header(HttpHeaders.AUTHORIZATION, "Bearer " + READER).exchange()
                .expectStatus().isOk().expectBody(byte[].class).isEqualTo(blob);
        client.get().uri(path).header(HttpHeaders.AUTHORIZATION, "Bearer " + VALIDATOR).exchange()
                .expectStatus().isForbidden();
        client.get().uri("/cache/team-b/cas/" + DigestFunction.SHA256.digestOf(blob).hash())
                .header(HttpHeaders.AUTHORIZATION, "Bearer " + WRITER).exchange()
                .expectStatus().isForbidden()
                .expectBody().jsonPath("$.detail").isEqualTo("'writer' may not use instance name 'team-b'");
    }

    @Test
    void reapiWritesNeedWriteAndReadsNeedRead() throws Exception {
        byte[] output = "grpc output".getBytes(StandardCharsets.UTF_8);
        Digest blob = DigestFunction.SHA256.digestOf(output);
        Digest action = DigestFunction.SHA256.digestOf(("action " + UUID.randomUUID()).getBytes(StandardCharsets.UTF_8));
        ActionResult result = ActionResult.newBuilder()
                .addOutputFiles(OutputFile.newBuilder().setPath("out/g.o").setDigest(blob.toProto())).build();

        // a reader can neither upload nor store an entry, and nothing of it is stored
        assertDenied(() -> write(READER, blob, output));
        assertDenied(() -> cas(READER).batchUpdateBlobs(BatchUpdateBlobsRequest.newBuilder().setInstanceName(TEAM)
                .addRequests(BatchUpdateBlobsRequest.Request.newBuilder().setDigest(blob.toProto())
                        .setData(ByteString.copyFrom(output))).build()));
        assertThat(cas(WRITER).findMissingBlobs(findMissing(blob)).getMissingBlobDigestsList())
                .containsExactly(blob.toProto());
        assertDenied(() -> actionCache(READER).updateActionResult(UpdateActionResultRequest.newBuilder()
                .setInstanceName(TEAM).setActionDigest(action.toProto()).setActionResult(result).build()));
        assertThat(code(() -> actionCache(WRITER).getActionResult(lookup(action, TEAM)))).isEqualTo(Status.Code.NOT_FOUND);

        // a writer can; then a reader reads it, on its own instance names only
        assertThat(write(WRITER, blob, output).getCommittedSize()).isEqualTo(output.length);
        actionCache(WRITER).updateActionResult(UpdateActionResultRequest.newBuilder()
                .setInstanceName(TEAM).setActionDigest(action.toProto()).setActionResult(result).build());
        assertThat(actionCache(READER).getActionResult(lookup(action, TEAM))).isEqualTo(result);
        assertDenied(() -> actionCache(READER).getActionResult(lookup(action, "team-b")));
        assertDenied(() -> cas(VALIDATOR).findMissingBlobs(findMissing(blob)));
        assertThat(code(() -> actionCache(null).getActionResult(lookup(action, TEAM))))
                .isEqualTo(Status.Code.UNAUTHENTICATED);
    }

    @Test
    void badTokensAndExpiredJwtsAreRefusedAtBothFrontsAndAGoodJwtReads() throws Exception {
        String path = "/cache/" + TEAM + "/ac/" + "0".repeat(64);
        Digest action = DigestFunction.SHA256.digestOf("never stored".getBytes(StandardCharsets.UTF_8));
        for (String refused : new String[] {token(), JWTS.expired("ci-bot")}) {
            client.get().uri(path).header(HttpHeaders.AUTHORIZATION, "Bearer " + refused).exchange()
                    .expectStatus().isUnauthorized()
                    .expectHeader().valueEquals(HttpHeaders.WWW_AUTHENTICATE, "Bearer realm=\"vouch\", error=\"invalid_token\"");
            assertThat(code(() -> actionCache(refused).getActionResult(lookup(action, TEAM))))
                    .isEqualTo(Status.Code.UNAUTHENTICATED);
        }
        String reader = JWTS.valid("dev-laptop", List.of("team-a/.*"), List.of("read"));
        client.get().uri(path).header(HttpHeaders.AUTHORIZATION, "Bearer " + reader).exchange().expectStatus().isNotFound();
        assertThat(code(() -> actionCache(reader).getActionResult(lookup(action, TEAM)))).isEqualTo(Status.Code.NOT_FOUND);
        assertDenied(() -> actionCache(reader).updateActionResult(UpdateActionResultRequest.newBuilder()
                .setInstanceName(TEAM).setActionDigest(action.toProto()).setActionResult(ActionResult.getDefaultInstance())
                .build()));
    }

    private WriteResponse write(String token, Digest blob, byte[] data) throws Exception {
        CompletableFuture<WriteResponse> done = new CompletableFuture<>();
        StreamObserver<WriteRequest> upload = ByteStreamGrpc.newStub(channel).withInterceptors(bearer(token))
                .write(new StreamObserver<>() {
                    @Override
                    public void onNext(WriteResponse value) {
                        done.complete(value);
                    }

                    @Override
                    public void onError(Throwable t) {
                        done.completeExceptionally(t);
                    }

                    @Override
                    public void onCompleted() {
                        done.completeExceptionally(new IllegalStateException("no WriteResponse"));
                    }
                });
        upload.onNext(WriteRequest.newBuilder().setResourceName(TEAM + "/uploads/" + UUID.randomUUID() + "/blobs/"
                + blob.hash() + "/" + blob.sizeBytes()).setData(ByteString.copyFrom(data)).setFinishWrite(true).build());
        upload.onCompleted();
        try {
            return done.get(20, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof StatusRuntimeException sre ? sre : e;
        }
    }

    private static FindMissingBlobsRequest findMissing(Digest blob) {
        return FindMissingBlobsRequest.newBuilder().setInstanceName(TEAM).addBlobDigests(blob.toProto()).build();
    }

    private static GetActionResultRequest lookup(Digest action, String instanceName) {
        return GetActionResultRequest.newBuilder().setInstanceName(instanceName).setActionDigest(action.toProto()).build();
    }

    private ActionCacheGrpc.ActionCacheBlockingStub actionCache(String token) {
        return ActionCacheGrpc.newBlockingStub(channel).withInterceptors(bearer(token)).withDeadlineAfter(20, TimeUnit.SECONDS);
    }

    private ContentAddressableStorageGrpc.ContentAddressableStorageBlockingStub cas(String token) {
        return ContentAddressableStorageGrpc.newBlockingStub(channel).withInterceptors(bearer(token))
                .withDeadlineAfter(20, TimeUnit.SECONDS);
    }

    private static io.grpc.ClientInterceptor bearer(String token) {
        Metadata headers = new Metadata();
        if (token != null) {
            headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
        }
        return MetadataUtils.newAttachHeadersInterceptor(headers);
    }

    interface Call {
        Object run() throws Exception;
    }

    private static Status.Code code(Call call) throws Exception {
        try {
            call.run();
            return Status.Code.OK;
        } catch (StatusRuntimeException e) {
            return e.getStatus().getCode();
        }
    }

    private static void assertDenied(Call call) throws Exception {
        StatusRuntimeException e = catchThrowableOfType(StatusRuntimeException.class, call::run);
        assertThat(e).as("a refusal").isNotNull();
        assertThat(e.getStatus().getCode()).as(e.getStatus().toString()).isEqualTo(Status.Code.PERMISSION_DENIED);
    }

    private static void entry(DynamicPropertyRegistry registry, int i, String name, String token, String rights)
            throws Exception {
        String key = "vouch.auth.tokens[" + i + "].";
        String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                .digest(token.getBytes(StandardCharsets.UTF_8)));
        registry.add(key + "name", () -> name);
        registry.add(key + "sha256", () -> sha);
        registry.add(key + "instance-patterns[0]", () -> "team-a/.*");
        registry.add(key + "rights", () -> rights);
    }

    private static String token() {
        byte[] bytes = new byte[32];
        new SecureRandom().nextBytes(bytes);
        return HexFormat.of().formatHex(bytes);
    }
}
