package dev.vouch.backend.reapi;

import static dev.vouch.backend.reapi.ReapiTestServer.TIMEOUT;
import static dev.vouch.backend.reapi.ReapiTestServer.config;
import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.BatchReadBlobsRequest;
import build.bazel.remote.execution.v2.Directory;
import build.bazel.remote.execution.v2.DirectoryNode;
import build.bazel.remote.execution.v2.FileNode;
import build.bazel.remote.execution.v2.FindMissingBlobsRequest;
import build.bazel.remote.execution.v2.OutputFile;
import com.google.bytestream.ReadRequest;
import dev.vouch.backend.BackendException;
import dev.vouch.backend.BlobNotFoundException;
import dev.vouch.backend.Scope;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.digest.DigestSet;
import io.grpc.Metadata;
import io.grpc.Status;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import reactor.test.StepVerifier;

/** ReapiBackend against a separate embedded REAPI server over loopback Netty. */
class ReapiBackendTest {
    private static final Scope SCOPE = Scope.of("");
    private static final long MAX_BATCH = 64 * 1024;

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

    private ReapiBackend backend(dev.vouch.config.VouchProperties.Backend config) {
        return backend(new ReapiBackend(config));
    }

    private ReapiBackend backend(ReapiBackend backend) {
        open.add(0, backend);
        return backend;
    }

    private static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] randomBytes(int size) {
        byte[] bytes = new byte[size];
        new Random(size).nextBytes(bytes);
        return bytes;
    }

    private static byte[] concat(List<ByteBuffer> buffers) {
        int total = buffers.stream().mapToInt(ByteBuffer::remaining).sum();
        ByteBuffer all = ByteBuffer.allocate(total);
        buffers.forEach(all::put);
        return all.array();
    }

    @Test
    void actionCacheEntryAndNotFoundAsEmpty() {
        ReapiTestServer server = server(ReapiTestServer.start(MAX_BATCH));
        ReapiBackend backend = backend(config(server.target()));
        ActionResult result = ActionResult.newBuilder()
                .addOutputFiles(OutputFile.newBuilder().setPath("a.o").setDigest(server.put(bytes("a")).toProto()))
                .build();
        Digest action = server.putAction("compile a", result);

        StepVerifier.create(backend.getActionResult(SCOPE, action)).expectNext(result).expectComplete().verify(TIMEOUT);
        StepVerifier.create(backend.getActionResult(SCOPE, DigestFunction.SHA256.digestOf(bytes("never ran"))))
                .expectComplete()
                .verify(TIMEOUT);
    }

    @Test
    void capabilitiesFromServerAskedOnce() {
        ReapiTestServer server = server(ReapiTestServer.start(MAX_BATCH));
        ReapiBackend backend = backend(config(server.target()));

        for (int i = 0; i < 3; i++) {
            StepVerifier.create(backend.capabilities(SCOPE))
                    .assertNext(caps -> {
                        assertThat(caps.digestFunctions()).containsExactly(DigestFunction.SHA256);
                        assertThat(caps.maxBatchTotalSizeBytes()).isEqualTo(MAX_BATCH);
                    })
                    .expectComplete()
                    .verify(TIMEOUT);
        }
        assertThat(server.calls("GetCapabilities")).isEqualTo(1);
    }

    @Test
    void findMissingNamesAbsentDigestsAndSendsDigestFunction() {
        ReapiTestServer server = server(ReapiTestServer.start(MAX_BATCH));
        ReapiBackend backend = backend(config(server.target()));
        Digest present = server.put(bytes("present"));
        Digest absent = DigestFunction.SHA256.digestOf(bytes("absent"));
        Digest empty = DigestFunction.SHA256.digestOf(new byte[0]);

        StepVerifier.create(backend.findMissing(SCOPE, DigestSet.of(present, absent, empty)))
                .expectNext(DigestSet.of(absent))
                .expectComplete()
                .verify(TIMEOUT);
        List<FindMissingBlobsRequest> requests = server.received(FindMissingBlobsRequest.class);
        assertThat(requests).hasSize(1);
        // the empty blob is present by definition and never asked about
        assertThat(requests.get(0).getBlobDigestsList()).containsExactly(present.toProto(), absent.toProto());
        assertThat(requests.get(0).getDigestFunction())
                .isEqualTo(build.bazel.remote.execution.v2.DigestFunction.Value.SHA256);
    }

    @Test
    void findMissingSplitToExactlyKDigestsPerCall() {
        int k = 7;
        FindMissingBlobsRequest base = FindMissingBlobsRequest.newBuilder()
                .setDigestFunction(build.bazel.remote.execution.v2.DigestFunction.Value.SHA256).build();
        List<Digest> digests = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            // sizes below 128 keep every entry the same length on the wire
            digests.add(DigestFunction.SHA256.digestOf(bytes("blob " + i)));
        }
        long entry = com.google.protobuf.CodedOutputStream.computeMessageSize(2, digests.get(0).toProto());
        ReapiTestServer server = server(ReapiTestServer.start(base.getSerializedSize() + k * entry));
        ReapiBackend backend = backend(config(server.target()));
        digests.subList(0, 20).forEach(d -> server.put(bytes("blob " + digests.indexOf(d))));

        StepVerifier.create(backend.findMissing(SCOPE, DigestSet.of(digests)))
                .expectNext(DigestSet.of(digests.subList(20, 50)))
                .expectComplete()
                .verify(TIMEOUT);
        assertThat(server.calls("FindMissingBlobs")).isEqualTo((50 + k - 1) / k);
        assertThat(server.received(FindMissingBlobsRequest.class))
                .allSatisfy(r -> assertThat(r.getBlobDigestsCount()).isLessThanOrEqualTo(k))
                .flatExtracting(FindMissingBlobsRequest::getBlobDigestsList)
                .containsExactlyInAnyOrderElementsOf(digests.stream().map(Digest::toProto).toList());
    }

    @Test
    void smallBlobReadWithBatchReadBlobs() {
        ReapiTestServer server = server(ReapiTestServer.start(MAX_BATCH));
        ReapiBackend backend = backend(config(server.target()));
        byte[] blob = randomBytes(1000);
        Digest digest = server.put(blob);

        StepVerifier.create(backend.readBlob(SCOPE, digest).collectList())
                .assertNext(buffers -> assertThat(concat(buffers)).isEqualTo(blob))
                .expectComplete()
                .verify(TIMEOUT);
        assertThat(server.calls("BatchReadBlobs")).isEqualTo(1);
        assertThat(server.calls("Read")).isZero();
    }

    @Test
    void largeBlobStreamedWithByteStream() {
        ReapiTestServer server = server(ReapiTestServer.start(MAX_BATCH));
        ReapiBackend backend = backend(config(server.target()));
        byte[] blob = randomBytes(3 << 20);
        Digest digest = server.put(blob);

        StepVerifier.create(backend.readBlob(SCOPE, digest).collectList())
                .assertNext(buffers -> {
                    assertThat(buffers.size()).isGreaterThan(1);
                    assertThat(concat(buffers)).isEqualTo(blob);
                })
                .expectComplete()
                .verify(TIMEOUT);
        assertThat(server.calls("BatchReadBlobs")).isZero();
        assertThat(server.received(ReadRequest.class)).extracting(ReadRequest::getResourceName)
                .containsExactly("blobs/" + digest.hash() + "/" + digest.sizeBytes());
    }

    @Test
    void absentBlobIsBlobNotFoundOnBothReadPaths() {
        ReapiTestServer server = server(ReapiTestServer.start(MAX_BATCH));
        ReapiBackend backend = backend(config(server.target()));
        Digest small = DigestFunction.SHA256.digestOf(bytes("small and gone"));
        Digest large = new Digest(DigestFunction.SHA256.digestOf(bytes("large and gone")).hash(), 10 << 20);

        for (Digest absent : List.of(small, large)) {
            StepVerifier.create(backend.readBlob(SCOPE, absent))
                    .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(BlobNotFoundException.class)
                            .extracting(x -> ((BlobNotFoundException) x).digest()).isEqualTo(absent))
                    .verify(TIMEOUT);
        }
        assertThat(server.calls("BatchReadBlobs")).isEqualTo(1);
        assertThat(server.calls("Read")).isEqualTo(1);
    }

    @Test
    void headersArriveOnEveryCall() {
        ReapiTestServer server = server(ReapiTestServer.start(MAX_BATCH));
        ReapiBackend backend = backend(config(server.target(), null,
                Map.of("authorization", "Bearer s3cret", "x-buildbuddy-api-key", "bb-key"), null, Duration.ofSeconds(10)));
        Digest present = server.put(bytes("present"));

        StepVerifier.create(backend.findMissing(SCOPE, DigestSet.of(present))).expectNext(DigestSet.empty())
                .expectComplete().verify(TIMEOUT);
        StepVerifier.create(backend.readBlob(SCOPE, present)).expectNextCount(1).expectComplete().verify(TIMEOUT);

        // GetCapabilities, FindMissingBlobs, BatchReadBlobs
        assertThat(server.headers).hasSize(3).allSatisfy(h -> {
            assertThat(h.get(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER))).isEqualTo("Bearer s3cret");
            assertThat(h.get(Metadata.Key.of("x-buildbuddy-api-key", Metadata.ASCII_STRING_MARSHALLER))).isEqualTo("bb-key");
        });
    }

    @Test
    void configuredInstanceNameReplacesTheRequests() {
        ReapiTestServer server = server(ReapiTestServer.start(MAX_BATCH));
        ReapiBackend backend = backend(config(server.target(), "team/main", Map.of(), null, Duration.ofSeconds(10)));
        Scope requested = Scope.of("what/the/agent/said");
        Digest small = server.put(bytes("small"));
        Digest large = server.put(randomBytes(200_000));

        StepVerifier.create(backend.getActionResult(requested, DigestFunction.SHA256.digestOf(bytes("x"))))
                .expectComplete().verify(TIMEOUT);
        StepVerifier.create(backend.findMissing(requested, DigestSet.of(small))).expectNextCount(1)
                .expectComplete().verify(TIMEOUT);
        StepVerifier.create(backend.readBlob(requested, small)).expectNextCount(1).expectComplete().verify(TIMEOUT);
        StepVerifier.create(backend.readBlob(requested, large).then()).expectComplete().verify(TIMEOUT);

        // GetCapabilities, GetActionResult, FindMissingBlobs, BatchReadBlobs
        assertThat(server.instanceNames()).hasSize(4).containsOnly("team/main");
        assertThat(server.received(ReadRequest.class)).extracting(ReadRequest::getResourceName)
                .containsExactly("team/main/blobs/" + large.hash() + "/" + large.sizeBytes());
    }

    @Test
    void requestInstanceNameSentWithoutOverride() {
        ReapiTestServer server = server(ReapiTestServer.start(MAX_BATCH));
        ReapiBackend backend = backend(config(server.target()));

        StepVerifier.create(backend.getActionResult(Scope.of("ci/linux"), DigestFunction.SHA256.digestOf(bytes("x"))))
                .expectComplete().verify(TIMEOUT);
        assertThat(server.instanceNames()).containsExactly("ci/linux");
    }

    @Test
    void pagedGetTreeFollowsPageTokensAndLeavesOutMissingDirectory() {
        ReapiTestServer server = server(ReapiTestServer.onePagePerCall(MAX_BATCH));
        ReapiBackend backend = backend(new ReapiBackend(config(server.target()), 2));
        Directory leaf = Directory.newBuilder().addFiles(file("leaf.txt", server.put(bytes("leaf")))).build();
        Directory middleA = Directory.newBuilder().addDirectories(dir("leaf", server.put(leaf)))
                .addFiles(file("a.txt", server.put(bytes("a")))).build();
        Directory middleB = Directory.newBuilder().addFiles(file("b.txt", server.put(bytes("b")))).build();
        Directory gone = Directory.newBuilder().addFiles(file("gone.txt", server.put(bytes("gone")))).build();
        Directory root = Directory.newBuilder()
                .addDirectories(dir("a", server.put(middleA)))
                .addDirectories(dir("b", server.put(middleB)))
                .addDirectories(dir("gone", DigestFunction.SHA256.digestOf(gone.toByteArray())))
                .build();
        Digest rootDigest = server.put(root);

        StepVerifier.create(backend.getTree(SCOPE, rootDigest).collectList())
                .assertNext(all -> {
                    assertThat(all.get(0)).isEqualTo(root);
                    assertThat(all).containsExactlyInAnyOrder(root, middleA, middleB, leaf);
                })
                .expectComplete()
                .verify(TIMEOUT);
        // four directories in pages of two, one page per call
        assertThat(server.calls("GetTree")).isEqualTo(2);
    }

    @Test
    void getTreeOfMissingRootIsBlobNotFound() {
        ReapiTestServer server = server(ReapiTestServer.start(MAX_BATCH));
        ReapiBackend backend = backend(config(server.target()));
        Digest absent = DigestFunction.SHA256.digestOf(Directory.newBuilder()
                .addFiles(file("x", DigestFunction.SHA256.digestOf(bytes("x")))).build().toByteArray());

        StepVerifier.create(backend.getTree(SCOPE, absent))
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(BlobNotFoundException.class))
                .verify(TIMEOUT);
    }

    @Test
    void serverDownIsBackendException() throws Exception {
        ReapiBackend backend = backend(config("grpc://127.0.0.1:" + ReapiTestServer.closedPort()));
        Digest action = DigestFunction.SHA256.digestOf(bytes("compile"));

        StepVerifier.create(backend.getActionResult(SCOPE, action))
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(BackendException.class)
                        .hasMessageContaining("backend remote")
                        .hasMessageContaining("GetActionResult " + action)
                        .hasMessageContaining("UNAVAILABLE"))
                .verify(TIMEOUT);
        StepVerifier.create(backend.findMissing(SCOPE, DigestSet.of(action)))
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(BackendException.class)
                        .hasMessageContaining("GetCapabilities"))
                .verify(TIMEOUT);
    }

    @Test
    void unavailableAndInternalAreBackendExceptionsNamingTheStatus() {
        ReapiTestServer server = server(ReapiTestServer.start(MAX_BATCH));
        ReapiBackend backend = backend(config(server.target()));
        Digest action = DigestFunction.SHA256.digestOf(bytes("compile"));
        Digest blob = server.put(bytes("blob"));

        server.fail("GetActionResult", Status.UNAVAILABLE.withDescription("shard 3 is restarting"));
        StepVerifier.create(backend.getActionResult(SCOPE, action))
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(BackendException.class)
                        .hasMessageContaining("GetActionResult " + action)
                        .hasMessageContaining("UNAVAILABLE: shard 3 is restarting")
                        .extracting(x -> ((BackendException) x).backend()).isEqualTo("remote"))
                .verify(TIMEOUT);

        server.fail("FindMissingBlobs", Status.INTERNAL.withDescription("disk on fire"));
        StepVerifier.create(backend.findMissing(SCOPE, DigestSet.of(blob)))
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(BackendException.class)
                        .hasMessageContaining("FindMissingBlobs of 1 digests")
                        .hasMessageContaining("INTERNAL: disk on fire"))
                .verify(TIMEOUT);

        server.fail("BatchReadBlobs", Status.PERMISSION_DENIED.withDescription("no read access"));
        StepVerifier.create(backend.readBlob(SCOPE, blob))
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(BackendException.class)
                        .hasMessageContaining("PERMISSION_DENIED: no read access"))
                .verify(TIMEOUT);
    }

    @Test
    void eachCallHasItsOwnDeadline() {
        ReapiTestServer server = server(ReapiTestServer.start(MAX_BATCH));
        ReapiBackend backend = backend(config(server.target(), null, Map.of(), null, Duration.ofMillis(300)));
        Digest action = DigestFunction.SHA256.digestOf(bytes("compile"));
        server.hang("GetActionResult");

        // the second call would fail at once if the deadline had been fixed when the backend was built
        for (int i = 0; i < 2; i++) {
            long start = System.nanoTime();
            StepVerifier.create(backend.getActionResult(SCOPE, action))
                    .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(BackendException.class)
                            .hasMessageContaining("DEADLINE_EXCEEDED"))
                    .verify(TIMEOUT);
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isGreaterThanOrEqualTo(Duration.ofMillis(250));
        }
    }

    @Test
    void capabilitiesAskedAgainAfterReconnect() throws Exception {
        ReapiTestServer first = ReapiTestServer.start(MAX_BATCH);
        int port = first.port();
        ReapiBackend backend = backend(config("grpc://127.0.0.1:" + port));
        StepVerifier.create(backend.capabilities(SCOPE))
                .assertNext(caps -> assertThat(caps.maxBatchTotalSizeBytes()).isEqualTo(MAX_BATCH))
                .expectComplete().verify(TIMEOUT);

        first.close();
        // the connection is gone: the call fails and the cached capabilities are dropped
        StepVerifier.create(backend.getActionResult(SCOPE, DigestFunction.SHA256.digestOf(bytes("x"))))
                .expectError(BackendException.class).verify(TIMEOUT);
        ReapiTestServer second = server(ReapiTestServer.onPort(port, 2 * MAX_BATCH));

        // skip the reconnect back-off (a second or more) instead of waiting it out
        backend.channel().resetConnectBackoff();
        org.awaitility.Awaitility.await().atMost(TIMEOUT).until(() -> backend.capabilities(SCOPE)
                .map(caps -> caps.maxBatchTotalSizeBytes())
                .onErrorReturn(-1L)
                .block(TIMEOUT) == 2 * MAX_BATCH);
        assertThat(second.calls("GetCapabilities")).isEqualTo(1);
    }

    private static FileNode file(String name, Digest digest) {
        return FileNode.newBuilder().setName(name).setDigest(digest.toProto()).build();
    }

    private static DirectoryNode dir(String name, Digest digest) {
        return DirectoryNode.newBuilder().setName(name).setDigest(digest.toProto()).build();
    }
}
