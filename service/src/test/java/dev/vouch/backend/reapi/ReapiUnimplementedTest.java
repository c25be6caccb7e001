package dev.vouch.backend.reapi;

import static dev.vouch.backend.reapi.ReapiTestServer.TIMEOUT;
import static dev.vouch.backend.reapi.ReapiTestServer.config;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.Directory;
import build.bazel.remote.execution.v2.DirectoryNode;
import build.bazel.remote.execution.v2.FileNode;
import build.bazel.remote.execution.v2.OutputDirectory;
import build.bazel.remote.execution.v2.Tree;
import dev.vouch.backend.BackendException;
import dev.vouch.backend.CacheBackend;
import dev.vouch.backend.Scope;
import dev.vouch.backend.resilience.ResilienceRegistries;
import dev.vouch.backend.resilience.ResilientCallGuard;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.validation.ActionVerdict;
import dev.vouch.validation.BlobKind;
import dev.vouch.validation.BlobProblem;
import dev.vouch.validation.CompletenessValidator;
import dev.vouch.validation.Mode;
import dev.vouch.validation.ValidationMetrics;
import dev.vouch.validation.ValidationRequest;
import dev.vouch.validation.Verdict;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.grpc.Status;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import reactor.test.StepVerifier;

/**
 * Servers that lack some CAS calls: Bazel's remote worker (REAPI 2.0) answers BatchReadBlobs with
 * UNIMPLEMENTED, other servers GetTree. That is an answer about the server, not a failure: the
 * blob is read with ByteStream.Read (the tree walked Directory by Directory), later reads go there
 * directly, and the circuit breaker and the retry see no failure.
 */
class ReapiUnimplementedTest {
    private static final Scope SCOPE = Scope.of("");
    private static final long MAX_BATCH = 64 * 1024;

    /** What grpc-java's servers answer for a method they do not implement. */
    private static Status unimplemented(String method) {
        return Status.UNIMPLEMENTED.withDescription(
                "Method build.bazel.remote.execution.v2.ContentAddressableStorage/" + method + " is unimplemented");
    }

    private final List<AutoCloseable> open = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : open) {
            c.close();
        }
    }

    private ReapiTestServer server(ReapiTestServer server) {
        open.add(server);
        return server;
    }

    private ReapiBackend backend(ReapiBackend backend) {
        open.add(0, backend);
        return backend;
    }

    private static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void batchReadsUnimplementedAreReadWithByteStream() {
        ReapiTestServer server = server(ReapiTestServer.start(MAX_BATCH));
        server.fail("BatchReadBlobs", unimplemented("BatchReadBlobs"));
        ReapiBackend backend = backend(new ReapiBackend(config(server.target())));
        Digest first = server.put(bytes("first"));
        Digest second = server.put(bytes("second"));

        StepVerifier.create(backend.readSmallBlob(SCOPE, first))
                .assertNext(b -> assertThat(b).isEqualTo(bytes("first"))).expectComplete().verify(TIMEOUT);
        StepVerifier.create(backend.readSmallBlob(SCOPE, second))
                .assertNext(b -> assertThat(b).isEqualTo(bytes("second"))).expectComplete().verify(TIMEOUT);

        assertThat(server.calls("BatchReadBlobs")).as("asked once, then remembered").isEqualTo(1);
        assertThat(server.calls("Read")).isEqualTo(2);
    }

    @Test
    void unimplementedIsNeitherRetriedNorAFailureOfTheCircuit() {
        ReapiTestServer server = server(ReapiTestServer.start(MAX_BATCH));
        server.fail("BatchReadBlobs", unimplemented("BatchReadBlobs"));
        server.fail("GetTree", unimplemented("GetTree"));
        // 3 attempts per call; a window of 2 calls that opens at the first failure of them
        VouchProperties.Resilience settings = new VouchProperties.Resilience(
                new VouchProperties.CircuitBreakerSettings(50, Duration.ofSeconds(5), 80, 2, 2, Duration.ofSeconds(30), 1),
                new VouchProperties.RetrySettings(3, Duration.ofMillis(10), 2, 0.5, Duration.ofMillis(100)),
                new VouchProperties.BulkheadSettings(64),
                new VouchProperties.TimeLimiterSettings(null));
        ResilientCallGuard guard = new ResilientCallGuard("remote", settings, Duration.ofSeconds(10), ResilienceRegistries.create());
        ReapiBackend backend = backend(new ReapiBackend(config(server.target()), guard));
        Digest blob = server.put(bytes("blob"));
        Digest root = server.put(Directory.newBuilder().addFiles(file("blob", blob)).build());

        StepVerifier.create(backend.readSmallBlob(SCOPE, blob))
                .assertNext(b -> assertThat(b).isEqualTo(bytes("blob"))).expectComplete().verify(TIMEOUT);
        StepVerifier.create(backend.getTree(SCOPE, root)).expectNextCount(1).expectComplete().verify(TIMEOUT);

        assertThat(server.calls("BatchReadBlobs")).as("not retried").isEqualTo(1);
        assertThat(server.calls("GetTree")).as("not retried").isEqualTo(1);
        CircuitBreaker.Metrics metrics = guard.circuitBreaker().getMetrics();
        assertThat(metrics.getNumberOfFailedCalls()).isZero();
        assertThat(guard.circuitBreaker().getState()).isEqualTo(CircuitBreaker.State.CLOSED);
    }

    @Test
    void otherBatchReadFailuresStayFailuresAndBatchesAreAskedAgain() {
        ReapiTestServer server = server(ReapiTestServer.start(MAX_BATCH));
        server.failNext("BatchReadBlobs", Status.INTERNAL.withDescription("disk error"), 1);
        ReapiBackend backend = backend(new ReapiBackend(config(server.target())));
        Digest blob = server.put(bytes("blob"));

        StepVerifier.create(backend.readSmallBlob(SCOPE, blob))
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(BackendException.class)
                        .hasMessageContaining("BatchReadBlobs").hasMessageContaining("INTERNAL: disk error"))
                .verify(TIMEOUT);
        StepVerifier.create(backend.readSmallBlob(SCOPE, blob))
                .assertNext(b -> assertThat(b).isEqualTo(bytes("blob"))).expectComplete().verify(TIMEOUT);

        assertThat(server.calls("BatchReadBlobs")).isEqualTo(2);
        assertThat(server.calls("Read")).isZero();
    }

    @Test
    void getTreeUnimplementedWalksTheDirectories() {
        ReapiTestServer server = server(ReapiTestServer.start(MAX_BATCH));
        server.fail("GetTree", unimplemented("GetTree"));
        ReapiBackend backend = backend(new ReapiBackend(config(server.target())));
        Digest leaf = server.put(bytes("leaf"));
        Directory deeper = Directory.newBuilder().addFiles(file("leaf.txt", leaf)).build();
        Directory sub = Directory.newBuilder().addDirectories(dir("deeper", server.put(deeper))).build();
        Directory root = Directory.newBuilder().addDirectories(dir("sub", server.put(sub))).build();
        Digest rootDigest = server.put(root);

        for (int i = 0; i < 2; i++) {
            StepVerifier.create(backend.getTree(SCOPE, rootDigest).collectList())
                    .assertNext(dirs -> assertThat(dirs).containsExactly(root, sub, deeper))
                    .expectComplete().verify(TIMEOUT);
        }
        assertThat(server.calls("GetTree")).as("asked once, then remembered").isEqualTo(1);
    }

    /** Bazel's remote worker, as the validator meets it: output directories are decided exactly. */
    @Test
    void outputDirectoryVerdictsWithoutBatchReads() {
        ReapiTestServer server = server(ReapiTestServer.start(MAX_BATCH));
        server.fail("BatchReadBlobs", unimplemented("BatchReadBlobs"));
        ReapiBackend backend = backend(new ReapiBackend(config(server.target())));
        Digest x = server.put(bytes("x"));
        Digest y = server.put(bytes("y"));
        Directory sub = Directory.newBuilder().addFiles(file("y", y)).build();
        Tree tree = Tree.newBuilder()
                .setRoot(Directory.newBuilder().addFiles(file("x", x))
                        .addDirectories(dir("sub", DigestFunction.SHA256.digestOf(sub.toByteArray()))))
                .addChildren(sub)
                .build();
        Digest treeDigest = server.put(tree);
        Digest action = server.putAction("tree", ActionResult.newBuilder()
                .addOutputDirectories(OutputDirectory.newBuilder().setPath("out/dir").setTreeDigest(treeDigest.toProto()))
                .build());

        ActionVerdict hit = validate(backend, action);
        assertThat(hit.verdict()).as(String.valueOf(hit.reason())).isEqualTo(Verdict.HIT);
        server.store.evictBlob(y);
        ActionVerdict partial = validate(backend, action);

        assertThat(partial.verdict()).as(String.valueOf(partial.reason())).isEqualTo(Verdict.PARTIAL);
        assertThat(partial.missing()).containsExactly(new BlobProblem(y, BlobKind.OUTPUT_DIRECTORY_FILE, List.of("out/dir/sub/y")));
        assertThat(server.calls("BatchReadBlobs")).isEqualTo(1);
    }

    @Test
    void batchReadsAreTriedAgainOnANewConnection() throws Exception {
        ReapiTestServer first = ReapiTestServer.start(MAX_BATCH);
        first.fail("BatchReadBlobs", unimplemented("BatchReadBlobs"));
        int port = first.port();
        ReapiBackend backend = backend(new ReapiBackend(config("grpc://127.0.0.1:" + port)));
        Digest blob = first.put(bytes("blob"));
        StepVerifier.create(backend.readSmallBlob(SCOPE, blob)).expectNextCount(1).expectComplete().verify(TIMEOUT);
        assertThat(first.calls("Read")).isEqualTo(1);

        // the server is replaced by one that has batch reads, behind the same address
        first.close();
        ReapiTestServer second = server(ReapiTestServer.onPort(port, MAX_BATCH));
        second.put(bytes("blob"));
        backend.channel().resetConnectBackoff();
        await().atMost(TIMEOUT).until(() -> backend.readSmallBlob(SCOPE, blob).map(b -> true).onErrorReturn(false)
                .block(TIMEOUT));

        assertThat(second.calls("BatchReadBlobs")).isEqualTo(1);
        assertThat(second.calls("Read")).isZero();
    }

    private static ActionVerdict validate(CacheBackend backend, Digest action) {
        CompletenessValidator validator = new CompletenessValidator(instance -> backend, VouchProperties.Limits.defaults(),
                new ValidationMetrics(new SimpleMeterRegistry()));
        return validator.validate(new ValidationRequest(SCOPE, Mode.EXISTENCE, List.of(action), false)).single()
                .block(TIMEOUT);
    }

    private static FileNode file(String name, Digest digest) {
        return FileNode.newBuilder().setName(name).setDigest(digest.toProto()).build();
    }

    private static DirectoryNode dir(String name, Digest digest) {
        return DirectoryNode.newBuilder().setName(name).setDigest(digest.toProto()).build();
    }
}
