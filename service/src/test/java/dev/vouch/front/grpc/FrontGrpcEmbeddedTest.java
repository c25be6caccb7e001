package dev.vouch.front.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import build.bazel.remote.execution.v2.ActionCacheGrpc;
import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.BatchReadBlobsRequest;
import build.bazel.remote.execution.v2.BatchReadBlobsResponse;
import build.bazel.remote.execution.v2.BatchUpdateBlobsRequest;
import build.bazel.remote.execution.v2.BatchUpdateBlobsResponse;
import build.bazel.remote.execution.v2.CacheCapabilities;
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
import build.bazel.remote.execution.v2.ServerCapabilities;
import build.bazel.remote.execution.v2.SymlinkAbsolutePathStrategy;
import build.bazel.remote.execution.v2.UpdateActionResultRequest;
import com.google.bytestream.ByteStreamGrpc;
import com.google.bytestream.QueryWriteStatusRequest;
import com.google.bytestream.QueryWriteStatusResponse;
import com.google.bytestream.ReactorByteStreamGrpc;
import com.google.bytestream.ReadRequest;
import com.google.bytestream.ReadResponse;
import com.google.bytestream.WriteRequest;
import com.google.bytestream.WriteResponse;
import com.google.common.util.concurrent.MoreExecutors;
import com.google.protobuf.ByteString;
import dev.vouch.api.grpc.GrpcServer;
import dev.vouch.backend.embedded.DiskBlobStore;
import dev.vouch.backend.embedded.EmbeddedBackend;
import dev.vouch.backend.embedded.OpenFiles;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Sinks;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

/** The cache front's REAPI services over the embedded store, on real loopback Netty, called as Bazel would call them. */
class FrontGrpcEmbeddedTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(10);
    private static final int CHUNK = 16 * 1024;
    private static final long MAX_BATCH = 1 << 20;
    private static final long MAX_SIZE = 1L << 30;
    private static final Duration UPLOAD_IDLE_TIMEOUT = Duration.ofSeconds(1);
    private static final long MAX_TREE_BYTES = 100_000;

    @TempDir
    Path data;

    private final SimpleMeterRegistry metrics = new SimpleMeterRegistry();
    private Scheduler io;
    private DiskBlobStore store;
    private GrpcServer server;
    private ManagedChannel channel;

    @BeforeEach
    void start() {
        io = Schedulers.newBoundedElastic(4, 1000, "test-io");
        store = new DiskBlobStore(data, MAX_SIZE, UPLOAD_IDLE_TIMEOUT, io);
        VouchProperties properties = new VouchProperties(data,
                new VouchProperties.Grpc(0, 16 << 20, 1),
                new VouchProperties.Embedded(1L << 30, MAX_BATCH),
                new VouchProperties.Limits(1000, 4 << 20, 1_000_000, 1L << 28, 10_000, 32, 8),
                new VouchProperties.Io(4, 1000), null, null, null);
        server = new GrpcServer(properties, TestFronts.over(new EmbeddedBackend(EmbeddedBackend.DEFAULT_NAME, store, MAX_BATCH),
                        VouchProperties.FrontCheck.EXISTENCE, MAX_BATCH, MAX_TREE_BYTES, metrics).all(),
                // handlers on the event loop: BlockHound fails any call that blocks there
                MoreExecutors.directExecutor());
        server.start();
        channel = NettyChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
    }

    @AfterEach
    void stop() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        server.stop();
        assertThat(server.isRunning()).isFalse();
        io.dispose();
    }

    private static byte[] randomBytes(int size, long seed) {
        byte[] bytes = new byte[size];
        new Random(seed).nextBytes(bytes);
        return bytes;
    }

    private static Digest digestOf(byte[] bytes) {
        return DigestFunction.SHA256.digestOf(bytes);
    }

    private static Digest digestOf(String text) {
        return digestOf(text.getBytes(StandardCharsets.UTF_8));
    }

    /** Writes like Bazel 4.2.3: 16 KiB messages, the name only on the first, finish_write on the last. */
    private WriteResponse write(String resourceName, byte[] blob) {
        List<WriteRequest> requests = new ArrayList<>();
        for (int offset = 0; offset < blob.length || requests.isEmpty(); offset += CHUNK) {
            int length = Math.min(CHUNK, blob.length - offset);
            requests.add(WriteRequest.newBuilder()
                    .setResourceName(offset == 0 ? resourceName : "")
                    .setWriteOffset(offset)
                    .setData(ByteString.copyFrom(blob, offset, length))
                    .setFinishWrite(offset + length >= blob.length)
                    .build());
        }
        return ReactorByteStreamGrpc.newReactorStub(channel).write(Flux.fromIterable(requests)).block(TIMEOUT);
    }

    private byte[] read(String resourceName, long offset, long limit) {
        Iterator<ReadResponse> responses = ByteStreamGrpc.newBlockingStub(channel)
                .read(ReadRequest.newBuilder().setResourceName(resourceName).setReadOffset(offset).setReadLimit(limit).build());
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        responses.forEachRemaining(r -> {
            assertThat(r.getData().size()).isLessThanOrEqualTo(64 * 1024);
            out.writeBytes(r.getData().toByteArray());
        });
        return out.toByteArray();
    }

    private static String blobs(Digest d) {
        return "blobs/" + d.hash() + "/" + d.sizeBytes();
    }

    private static String uploads(Digest d) {
        return "uploads/" + UUID.randomUUID() + "/" + blobs(d);
    }

    private static Status.Code codeOf(Runnable call) {
        try {
            call.run();
        } catch (StatusRuntimeException e) {
            return e.getStatus().getCode();
        }
        return Status.Code.OK;
    }

    private List<Path> storedFiles() throws Exception {
        try (Stream<Path> files = Files.walk(data)) {
            return files.filter(Files::isRegularFile).toList();
        }
    }

    @Test
    void capabilitiesAsBazelNeedsThem() {
        ServerCapabilities capabilities = CapabilitiesGrpc.newBlockingStub(channel)
                .getCapabilities(GetCapabilitiesRequest.newBuilder().setInstanceName("main").build());

        CacheCapabilities cache = capabilities.getCacheCapabilities();
        assertThat(cache.getDigestFunctionsList()).containsExactly(build.bazel.remote.execution.v2.DigestFunction.Value.SHA256);
        assertThat(cache.getActionCacheUpdateCapabilities().getUpdateEnabled()).isTrue();
        assertThat(cache.getMaxBatchTotalSizeBytes()).isEqualTo(MAX_BATCH);
        assertThat(cache.getSymlinkAbsolutePathStrategy()).isEqualTo(SymlinkAbsolutePathStrategy.Value.ALLOWED);
        assertThat(capabilities.getLowApiVersion().getMajor()).isEqualTo(2);
        assertThat(capabilities.getLowApiVersion().getMinor()).isEqualTo(0);
        assertThat(capabilities.getHighApiVersion().getMajor()).isEqualTo(2);
        assertThat(capabilities.getHighApiVersion().getMinor()).isEqualTo(3);
    }

    @Test
    void byteStreamWriteWithoutInstanceThenReadBack() {
        byte[] blob = randomBytes(100 * 1024 + 17, 1);
        Digest digest = digestOf(blob);

        WriteResponse written = write(uploads(digest), blob);

        assertThat(written.getCommittedSize()).isEqualTo(blob.length);
        assertThat(store.casPath(digest.hash())).hasBinaryContent(blob);
        assertThat(read(blobs(digest), 0, 0)).isEqualTo(blob);
    }

    @Test
    void byteStreamWriteWithSlashedInstanceThenReadBack() {
        byte[] blob = randomBytes(100 * 1024, 2);
        Digest digest = digestOf(blob);

        WriteResponse written = write("team/main/" + uploads(digest) + "/extra/metadata", blob);

        assertThat(written.getCommittedSize()).isEqualTo(blob.length);
        assertThat(read("team/main/" + blobs(digest), 0, 0)).isEqualTo(blob);
        assertThat(read("other/" + blobs(digest), 0, 0)).isEqualTo(blob);
    }

    @Test
    void byteStreamReadOffsetAndLimit() {
        byte[] blob = randomBytes(100 * 1024, 3);
        Digest digest = digestOf(blob);
        write(uploads(digest), blob);

        assertThat(read(blobs(digest), 70_000, 0)).isEqualTo(java.util.Arrays.copyOfRange(blob, 70_000, blob.length));
        assertThat(read(blobs(digest), 10, 5_000)).isEqualTo(java.util.Arrays.copyOfRange(blob, 10, 5_010));
        assertThat(codeOf(() -> read(blobs(digest), blob.length + 1, 0))).isEqualTo(Status.Code.OUT_OF_RANGE);
    }

    @Test
    void byteStreamReadAbsentIsNotFound() {
        assertThat(codeOf(() -> read(blobs(digestOf("absent")), 0, 0))).isEqualTo(Status.Code.NOT_FOUND);
    }

    @Test
    void byteStreamReadOfAnotherSizeIsNotFound() {
        byte[] blob = randomBytes(100_000, 7);
        Digest digest = digestOf(blob);
        write(uploads(digest), blob);

        for (long wrongSize : new long[] {1, blob.length + 1}) {
            String name = "blobs/" + digest.hash() + "/" + wrongSize;
            assertThat(codeOf(() -> read(name, 0, 0))).as(name).isEqualTo(Status.Code.NOT_FOUND);
        }
        assertThat(read(blobs(digest), 0, 0)).isEqualTo(blob);
    }

    /** A client that stops sending mid-upload: the server ends the call and frees its temporary file. */
    @Test
    void stalledByteStreamWriteIsAbortedAndItsTempFileDeleted() throws Exception {
        assumeTrue(OpenFiles.visible(), "needs /proc/self/fd");
        byte[] blob = randomBytes(4 * CHUNK, 8);
        Digest digest = digestOf(blob);
        Path tmp = data.resolve("tmp");
        Sinks.Many<WriteRequest> upload = Sinks.many().unicast().onBackpressureBuffer();
        CompletableFuture<WriteResponse> response = ReactorByteStreamGrpc.newReactorStub(channel).write(upload.asFlux()).toFuture();
        upload.tryEmitNext(WriteRequest.newBuilder().setResourceName(uploads(digest))
                .setData(ByteString.copyFrom(blob, 0, CHUNK)).build());
        org.awaitility.Awaitility.await().atMost(TIMEOUT)
                .until(() -> OpenFiles.filesUnder(tmp).size() == 1 && OpenFiles.under(tmp).size() == 1);

        // nothing more is sent: after vouch.embedded.upload-idle-timeout the server ends the call
        assertThatThrownBy(() -> response.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS))
                .isInstanceOf(ExecutionException.class)
                .cause().isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
                    assertThat(e.getStatus().getDescription()).contains(digest.toString())
                            .contains("vouch.embedded.upload-idle-timeout");
                });

        org.awaitility.Awaitility.await().atMost(TIMEOUT)
                .until(() -> OpenFiles.filesUnder(tmp).isEmpty() && OpenFiles.under(tmp).isEmpty());
        assertThat(store.casPath(digest.hash())).doesNotExist();
        assertThat(codeOf(() -> read(blobs(digest), 0, 0))).isEqualTo(Status.Code.NOT_FOUND);
    }

    @Test
    void byteStreamWriteLargerThanTheStoreIsResourceExhausted() throws Exception {
        Digest huge = new Digest(digestOf("huge").hash(), MAX_SIZE + 1);
        Sinks.Many<WriteRequest> upload = Sinks.many().unicast().onBackpressureBuffer();
        CompletableFuture<WriteResponse> response = ReactorByteStreamGrpc.newReactorStub(channel).write(upload.asFlux()).toFuture();

        upload.tryEmitNext(WriteRequest.newBuilder().setResourceName(uploads(huge))
                .setData(ByteString.copyFrom(randomBytes(CHUNK, 9))).build());

        assertThatThrownBy(() -> response.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS))
                .isInstanceOf(ExecutionException.class)
                .cause().isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
                    assertThat(e.getStatus().getDescription()).contains(huge.toString())
                            .contains("vouch.embedded.max-size-bytes");
                });
        assertThat(storedFiles()).isEmpty();
    }

    @Test
    void byteStreamWrongHashIsInvalidArgumentAndStoresNothing() throws Exception {
        byte[] blob = randomBytes(40_000, 4);
        Digest wrong = new Digest(digestOf("something else").hash(), blob.length);

        assertThat(codeOf(() -> write(uploads(wrong), blob))).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(storedFiles()).isEmpty();
        assertThat(codeOf(() -> read(blobs(wrong), 0, 0))).isEqualTo(Status.Code.NOT_FOUND);
    }

    @Test
    void malformedResourceNamesAreInvalidArgument() {
        Digest digest = digestOf("x");
        for (String name : List.of("", "blobs/" + digest.hash(), "main/blobs/NOTHEX/1", "blobs/" + digest.hash() + "/big",
                "uploads/" + digest.hash() + "/1", "compressed-blobs/zstd/" + digest.hash() + "/1")) {
            StatusRuntimeException error = org.junit.jupiter.api.Assertions.assertThrows(StatusRuntimeException.class,
                    () -> read(name, 0, 0), name);
            assertThat(error.getStatus().getCode()).as(name).isEqualTo(Status.Code.INVALID_ARGUMENT);
            assertThat(error.getStatus().getDescription()).as(name).contains("resource_name");
        }
        assertThatThrownBy(() -> write("blobs/" + digest.hash() + "/1", "x".getBytes(StandardCharsets.UTF_8)))
                .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
                    assertThat(e.getStatus().getDescription()).contains("uploads");
                });
    }

    @Test
    void queryWriteStatusDuringAndAfterUpload() {
        byte[] blob = randomBytes(3 * CHUNK, 5);
        Digest digest = digestOf(blob);
        String resource = "main/" + uploads(digest);
        var stub = ByteStreamGrpc.newBlockingStub(channel);
        QueryWriteStatusRequest query = QueryWriteStatusRequest.newBuilder().setResourceName(resource).build();
        assertThat(codeOf(() -> stub.queryWriteStatus(query))).isEqualTo(Status.Code.NOT_FOUND);

        Sinks.Many<WriteRequest> upload = Sinks.many().unicast().onBackpressureBuffer();
        var response = ReactorByteStreamGrpc.newReactorStub(channel).write(upload.asFlux()).toFuture();
        upload.tryEmitNext(WriteRequest.newBuilder().setResourceName(resource)
                .setData(ByteString.copyFrom(blob, 0, CHUNK)).build());
        org.awaitility.Awaitility.await().atMost(TIMEOUT)
                .until(() -> stub.queryWriteStatus(query).getCommittedSize() == CHUNK);
        assertThat(stub.queryWriteStatus(query).getComplete()).isFalse();

        upload.tryEmitNext(WriteRequest.newBuilder().setWriteOffset(CHUNK)
                .setData(ByteString.copyFrom(blob, CHUNK, 2 * CHUNK)).setFinishWrite(true).build());
        upload.tryEmitComplete();
        assertThat(response.orTimeout(10, TimeUnit.SECONDS).join().getCommittedSize()).isEqualTo(blob.length);

        QueryWriteStatusResponse done = stub.queryWriteStatus(query);
        assertThat(done.getComplete()).isTrue();
        assertThat(done.getCommittedSize()).isEqualTo(blob.length);
    }

    @Test
    void findMissingBlobs() {
        byte[] present = randomBytes(1000, 6);
        write(uploads(digestOf(present)), present);
        Digest absent = digestOf("absent");
        Digest empty = digestOf(new byte[0]);

        var response = ContentAddressableStorageGrpc.newBlockingStub(channel).findMissingBlobs(FindMissingBlobsRequest.newBuilder()
                .addBlobDigests(digestOf(present).toProto())
                .addBlobDigests(absent.toProto())
                .addBlobDigests(empty.toProto())
                .build());

        assertThat(response.getMissingBlobDigestsList()).containsExactly(absent.toProto());
    }

    @Test
    void batchUpdateBlobsMixedGoodAndBad() {
        byte[] good = "good blob".getBytes(StandardCharsets.UTF_8);
        byte[] bad = "bad blob".getBytes(StandardCharsets.UTF_8);
        Digest badClaim = new Digest(digestOf("not the bad blob").hash(), bad.length);

        BatchUpdateBlobsResponse response = ContentAddressableStorageGrpc.newBlockingStub(channel)
                .batchUpdateBlobs(BatchUpdateBlobsRequest.newBuilder()
                        .addRequests(BatchUpdateBlobsRequest.Request.newBuilder()
                                .setDigest(digestOf(good).toProto()).setData(ByteString.copyFrom(good)))
                        .addRequests(BatchUpdateBlobsRequest.Request.newBuilder()
                                .setDigest(badClaim.toProto()).setData(ByteString.copyFrom(bad)))
                        .build());

        assertThat(response.getResponsesList()).hasSize(2);
        assertThat(response.getResponses(0).getDigest()).isEqualTo(digestOf(good).toProto());
        assertThat(response.getResponses(0).getStatus().getCode()).isEqualTo(Status.Code.OK.value());
        assertThat(response.getResponses(1).getDigest()).isEqualTo(badClaim.toProto());
        assertThat(response.getResponses(1).getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT.value());
        assertThat(store.casPath(digestOf(good).hash())).hasBinaryContent(good);
        assertThat(store.casPath(badClaim.hash())).doesNotExist();
    }

    @Test
    void batchReadBlobsWithAMissingOne() {
        byte[] present = "present".getBytes(StandardCharsets.UTF_8);
        write(uploads(digestOf(present)), present);
        Digest absent = digestOf("absent");

        BatchReadBlobsResponse response = ContentAddressableStorageGrpc.newBlockingStub(channel)
                .batchReadBlobs(BatchReadBlobsRequest.newBuilder()
                        .addDigests(digestOf(present).toProto())
                        .addDigests(absent.toProto())
                        .build());

        assertThat(response.getResponses(0).getStatus().getCode()).isEqualTo(Status.Code.OK.value());
        assertThat(response.getResponses(0).getData().toByteArray()).isEqualTo(present);
        assertThat(response.getResponses(1).getDigest()).isEqualTo(absent.toProto());
        assertThat(response.getResponses(1).getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND.value());
    }

    @Test
    void batchReadBlobsOfAnotherSizeIsNotFound() {
        byte[] blob = randomBytes(1_000, 10);
        Digest digest = digestOf(blob);
        write(uploads(digest), blob);
        Digest understated = new Digest(digest.hash(), 1);
        Digest overstated = new Digest(digest.hash(), blob.length + 1);

        BatchReadBlobsResponse response = ContentAddressableStorageGrpc.newBlockingStub(channel)
                .batchReadBlobs(BatchReadBlobsRequest.newBuilder()
                        .addDigests(understated.toProto())
                        .addDigests(overstated.toProto())
                        .addDigests(digest.toProto())
                        .build());

        assertThat(response.getResponses(0).getDigest()).isEqualTo(understated.toProto());
        assertThat(response.getResponses(0).getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND.value());
        assertThat(response.getResponses(0).getData()).isEmpty();
        assertThat(response.getResponses(1).getDigest()).isEqualTo(overstated.toProto());
        assertThat(response.getResponses(1).getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND.value());
        assertThat(response.getResponses(1).getData()).isEmpty();
        assertThat(response.getResponses(2).getStatus().getCode()).isEqualTo(Status.Code.OK.value());
        assertThat(response.getResponses(2).getData().toByteArray()).isEqualTo(blob);
    }

    @Test
    void batchReadBlobsOverTheBatchLimitIsInvalidArgument() {
        Digest big = new Digest(digestOf("big").hash(), MAX_BATCH + 1);
        assertThat(codeOf(() -> ContentAddressableStorageGrpc.newBlockingStub(channel)
                .batchReadBlobs(BatchReadBlobsRequest.newBuilder().addDigests(big.toProto()).build())))
                .isEqualTo(Status.Code.INVALID_ARGUMENT);
    }

    private Digest putDirectory(Directory directory) {
        byte[] bytes = directory.toByteArray();
        Digest digest = digestOf(bytes);
        write(uploads(digest), bytes);
        return digest;
    }

    private static DirectoryNode node(String name, Digest digest) {
        return DirectoryNode.newBuilder().setName(name).setDigest(digest.toProto()).build();
    }

    @Test
    void getTreeOfThreeLevelsInSmallPages() {
        Directory leaf = Directory.newBuilder()
                .addFiles(FileNode.newBuilder().setName("leaf.txt").setDigest(digestOf("leaf").toProto())).build();
        Digest leafDigest = putDirectory(leaf);
        Directory middleA = Directory.newBuilder().addDirectories(node("leaf", leafDigest)).build();
        Directory middleB = Directory.newBuilder().addDirectories(node("leaf", leafDigest))
                .addFiles(FileNode.newBuilder().setName("b.txt").setDigest(digestOf("b").toProto())).build();
        Directory root = Directory.newBuilder()
                .addDirectories(node("a", putDirectory(middleA)))
                .addDirectories(node("b", putDirectory(middleB)))
                .build();
        Digest rootDigest = putDirectory(root);
        var stub = ContentAddressableStorageGrpc.newBlockingStub(channel);

        List<GetTreeResponse> pages = new ArrayList<>();
        stub.getTree(GetTreeRequest.newBuilder().setRootDigest(rootDigest.toProto()).setPageSize(2).build())
                .forEachRemaining(pages::add);

        assertThat(pages).hasSize(2);
        assertThat(pages.get(0).getDirectoriesList()).containsExactly(root, middleA);
        assertThat(pages.get(0).getNextPageToken()).isNotEmpty();
        // the shared leaf is listed once
        assertThat(pages.get(1).getDirectoriesList()).containsExactly(middleB, leaf);
        assertThat(pages.get(1).getNextPageToken()).isEmpty();

        List<GetTreeResponse> resumed = new ArrayList<>();
        stub.getTree(GetTreeRequest.newBuilder().setRootDigest(rootDigest.toProto()).setPageSize(2)
                .setPageToken(pages.get(0).getNextPageToken()).build()).forEachRemaining(resumed::add);
        assertThat(resumed.get(0).getDirectoriesList()).containsExactly(middleB, leaf);
    }

    /**
     * A root with 50 children of about 2.4 KB each: past the 100,000-byte limit. The walk stops
     * there, and the call ends with a status that names the limit instead of collecting the graph.
     */
    @Test
    void getTreeLargerThanTheLimitIsFailedPrecondition() {
        Directory.Builder root = Directory.newBuilder();
        for (int i = 0; i < 50; i++) {
            Directory.Builder child = Directory.newBuilder();
            for (int f = 0; f < 30; f++) {
                child.addFiles(FileNode.newBuilder().setName("file-" + f).setDigest(digestOf("content " + i + "/" + f).toProto()));
            }
            root.addDirectories(node(String.format("dir-%02d", i), putDirectory(child.build())));
        }
        Digest rootDigest = putDirectory(root.build());
        var stub = ContentAddressableStorageGrpc.newBlockingStub(channel);

        StatusRuntimeException error = org.junit.jupiter.api.Assertions.assertThrows(StatusRuntimeException.class,
                () -> stub.getTree(GetTreeRequest.newBuilder().setRootDigest(rootDigest.toProto()).build())
                        .forEachRemaining(page -> { }));

        assertThat(error.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
        assertThat(error.getStatus().getDescription()).contains(rootDigest.toString())
                .contains("vouch.limits.max-tree-bytes").contains("100000");
    }

    /**
     * 65 directories over four levels, subtrees shared: one call in pages of 7 lists each
     * directory once, and a call resumed from any page's token lists exactly the rest.
     */
    @Test
    void getTreePagesListEachDirectoryOnce() {
        List<Directory> expected = new ArrayList<>();
        List<Digest> level = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            Directory leaf = Directory.newBuilder()
                    .addFiles(FileNode.newBuilder().setName("leaf-" + i).setDigest(digestOf("leaf " + i).toProto())).build();
            level.add(putDirectory(leaf));
            expected.add(leaf);
        }
        for (int depth = 0; depth < 3; depth++) {
            List<Digest> upper = new ArrayList<>();
            int count = depth == 2 ? 1 : 20 + depth * 20;
            for (int i = 0; i < count; i++) {
                Directory.Builder d = Directory.newBuilder()
                        .addFiles(FileNode.newBuilder().setName("at-" + depth).setDigest(digestOf(depth + "/" + i).toProto()));
                // each directory shares two children with its neighbours
                d.addDirectories(node("a", level.get(i % level.size())));
                d.addDirectories(node("b", level.get((i + 1) % level.size())));
                if (depth == 2) {
                    for (int j = 0; j < level.size(); j++) {
                        d.addDirectories(node(String.format("all-%02d", j), level.get(j)));
                    }
                }
                Directory built = d.build();
                upper.add(putDirectory(built));
                expected.add(built);
            }
            level = upper;
        }
        Digest root = level.get(0);
        assertThat(expected).hasSize(4 + 20 + 40 + 1);
        Directory rootDirectory = expected.get(expected.size() - 1);
        var stub = ContentAddressableStorageGrpc.newBlockingStub(channel);

        List<GetTreeResponse> pages = new ArrayList<>();
        stub.getTree(GetTreeRequest.newBuilder().setRootDigest(root.toProto()).setPageSize(7).build()).forEachRemaining(pages::add);

        List<Directory> listed = pages.stream().flatMap(p -> p.getDirectoriesList().stream()).toList();
        assertThat(listed).containsExactlyInAnyOrderElementsOf(expected);
        assertThat(listed.get(0)).isEqualTo(rootDirectory);
        for (int i = 0; i < pages.size(); i++) {
            assertThat(pages.get(i).getDirectoriesCount()).as("page " + i).isBetween(1, 7);
            assertThat(pages.get(i).getNextPageToken().isEmpty()).as("page " + i + " is the last").isEqualTo(i == pages.size() - 1);
        }
        int before = 0;
        for (int i = 0; i < pages.size() - 1; i++) {
            before += pages.get(i).getDirectoriesCount();
            List<Directory> rest = new ArrayList<>();
            stub.getTree(GetTreeRequest.newBuilder().setRootDigest(root.toProto()).setPageSize(7)
                            .setPageToken(pages.get(i).getNextPageToken()).build())
                    .forEachRemaining(p -> rest.addAll(p.getDirectoriesList()));
            assertThat(rest).as("resumed after page " + i).isEqualTo(listed.subList(before, listed.size()));
        }
    }

    @Test
    void getTreeOfMissingRootIsNotFound() {
        Digest absent = digestOf(Directory.newBuilder()
                .addFiles(FileNode.newBuilder().setName("gone").setDigest(digestOf("gone").toProto())).build().toByteArray());
        assertThat(codeOf(() -> ContentAddressableStorageGrpc.newBlockingStub(channel)
                .getTree(GetTreeRequest.newBuilder().setRootDigest(absent.toProto()).build()).forEachRemaining(r -> { })))
                .isEqualTo(Status.Code.NOT_FOUND);
    }

    @Test
    void actionCacheMissThenUpdateThenHit() {
        var stub = ActionCacheGrpc.newBlockingStub(channel);
        Digest action = digestOf("cc -c a.c");
        GetActionResultRequest get = GetActionResultRequest.newBuilder()
                .setInstanceName("main").setActionDigest(action.toProto()).build();
        byte[] output = "a.o bytes".getBytes(StandardCharsets.UTF_8);
        write(uploads(digestOf(output)), output);
        ActionResult result = ActionResult.newBuilder()
                .addOutputFiles(OutputFile.newBuilder().setPath("a.o").setDigest(digestOf(output).toProto()))
                .setExitCode(0)
                .build();

        assertThat(codeOf(() -> stub.getActionResult(get))).isEqualTo(Status.Code.NOT_FOUND);
        ActionResult stored = stub.updateActionResult(UpdateActionResultRequest.newBuilder()
                .setInstanceName("main").setActionDigest(action.toProto()).setActionResult(result).build());

        assertThat(stored).isEqualTo(result);
        assertThat(stub.getActionResult(get)).isEqualTo(result);
        assertThat(store.acPath(action.hash())).hasBinaryContent(result.toByteArray());
    }

    /** The defect of issue 9: an entry whose output blob was evicted is not a cache hit, so it is not served. */
    @Test
    void actionResultWhoseBlobWasEvictedIsNotFound() throws Exception {
        var stub = ActionCacheGrpc.newBlockingStub(channel);
        byte[] output = "a.o bytes".getBytes(StandardCharsets.UTF_8);
        Digest blob = digestOf(output);
        write(uploads(blob), output);
        Digest action = digestOf("cc -c evicted.c");
        ActionResult result = ActionResult.newBuilder()
                .addOutputFiles(OutputFile.newBuilder().setPath("evicted.o").setDigest(blob.toProto())).build();
        stub.updateActionResult(UpdateActionResultRequest.newBuilder()
                .setActionDigest(action.toProto()).setActionResult(result).build());
        GetActionResultRequest get = GetActionResultRequest.newBuilder().setActionDigest(action.toProto()).build();
        assertThat(stub.getActionResult(get)).isEqualTo(result);

        Files.delete(store.casPath(blob.hash()));

        assertThat(codeOf(() -> stub.getActionResult(get))).isEqualTo(Status.Code.NOT_FOUND);
    }

    @Test
    void nonSha256DigestFunctionIsInvalidArgument() {
        assertThat(codeOf(() -> ContentAddressableStorageGrpc.newBlockingStub(channel)
                .findMissingBlobs(FindMissingBlobsRequest.newBuilder()
                        .setDigestFunction(build.bazel.remote.execution.v2.DigestFunction.Value.SHA1)
                        .addBlobDigests(new Digest("a".repeat(40), 1).toProto())
                        .build())))
                .isEqualTo(Status.Code.INVALID_ARGUMENT);
    }
}
