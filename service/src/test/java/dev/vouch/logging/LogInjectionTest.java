package dev.vouch.logging;

import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.BatchUpdateBlobsRequest;
import build.bazel.remote.execution.v2.BatchUpdateBlobsResponse;
import build.bazel.remote.execution.v2.CapabilitiesGrpc;
import build.bazel.remote.execution.v2.ContentAddressableStorageGrpc;
import build.bazel.remote.execution.v2.Digest;
import build.bazel.remote.execution.v2.GetCapabilitiesRequest;
import build.bazel.remote.execution.v2.ServerCapabilities;
import com.google.bytestream.ByteStreamGrpc;
import com.google.bytestream.WriteRequest;
import com.google.bytestream.WriteResponse;
import com.google.protobuf.ByteString;
import dev.vouch.api.grpc.GrpcServer;
import dev.vouch.v1.ValidateRequest;
import dev.vouch.v1.ValidateResponse;
import dev.vouch.v1.ValidationServiceGrpc;
import dev.vouch.v1.Verdict;
import io.grpc.Grpc;
import io.grpc.InsecureServerCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;
import org.springframework.boot.webtestclient.autoconfigure.AutoConfigureWebTestClient;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;

/**
 * Issue 7 item 9: a client string with a line break must not start a log line of its own. Each
 * case sends a value that carries a whole forged log line after a {@code \n} (an instance name a
 * remote cache echoes in its error, a ByteStream resource name, a raw hash of a batch upload) and
 * checks that the forged text stays on the line that quotes it, escaped.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
@AutoConfigureWebTestClient
@ExtendWith(OutputCaptureExtension.class)
class LogInjectionTest {
    // what an attacker wants a log reader (or a log shipper splitting on newlines) to see as a line of its own
    private static final String FORGED = "2026-01-01T00:00:00.000Z ERROR 1 --- [main] dev.vouch.Audit : ";
    private static final String ACTION = "a".repeat(64);

    /** A remote cache that, like real ones, names the instance it does not know in its error. */
    private static final Server ECHOING_CACHE = startEchoingCache();

    @TempDir
    static Path dataDir;

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry registry) {
        registry.add("vouch.grpc.port", () -> "0");
        registry.add("vouch.data-dir", () -> dataDir.toString());
        registry.add("vouch.backends[0].name", () -> "embedded");
        registry.add("vouch.backends[0].type", () -> "embedded");
        registry.add("vouch.backends[1].name", () -> "remote");
        registry.add("vouch.backends[1].type", () -> "grpc");
        registry.add("vouch.backends[1].target", () -> "grpc://127.0.0.1:" + ECHOING_CACHE.getPort());
        registry.add("vouch.routes[0].instance-pattern", () -> "(?s)tenant/.*");
        registry.add("vouch.routes[0].backend", () -> "remote");
        registry.add("vouch.default-backend", () -> "embedded");
    }

    @Autowired
    WebTestClient client;

    @Autowired
    GrpcServer grpcServer;

    private ManagedChannel channel;

    @BeforeEach
    void connect() {
        channel = NettyChannelBuilder.forAddress("127.0.0.1", grpcServer.port()).usePlaintext().build();
    }

    @AfterEach
    void disconnect() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    @AfterAll
    static void stopCache() throws InterruptedException {
        ECHOING_CACHE.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    @Test
    void restInstanceNameEchoedByARemoteCache(CapturedOutput output) {
        String instance = "tenant/a\n" + FORGED + "FORGED-REST admin password reset";
        client.mutate().responseTimeout(Duration.ofSeconds(30)).build()
                .get().uri(uri -> uri.path("/v1/actions/" + ACTION + "/10").queryParam("instanceName", "{name}")
                        .build(instance))
                .exchange()
                .expectStatus().isOk()
                .expectBody().jsonPath("$.verdict").isEqualTo("UNKNOWN");

        assertStaysOnItsLine(output, "FORGED-REST");
    }

    @Test
    void grpcInstanceNameEchoedByARemoteCache(CapturedOutput output) {
        ValidateResponse response = ValidationServiceGrpc.newBlockingStub(channel)
                .withDeadlineAfter(30, TimeUnit.SECONDS)
                .validate(ValidateRequest.newBuilder()
                        .setInstanceName("tenant/b\r\n" + FORGED + "FORGED-GRPC cache wiped")
                        .addActions(Digest.newBuilder().setHash(ACTION).setSizeBytes(10))
                        .build());
        assertThat(response.getResults(0).getVerdict()).isEqualTo(Verdict.UNKNOWN);

        assertStaysOnItsLine(output, "FORGED-GRPC");
    }

    @Test
    void byteStreamResourceName(CapturedOutput output) {
        String resource = "uploads/u1/blobs/" + ACTION + "\n" + FORGED + "FORGED-BYTESTREAM upload accepted/5";
        StatusRuntimeException refused = writeExpectingError(resource);
        assertThat(refused.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);

        assertStaysOnItsLine(output, "FORGED-BYTESTREAM");
    }

    @Test
    void rawHashOfABatchUpload(CapturedOutput output) {
        BatchUpdateBlobsResponse response = ContentAddressableStorageGrpc.newBlockingStub(channel)
                .withDeadlineAfter(30, TimeUnit.SECONDS)
                .batchUpdateBlobs(BatchUpdateBlobsRequest.newBuilder()
                        .addRequests(BatchUpdateBlobsRequest.Request.newBuilder()
                                .setDigest(Digest.newBuilder().setHash("ab\n" + FORGED + "FORGED-BATCH ok").setSizeBytes(2))
                                .setData(ByteString.copyFromUtf8("hi")))
                        .build());
        assertThat(response.getResponses(0).getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT.value());

        assertStaysOnItsLine(output, "FORGED-BATCH");
    }

    /** Every line that mentions {@code marker} is a real log line that carries the forged text escaped. */
    private static void assertStaysOnItsLine(CapturedOutput output, String marker) {
        Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> output.getAll().contains(marker));
        List<String> lines = output.getAll().lines().filter(line -> line.contains(marker)).toList();
        assertThat(lines).allSatisfy(line -> assertThat(line)
                .doesNotStartWith(FORGED)
                .contains("\\n" + FORGED));
    }

    private StatusRuntimeException writeExpectingError(String resource) {
        CompletableFuture<Throwable> error = new CompletableFuture<>();
        StreamObserver<WriteRequest> upload = ByteStreamGrpc.newStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
                .write(new StreamObserver<>() {
                    @Override
                    public void onNext(WriteResponse value) {
                    }

                    @Override
                    public void onError(Throwable t) {
                        error.complete(t);
                    }

                    @Override
                    public void onCompleted() {
                        error.complete(new AssertionError("the upload was accepted"));
                    }
                });
        upload.onNext(WriteRequest.newBuilder().setResourceName(resource).setData(ByteString.copyFromUtf8("hello"))
                .setFinishWrite(true).build());
        upload.onCompleted();
        Throwable t = error.orTimeout(30, TimeUnit.SECONDS).join();
        assertThat(t).isInstanceOf(StatusRuntimeException.class);
        return (StatusRuntimeException) t;
    }

    private static Server startEchoingCache() {
        try {
            return Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create())
                    .addService(new CapabilitiesGrpc.CapabilitiesImplBase() {
                        @Override
                        public void getCapabilities(GetCapabilitiesRequest request,
                                StreamObserver<ServerCapabilities> response) {
                            response.onError(Status.INVALID_ARGUMENT
                                    .withDescription("unknown instance name \"" + request.getInstanceName() + "\"")
                                    .asRuntimeException());
                        }
                    })
                    .build()
                    .start();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
