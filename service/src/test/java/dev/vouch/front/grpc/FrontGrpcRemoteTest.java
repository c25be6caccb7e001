package dev.vouch.front.grpc;

import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.ActionCacheGrpc;
import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.BatchReadBlobsRequest;
import build.bazel.remote.execution.v2.BatchReadBlobsResponse;
import build.bazel.remote.execution.v2.BatchUpdateBlobsRequest;
import build.bazel.remote.execution.v2.BatchUpdateBlobsResponse;
import build.bazel.remote.execution.v2.CapabilitiesGrpc;
import build.bazel.remote.execution.v2.ContentAddressableStorageGrpc;
import build.bazel.remote.execution.v2.Directory;
import build.bazel.remote.execution.v2.DirectoryNode;
import build.bazel.remote.execution.v2.FileNode;
import build.bazel.remote.execution.v2.FindMissingBlobsRequest;
import build.bazel.remote.execution.v2.GetActionResultRequest;
import build.bazel.remote.execution.v2.GetCapabilitiesRequest;
import build.bazel.remote.execution.v2.GetTreeRequest;
import build.bazel.remote.execution.v2.GetTreeResponse;
import build.bazel.remote.execution.v2.OutputFile;
import build.bazel.remote.execution.v2.UpdateActionResultRequest;
import com.google.bytestream.ByteStreamGrpc;
import com.google.bytestream.ReactorByteStreamGrpc;
import com.google.bytestream.ReadRequest;
import com.google.bytestream.WriteRequest;
import com.google.bytestream.WriteResponse;
import com.google.protobuf.ByteString;
import dev.vouch.api.grpc.GrpcServer;
import dev.vouch.backend.reapi.ReapiTestServer;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Random;
import java.util.UUID;
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
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import reactor.core.publisher.Flux;

/**
 * The cache front over a remote {@code grpc} backend (a plain REAPI server on loopback, which serves
 * every entry it holds), as Bazel talks to it: Vouch's own gRPC port, its real backend decorators.
 * Every call is forwarded; an Action Cache entry is answered only when its closure is complete in
 * the remote cache; a backend that is down is UNAVAILABLE, never an entry.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {"vouch.grpc.port=0", "vouch.front.enabled=true", "vouch.front.presence-ttl=0s"})
@ExtendWith(OutputCaptureExtension.class)
class FrontGrpcRemoteTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(20);
    private static final long MAX_BATCH = 64 << 10;
    private static final ReapiTestServer REMOTE = ReapiTestServer.start(MAX_BATCH);
    private static final int DOWN_PORT = closedPort();

    @DynamicPropertySource
    static void backends(DynamicPropertyRegistry registry) {
        registry.add("vouch.backends[0].name", () -> "remote");
        registry.add("vouch.backends[0].type", () -> "grpc");
        registry.add("vouch.backends[0].target", REMOTE::target);
        registry.add("vouch.backends[1].name", () -> "down");
        registry.add("vouch.backends[1].type", () -> "grpc");
        registry.add("vouch.backends[1].target", () -> "grpc://127.0.0.1:" + DOWN_PORT);
        registry.add("vouch.backends[1].resilience.retry.max-attempts", () -> "1");
        registry.add("vouch.routes[0].instance-pattern", () -> "down");
        registry.add("vouch.routes[0].backend", () -> "down");
    }

    @Autowired
    GrpcServer grpcServer;

    @Autowired
    MeterRegistry meters;

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
    static void stopRemote() throws InterruptedException {
        REMOTE.close();
    }

    @Test
    void completeEntryIsServed() {
        Digest output = REMOTE.put(bytes("complete output " + UUID.randomUUID()));
        ActionResult result = result("out/complete.o", output);
        Digest action = REMOTE.putAction("complete " + UUID.randomUUID(), result);
        double before = verdicts("HIT");

        assertThat(actionCache().getActionResult(get(action, ""))).isEqualTo(result);
        assertThat(verdicts("HIT") - before).isEqualTo(1);
    }

    /** The remote cache serves the entry; Vouch does not, and says why in the log, once. */
    @Test
    void entryWhoseBlobWasEvictedIsNotFoundAndLogged(CapturedOutput output) {
        Digest kept = REMOTE.put(bytes("kept " + UUID.randomUUID()));
        Digest evicted = REMOTE.put(bytes("evicted " + UUID.randomUUID()));
        ActionResult result = ActionResult.newBuilder()
                .addOutputFiles(OutputFile.newBuilder().setPath("out/kept.o").setDigest(kept.toProto()))
                .addOutputFiles(OutputFile.newBuilder().setPath("out/evicted.o").setDigest(evicted.toProto()))
                .build();
        Digest action = REMOTE.putAction("evicted " + UUID.randomUUID(), result);
        REMOTE.store.evictBlob(evicted);
        double before = verdicts("PARTIAL");

        StatusRuntimeException refused = failure(() -> actionCache().getActionResult(get(action, "")));

        assertThat(refused.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
        assertThat(refused.getStatus().getDescription()).contains(action.toString()).contains("1 blobs missing");
        assertThat(verdicts("PARTIAL") - before).isEqualTo(1);
        List<String> logged = output.getAll().lines().filter(line -> line.contains("PARTIAL")
                && line.contains(action.toString())).toList();
        assertThat(logged).hasSize(1);
        assertThat(logged.get(0)).contains("WARN").contains(evicted.toString()).contains("out/evicted.o")
                .doesNotContain(kept.toString());
    }

    @Test
    void absentEntryIsNotFound() {
        Digest action = DigestFunction.SHA256.digestOf(bytes("never ran " + UUID.randomUUID()));

        assertThat(failure(() -> actionCache().getActionResult(get(action, ""))).getStatus().getCode())
                .isEqualTo(Status.Code.NOT_FOUND);
    }

    /** A backend nobody listens for: an error Bazel handles by building locally, never an entry. */
    @Test
    void backendDownIsUnavailable() {
        Digest action = DigestFunction.SHA256.digestOf(bytes("on a dead backend"));
        double before = meters.find("vouch.verdicts").tags("source", "front", "verdict", "UNKNOWN", "backend", "down")
                .counters().stream().mapToDouble(Counter::count).sum();

        assertThat(failure(() -> actionCache().getActionResult(get(action, "down"))).getStatus().getCode())
                .isEqualTo(Status.Code.UNAVAILABLE);
        assertThat(failure(() -> ContentAddressableStorageGrpc.newBlockingStub(channel).findMissingBlobs(
                FindMissingBlobsRequest.newBuilder().setInstanceName("down").addBlobDigests(action.toProto()).build()))
                .getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
        assertThat(failure(() -> ByteStreamGrpc.newBlockingStub(channel).read(ReadRequest.newBuilder()
                .setResourceName("down/blobs/" + action.hash() + "/" + action.sizeBytes()).build()).next())
                .getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
        assertThat(meters.find("vouch.verdicts").tags("source", "front", "verdict", "UNKNOWN", "backend", "down")
                .counters().stream().mapToDouble(Counter::count).sum() - before).isEqualTo(1);
    }

    @Test
    void capabilitiesAreTheBackends() {
        var caps = CapabilitiesGrpc.newBlockingStub(channel).getCapabilities(GetCapabilitiesRequest.getDefaultInstance());

        assertThat(caps.getCacheCapabilities().getMaxBatchTotalSizeBytes()).isEqualTo(MAX_BATCH);
        assertThat(caps.getCacheCapabilities().getDigestFunctionsList())
                .containsExactly(build.bazel.remote.execution.v2.DigestFunction.Value.SHA256);
    }

    /** Bazel's upload sequence, forwarded: blobs by ByteStream and batch, then the entry; then read back. */
    @Test
    void writesAndReadsAreForwarded() {
        byte[] large = randomBytes(3 << 20, 1);
        byte[] small = bytes("small " + UUID.randomUUID());
        Digest largeDigest = DigestFunction.SHA256.digestOf(large);
        Digest smallDigest = DigestFunction.SHA256.digestOf(small);

        WriteResponse written = write("uploads/" + UUID.randomUUID() + "/blobs/" + largeDigest.hash() + "/" + large.length,
                large);
        BatchUpdateBlobsResponse batch = cas().batchUpdateBlobs(BatchUpdateBlobsRequest.newBuilder()
                .addRequests(BatchUpdateBlobsRequest.Request.newBuilder().setDigest(smallDigest.toProto())
                        .setData(ByteString.copyFrom(small)))
                .build());
        Digest action = DigestFunction.SHA256.digestOf(bytes("uploaded " + UUID.randomUUID()));
        ActionResult result = ActionResult.newBuilder()
                .addOutputFiles(OutputFile.newBuilder().setPath("out/large").setDigest(largeDigest.toProto()))
                .addOutputFiles(OutputFile.newBuilder().setPath("out/small").setDigest(smallDigest.toProto()))
                .build();
        actionCache().updateActionResult(UpdateActionResultRequest.newBuilder().setActionDigest(action.toProto())
                .setActionResult(result).build());

        assertThat(written.getCommittedSize()).isEqualTo(large.length);
        assertThat(batch.getResponses(0).getStatus().getCode()).isZero();
        assertThat(REMOTE.store.contains(largeDigest).block(TIMEOUT)).isTrue();
        assertThat(REMOTE.store.contains(smallDigest).block(TIMEOUT)).isTrue();
        assertThat(REMOTE.store.getActionResult(action).block(TIMEOUT)).isEqualTo(result.toByteArray());
        assertThat(actionCache().getActionResult(get(action, ""))).isEqualTo(result);
        assertThat(read(largeDigest)).isEqualTo(large);
        BatchReadBlobsResponse readBack = cas().batchReadBlobs(BatchReadBlobsRequest.newBuilder()
                .addDigests(smallDigest.toProto()).build());
        assertThat(readBack.getResponses(0).getData().toByteArray()).isEqualTo(small);
        Digest absent = DigestFunction.SHA256.digestOf(bytes("absent " + UUID.randomUUID()));
        assertThat(cas().findMissingBlobs(FindMissingBlobsRequest.newBuilder().addBlobDigests(largeDigest.toProto())
                .addBlobDigests(absent.toProto()).addBlobDigests(smallDigest.toProto()).build()).getMissingBlobDigestsList())
                .containsExactly(absent.toProto());
    }

    /** A blob that does not match its digest never reaches the remote cache, by either upload. */
    @Test
    void writesWithAWrongDigestAreRefusedBeforeTheBackend() {
        byte[] claimed = bytes("what the digest says " + UUID.randomUUID());
        byte[] sent = bytes("what was sent instead " + UUID.randomUUID());
        Digest digest = DigestFunction.SHA256.digestOf(claimed);
        int writesBefore = REMOTE.calls("Write");
        int batchesBefore = REMOTE.calls("BatchUpdateBlobs");

        StatusRuntimeException streamed = failure(() -> write("uploads/" + UUID.randomUUID() + "/blobs/" + digest.hash()
                + "/" + claimed.length, java.util.Arrays.copyOf(sent, claimed.length)));
        BatchUpdateBlobsResponse batch = cas().batchUpdateBlobs(BatchUpdateBlobsRequest.newBuilder()
                .addRequests(BatchUpdateBlobsRequest.Request.newBuilder().setDigest(digest.toProto())
                        .setData(ByteString.copyFrom(sent)))
                .build());

        assertThat(streamed.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(streamed.getStatus().getDescription()).contains("content hashes to");
        assertThat(batch.getResponses(0).getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT.value());
        assertThat(REMOTE.store.contains(digest).block(TIMEOUT)).isFalse();
        // the one-message write is held back whole until it is checked, and the batch is checked before it goes
        assertThat(REMOTE.received(WriteRequest.class).stream()
                .filter(w -> w.getResourceName().contains(digest.hash()))).isEmpty();
        assertThat(REMOTE.calls("BatchUpdateBlobs")).isEqualTo(batchesBefore);
        assertThat(REMOTE.calls("Write") - writesBefore).isLessThanOrEqualTo(1);
    }

    /** One FindMissingBlobs from Bazel, split to what the remote server advertises, answered as one. */
    @Test
    void findMissingIsSplitToTheServersLimit() {
        int before = REMOTE.received(FindMissingBlobsRequest.class).size();
        FindMissingBlobsRequest.Builder request = FindMissingBlobsRequest.newBuilder();
        List<build.bazel.remote.execution.v2.Digest> absent = new ArrayList<>();
        for (int i = 0; i < 2000; i++) {
            absent.add(DigestFunction.SHA256.digestOf(bytes("absent " + i + " " + UUID.randomUUID())).toProto());
        }
        request.addAllBlobDigests(absent);

        var missing = cas().findMissingBlobs(request.build()).getMissingBlobDigestsList();

        assertThat(missing).containsExactlyInAnyOrderElementsOf(absent);
        List<FindMissingBlobsRequest> sent = REMOTE.received(FindMissingBlobsRequest.class);
        List<FindMissingBlobsRequest> forwarded = sent.subList(before, sent.size());
        assertThat(forwarded).hasSizeGreaterThan(1);
        assertThat(forwarded).allSatisfy(r -> assertThat(r.getSerializedSize()).isLessThanOrEqualTo((int) MAX_BATCH));
        assertThat(forwarded.stream().mapToInt(FindMissingBlobsRequest::getBlobDigestsCount).sum()).isEqualTo(2000);
    }

    @Test
    void getTreeIsForwarded() {
        Digest leaf = REMOTE.put(bytes("leaf " + UUID.randomUUID()));
        Directory child = Directory.newBuilder()
                .addFiles(FileNode.newBuilder().setName("leaf.txt").setDigest(leaf.toProto())).build();
        Digest childDigest = REMOTE.put(child);
        Directory root = Directory.newBuilder()
                .addDirectories(DirectoryNode.newBuilder().setName("sub").setDigest(childDigest.toProto())).build();
        Digest rootDigest = REMOTE.put(root);

        List<Directory> listed = new ArrayList<>();
        Iterator<GetTreeResponse> pages = cas().getTree(GetTreeRequest.newBuilder().setRootDigest(rootDigest.toProto()).build());
        pages.forEachRemaining(page -> listed.addAll(page.getDirectoriesList()));

        assertThat(listed).containsExactly(root, child);
    }

    private double verdicts(String verdict) {
        Counter counter = meters.find("vouch.verdicts")
                .tags("source", "front", "verdict", verdict, "backend", "remote", "mode", "EXISTENCE").counter();
        return counter == null ? 0 : counter.count();
    }

    private ActionCacheGrpc.ActionCacheBlockingStub actionCache() {
        return ActionCacheGrpc.newBlockingStub(channel).withDeadlineAfter(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    }

    private ContentAddressableStorageGrpc.ContentAddressableStorageBlockingStub cas() {
        return ContentAddressableStorageGrpc.newBlockingStub(channel)
                .withDeadlineAfter(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    }

    private static GetActionResultRequest get(Digest action, String instance) {
        return GetActionResultRequest.newBuilder().setInstanceName(instance).setActionDigest(action.toProto()).build();
    }

    private static ActionResult result(String path, Digest output) {
        return ActionResult.newBuilder()
                .addOutputFiles(OutputFile.newBuilder().setPath(path).setDigest(output.toProto())).build();
    }

    /** Writes as Bazel 4.2.3 does: 16 KiB messages, the name on the first, finish_write on the last. */
    private WriteResponse write(String resourceName, byte[] blob) {
        int chunk = 16 << 10;
        List<WriteRequest> requests = new ArrayList<>();
        for (int offset = 0; offset < blob.length || requests.isEmpty(); offset += chunk) {
            int length = Math.min(chunk, blob.length - offset);
            requests.add(WriteRequest.newBuilder()
                    .setResourceName(offset == 0 ? resourceName : "")
                    .setWriteOffset(offset)
                    .setData(ByteString.copyFrom(blob, offset, length))
                    .setFinishWrite(offset + length >= blob.length)
                    .build());
        }
        return ReactorByteStreamGrpc.newReactorStub(channel).write(Flux.fromIterable(requests)).block(TIMEOUT);
    }

    private byte[] read(Digest digest) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteStreamGrpc.newBlockingStub(channel).withDeadlineAfter(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)
                .read(ReadRequest.newBuilder().setResourceName("blobs/" + digest.hash() + "/" + digest.sizeBytes()).build())
                .forEachRemaining(response -> out.writeBytes(response.getData().toByteArray()));
        return out.toByteArray();
    }

    private static StatusRuntimeException failure(Runnable call) {
        try {
            call.run();
        } catch (StatusRuntimeException e) {
            return e;
        }
        throw new AssertionError("the call succeeded");
    }

    private static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] randomBytes(int size, long seed) {
        byte[] bytes = new byte[size];
        new Random(seed).nextBytes(bytes);
        return bytes;
    }

    private static int closedPort() {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
