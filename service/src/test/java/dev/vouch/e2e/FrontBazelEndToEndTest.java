package dev.vouch.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.ActionCacheGrpc;
import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.GetActionResultRequest;
import build.bazel.remote.execution.v2.OutputFile;
import com.google.bytestream.ReactorByteStreamGrpc;
import com.google.bytestream.WriteRequest;
import com.google.protobuf.ByteString;
import dev.vouch.api.grpc.GrpcServer;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;
import reactor.core.publisher.Flux;

/**
 * Issue 9's story with a real Bazel 4.2.3 and {@code --remote_download_minimal}: a cache that lost a
 * CAS blob a downstream action consumes (and that consumer's Action Cache entry, as when its code
 * changed) breaks the build when Bazel talks to the cache directly; through Vouch's cache front the
 * same build succeeds, Bazel re-running exactly the action whose entry is incomplete and the
 * consumer, and Vouch counts the incomplete entry PARTIAL at {@code source="front"}. Once against
 * nginx WebDAV (Vouch's {@code http} backend, instance name "nginx"), once against the embedded
 * store; then nginx is stopped and Bazel, told UNAVAILABLE, builds locally.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        // deletions right after a build must be seen at once, not after the presence window
        properties = {"vouch.grpc.port=0", "vouch.front.presence-ttl=0s"})
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class FrontBazelEndToEndTest {
    private static final Path ROOT = E2eFiles.createTempDirectory("vouch-e2e-front-");
    private static final int NGINX_PORT = Nginx.freePort();
    private static final int ACTIONS = 5;
    private static final String[] COMMON = {"--incompatible_strict_action_env", "--spawn_strategy=local", "--color=no",
        "--curses=no", "--remote_timeout=60", "--remote_download_minimal"};

    @DynamicPropertySource
    static void backends(DynamicPropertyRegistry registry) {
        registry.add("vouch.data-dir", () -> ROOT.resolve("data").toString());
        registry.add("vouch.backends[0].name", () -> "embedded");
        registry.add("vouch.backends[0].type", () -> "embedded");
        registry.add("vouch.backends[1].name", () -> "nginx");
        registry.add("vouch.backends[1].type", () -> "http");
        registry.add("vouch.backends[1].url", () -> "http://127.0.0.1:" + NGINX_PORT);
        registry.add("vouch.backends[1].call-timeout", () -> "10s");
        registry.add("vouch.routes[0].instance-pattern", () -> "nginx");
        registry.add("vouch.routes[0].backend", () -> "nginx");
    }

    @Autowired
    GrpcServer grpcServer;

    @Autowired
    MeterRegistry meters;

    @LocalServerPort
    int httpPort;

    private Nginx nginx;
    private Bazel bazel;
    // an entry stored over /cache, asked for again once nginx is down
    private Digest httpAction;

    @BeforeAll
    void start() throws Exception {
        Bazel.ensureInstalled();
        nginx = Nginx.start(ROOT.resolve("nginx"), NGINX_PORT);
        Path workspace = ROOT.resolve("workspace");
        E2eFiles.copyWorkspace(workspace);
        bazel = new Bazel(workspace, ROOT.resolve("bazel-root"));
    }

    @AfterAll
    void cleanUp() throws Exception {
        if (nginx != null) {
            nginx.close();
        }
        if (bazel != null) {
            bazel.run("clean", "--expunge");
        }
        E2eFiles.deleteTree(ROOT);
    }

    /** The seed's failure, against nginx alone, and the same cache through Vouch's front. */
    @Test
    @Order(1)
    void nginxWithALostBlobBreaksBazelDirectlyButNotThroughTheFront() throws Exception {
        String direct = "--remote_cache=http://127.0.0.1:" + NGINX_PORT;
        String filled = bazel.run("build", E2eVerdicts.concat(COMMON, direct, "//..."));
        assertThat(E2eFiles.processes(filled, "local")).as(filled).isEqualTo(ACTIONS);
        LostBlobs.loseGreetingAndShout(nginx.cacheDir().resolve("ac"), nginx.cacheDir().resolve("cas"));

        bazel.run("clean");
        Bazel.Outcome broken = bazel.attempt("build", E2eVerdicts.concat(COMMON, direct, "//..."));
        // the error text is the evidence: keep it in the test's output
        System.out.println("Bazel directly against nginx, after the blob was deleted, exit " + broken.exitCode() + ":\n"
                + broken.output());
        assertThat(broken.exitCode()).as(broken.output()).isNotZero();
        assertThat(broken.output()).contains("does not exist remotely");

        double partialBefore = frontVerdicts("nginx", "PARTIAL");
        double missBefore = frontVerdicts("nginx", "MISS");
        bazel.run("clean");
        String viaFront = bazel.run("build", viaVouch("nginx"));

        assertThat(E2eFiles.processes(viaFront, "local")).as("greeting (incomplete) and shout (no entry) run:\n%s", viaFront)
                .isEqualTo(2);
        assertThat(E2eFiles.processes(viaFront, "remote cache hit")).as(viaFront).isEqualTo(ACTIONS - 2);
        assertThat(frontVerdicts("nginx", "PARTIAL") - partialBefore).isEqualTo(1);
        assertThat(frontVerdicts("nginx", "MISS") - missBefore).isEqualTo(1);
        // what Bazel re-ran went back to nginx through the front
        assertThat(LostBlobs.find(nginx.cacheDir().resolve("ac"), "shout.txt")).isNotNull();
    }

    @Test
    @Order(2)
    void theEmbeddedStoreWithALostBlobDoesNotBreakBazel() throws Exception {
        Path data = ROOT.resolve("data");
        bazel.run("clean");
        String filled = bazel.run("build", viaVouch(""));
        assertThat(E2eFiles.processes(filled, "local")).as(filled).isEqualTo(ACTIONS);
        LostBlobs.loseGreetingAndShout(data.resolve("ac"), data.resolve("cas"));
        double partialBefore = frontVerdicts("embedded", "PARTIAL");

        bazel.run("clean");
        String again = bazel.run("build", viaVouch(""));

        assertThat(E2eFiles.processes(again, "local")).as(again).isEqualTo(2);
        assertThat(E2eFiles.processes(again, "remote cache hit")).as(again).isEqualTo(ACTIONS - 2);
        assertThat(frontVerdicts("embedded", "PARTIAL") - partialBefore).isEqualTo(1);
    }

    /** A blob whose bytes do not match its digest is refused by the front and never reaches nginx. */
    @Test
    @Order(3)
    void aWrongBlobNeverReachesNginx() throws Exception {
        byte[] claimed = ("claimed " + UUID.randomUUID()).getBytes(StandardCharsets.UTF_8);
        Digest digest = DigestFunction.SHA256.digestOf(claimed);
        byte[] sent = claimed.clone();
        sent[0] ^= 1;
        ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", grpcServer.port()).usePlaintext().build();
        try {
            StatusRuntimeException refused = null;
            try {
                ReactorByteStreamGrpc.newReactorStub(channel).write(Flux.just(WriteRequest.newBuilder()
                        .setResourceName("nginx/uploads/" + UUID.randomUUID() + "/blobs/" + digest.hash() + "/" + claimed.length)
                        .setData(ByteString.copyFrom(sent)).setFinishWrite(true).build())).block(Duration.ofSeconds(30));
            } catch (StatusRuntimeException e) {
                refused = e;
            }
            assertThat(refused).isNotNull();
            assertThat(refused.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
            assertThat(nginx.cacheDir().resolve("cas").resolve(digest.hash())).doesNotExist();
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    /** The HTTP protocol in front of nginx: {@code /cache/nginx/...} is translated and checked as gRPC is. */
    @Test
    @Order(4)
    void theHttpFrontChecksNginxToo() throws Exception {
        byte[] blob = ("http front " + UUID.randomUUID()).getBytes(StandardCharsets.UTF_8);
        Digest digest = DigestFunction.SHA256.digestOf(blob);
        Digest action = DigestFunction.SHA256.digestOf(("http action " + UUID.randomUUID()).getBytes(StandardCharsets.UTF_8));
        byte[] result = ActionResult.newBuilder().addOutputFiles(OutputFile.newBuilder().setPath("out/http.o")
                .setDigest(digest.toProto())).build().toByteArray();
        WebTestClient http = WebTestClient.bindToServer().baseUrl("http://127.0.0.1:" + httpPort)
                .responseTimeout(Duration.ofSeconds(30)).build();

        http.put().uri("/cache/nginx/cas/" + digest.hash()).bodyValue(blob).exchange().expectStatus().isOk();
        http.put().uri("/cache/nginx/ac/" + action.hash()).bodyValue(result).exchange().expectStatus().isOk();
        assertThat(nginx.cacheDir().resolve("cas").resolve(digest.hash())).hasBinaryContent(blob);
        http.get().uri("/cache/nginx/ac/" + action.hash()).exchange().expectStatus().isOk()
                .expectBody(byte[].class).isEqualTo(result);
        http.get().uri("/cache/nginx/cas/" + digest.hash()).exchange().expectStatus().isOk()
                .expectBody(byte[].class).isEqualTo(blob);

        Files.delete(nginx.cacheDir().resolve("cas").resolve(digest.hash()));

        http.get().uri("/cache/nginx/ac/" + action.hash()).exchange().expectStatus().isNotFound();
        http.head().uri("/cache/nginx/ac/" + action.hash()).exchange().expectStatus().isNotFound();
        // a wrong body is refused, and nginx never gets it
        http.put().uri("/cache/nginx/cas/" + digest.hash()).bodyValue(result).exchange().expectStatus().isBadRequest();
        assertThat(nginx.cacheDir().resolve("cas").resolve(digest.hash())).doesNotExist();
        httpAction = action;
    }

    /** nginx stopped: the front says UNAVAILABLE, never an entry, and Bazel builds everything locally. */
    @Test
    @Order(5)
    void nginxDownMakesBazelBuildLocally() throws Exception {
        Path chattyEntry = LostBlobs.find(nginx.cacheDir().resolve("ac"), "chatty.txt");
        nginx.close();
        ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", grpcServer.port()).usePlaintext().build();
        try {
            // the hash names the entry in nginx; its size is not part of the HTTP protocol's key
            Digest action = new Digest(chattyEntry.getFileName().toString(), 0);
            StatusRuntimeException refused = null;
            try {
                ActionCacheGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
                        .getActionResult(GetActionResultRequest.newBuilder().setInstanceName("nginx")
                                .setActionDigest(action.toProto()).build());
            } catch (StatusRuntimeException e) {
                refused = e;
            }
            assertThat(refused).isNotNull();
            assertThat(refused.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
            WebTestClient.bindToServer().baseUrl("http://127.0.0.1:" + httpPort).responseTimeout(Duration.ofSeconds(30))
                    .build().get().uri("/cache/nginx/ac/" + httpAction.hash()).exchange().expectStatus().isEqualTo(503);
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }

        bazel.run("clean");
        String local = bazel.run("build", viaVouch("nginx"));

        assertThat(E2eFiles.processes(local, "local")).as(local).isEqualTo(ACTIONS);
        assertThat(E2eFiles.processes(local, "remote cache hit")).as(local).isZero();
    }

    private String[] viaVouch(String instance) {
        return E2eVerdicts.concat(COMMON, "--remote_cache=grpc://127.0.0.1:" + grpcServer.port(),
                "--remote_instance_name=" + instance, "//...");
    }

    private double frontVerdicts(String backend, String verdict) {
        return meters.find("vouch.verdicts").tags("source", "front", "backend", backend, "verdict", verdict)
                .counters().stream().mapToDouble(Counter::count).sum();
    }
}
