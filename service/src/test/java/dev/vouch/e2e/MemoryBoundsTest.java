package dev.vouch.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import build.bazel.remote.execution.v2.ActionCacheGrpc;
import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.Directory;
import build.bazel.remote.execution.v2.DirectoryNode;
import build.bazel.remote.execution.v2.FileNode;
import build.bazel.remote.execution.v2.OutputDirectory;
import build.bazel.remote.execution.v2.OutputFile;
import build.bazel.remote.execution.v2.Tree;
import build.bazel.remote.execution.v2.UpdateActionResultRequest;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.WireFormat;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Memory is bounded by construction at the defaults: the service, in its own JVM with a 512 MiB
 * heap and started as README says (an OutOfMemoryError ends it), gets the inputs that used to
 * exhaust that heap, answers each with a verdict naming the limit (or refuses it at upload), long
 * before the deadline, and is still live and right afterwards.
 */
class MemoryBoundsTest {
    private static final JsonMapper JSON = JsonMapper.builder().build();
    // the service's default deadline; every answer must come well before it
    private static final Duration DEADLINE = Duration.ofSeconds(30);
    private static final Duration WELL_BEFORE = Duration.ofSeconds(20);
    private static final int HUGE_RESULT_FILES = 700_000;
    private static final int GRPC_RESULT_FILES = 190_000;
    private static final int MILLION = 1_000_000;
    private static final int SHARED_TREE_FILES = 20_000;
    private static final int SHARED_TREE_BLOBS = 1000;
    private static final int ACTIONS = 1000;
    private static final int CONCURRENT_REQUESTS = 4;

    @TempDir
    Path root;

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    @Test
    void worstCaseInputsAtTheDefaults() throws Exception {
        Path data = root.resolve("data");
        byte[] huge = manyOutputFiles(HUGE_RESULT_FILES).toByteArray();
        Digest hugeOnDisk = actionDigest("huge result on disk");
        writeActionResult(data, hugeOnDisk, huge);

        Digest millionTree = writeMillionChildTree(data);
        Digest millionAction = actionDigest("million children");
        writeActionResult(data, millionAction, treeOutput(millionTree).toByteArray());

        Digest sharedTree = writeSharedTree(data);
        byte[] onSharedTree = treeOutput(sharedTree).toByteArray();
        List<Digest> sharedActions = new ArrayList<>();
        for (int i = 0; i < ACTIONS; i++) {
            Digest action = actionDigest("on the shared tree " + i);
            writeActionResult(data, action, onSharedTree);
            sharedActions.add(action);
        }

        Digest normalBlob = writeBlob(data, "an ordinary output".getBytes(StandardCharsets.UTF_8));
        Digest normalAction = actionDigest("ordinary");
        writeActionResult(data, normalAction, ActionResult.newBuilder()
                .addOutputFiles(OutputFile.newBuilder().setPath("bazel-out/bin/ordinary").setDigest(normalBlob.toProto()))
                .build().toByteArray());

        try (ServiceProcess service = ServiceProcess.start(root.resolve("service.log"),
                List.of("-Xmx512m", "-XX:+ExitOnOutOfMemoryError"), List.of("--vouch.data-dir=" + data))) {
            try {
                service.awaitReady(http);

                // uploads of the huge result are refused at the door, over HTTP and over gRPC
                HttpResponse<String> put = http.send(HttpRequest.newBuilder(service.uri("/cache/ac/" + hugeOnDisk.hash()))
                        .timeout(WELL_BEFORE)
                        .PUT(HttpRequest.BodyPublishers.ofByteArray(huge))
                        .build(), HttpResponse.BodyHandlers.ofString());
                assertThat(put.statusCode()).as(put.body()).isEqualTo(413);
                assertThat(put.body()).contains("vouch.limits.max-action-result-bytes");
                assertGrpcUploadRefused(service);

                // a huge result already in the cache is not read whole
                JsonNode hugeVerdict = validate(service, List.of(hugeOnDisk)).get(0);
                assertUnknownNamingLimit(hugeVerdict, "vouch.limits.max-action-result-bytes");

                JsonNode millionVerdict = validate(service, List.of(millionAction)).get(0);
                assertUnknownNamingLimit(millionVerdict, "vouch.limits.");

                JsonNode shared = validate(service, sharedActions);
                assertEveryVerdictHitOrLimited(shared, sharedActions.size());

                // several such requests at once share the process's budget: all answered, none past the
                // deadline (on two shared cores some actions may run out of time, and say so)
                List<CompletableFuture<JsonNode>> concurrent = IntStream.range(0, CONCURRENT_REQUESTS)
                        .mapToObj(i -> CompletableFuture.supplyAsync(() -> {
                            try {
                                return validate(service, sharedActions, DEADLINE.plusSeconds(5));
                            } catch (Exception e) {
                                throw new IllegalStateException(e);
                            }
                        }))
                        .toList();
                for (CompletableFuture<JsonNode> answer : concurrent) {
                    JsonNode results = answer.get(DEADLINE.toSeconds() * 2, TimeUnit.SECONDS);
                    assertThat(results).hasSize(sharedActions.size());
                    for (JsonNode result : results) {
                        assertThat(result.get("verdict").asString()).as(result.toString()).isIn("HIT", "UNKNOWN");
                    }
                }

                assertThat(service.isAlive()).isTrue();
                HttpResponse<String> liveness = http.send(HttpRequest.newBuilder(service.uri("/actuator/health/liveness"))
                        .timeout(Duration.ofSeconds(5)).GET().build(), HttpResponse.BodyHandlers.ofString());
                assertThat(liveness.statusCode()).isEqualTo(200);
                assertThat(liveness.body()).contains("\"UP\"");
                JsonNode normal = validate(service, List.of(normalAction)).get(0);
                assertThat(normal.get("verdict").asString()).as(normal.toString()).isEqualTo("HIT");
            } catch (Throwable failure) {
                throw new AssertionError(failure.getMessage() + "\n--- last lines of the service's log ("
                        + service.log + ") ---\n" + service.tail(40), failure);
            }
        }
    }

    private void assertGrpcUploadRefused(ServiceProcess service) throws InterruptedException {
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", service.grpcPort).usePlaintext()
                .build();
        try {
            UpdateActionResultRequest update = UpdateActionResultRequest.newBuilder()
                    .setActionDigest(actionDigest("huge result over grpc").toProto())
                    .setActionResult(manyOutputFiles(GRPC_RESULT_FILES))
                    .build();
            assertThat(update.getSerializedSize()).isLessThan(16 << 20);
            // an upload of 15 MB: the deadline is for the transfer, the refusal itself is immediate
            assertThatThrownBy(() -> ActionCacheGrpc.newBlockingStub(channel)
                    .withDeadlineAfter(DEADLINE.toMillis() * 2, TimeUnit.MILLISECONDS)
                    .updateActionResult(update))
                    .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
                        assertThat(e.getStatus().getDescription()).contains("vouch.limits.max-action-result-bytes");
                    });
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    private static void assertUnknownNamingLimit(JsonNode verdict, String key) {
        assertThat(verdict.get("verdict").asString()).as(verdict.toString()).isEqualTo("UNKNOWN");
        assertThat(verdict.get("reason").asString()).contains(key);
    }

    private static void assertEveryVerdictHitOrLimited(JsonNode results, int expected) {
        assertThat(results).hasSize(expected);
        for (JsonNode result : results) {
            String verdict = result.get("verdict").asString();
            if (!verdict.equals("HIT")) {
                assertUnknownNamingLimit(result, "vouch.limits.");
            }
        }
    }

    private JsonNode validate(ServiceProcess service, List<Digest> actions) throws IOException, InterruptedException {
        return validate(service, actions, WELL_BEFORE);
    }

    /** The results of a request that must be answered within {@code within}. */
    private JsonNode validate(ServiceProcess service, List<Digest> actions, Duration within)
            throws IOException, InterruptedException {
        String body = actions.stream().map(a -> "\"" + a + "\"").collect(Collectors.joining(",", "{\"actions\": [", "]}"));
        long start = System.nanoTime();
        HttpResponse<String> response = http.send(HttpRequest.newBuilder(service.uri("/v1/validate"))
                .timeout(DEADLINE.plusSeconds(10))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body))
                .build(), HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        assertThat(Duration.ofNanos(System.nanoTime() - start)).as("answer time").isLessThan(within);
        return JSON.readTree(response.body()).get("results");
    }

    private static ActionResult manyOutputFiles(int count) {
        ActionResult.Builder result = ActionResult.newBuilder();
        for (int i = 0; i < count; i++) {
            result.addOutputFiles(OutputFile.newBuilder().setPath("o/" + i).setDigest(fakeDigest(i, 1).toProto()));
        }
        return result.build();
    }

    private static ActionResult treeOutput(Digest tree) {
        return ActionResult.newBuilder()
                .addOutputDirectories(OutputDirectory.newBuilder().setPath("out").setTreeDigest(tree.toProto()))
                .build();
    }

    /** A distinct, well-formed digest of a blob that is not stored. */
    private static Digest fakeDigest(long i, long size) {
        return new Digest(String.format("%064x", i), size);
    }

    private static Digest actionDigest(String name) {
        return DigestFunction.SHA256.digestOf(("action " + name).getBytes(StandardCharsets.UTF_8));
    }

    /**
     * A Tree whose root lists 1,000,000 sub-directories, each a child with one file, streamed to
     * the store's layout (about 170 MB) without building the message here.
     */
    private Digest writeMillionChildTree(Path data) throws Exception {
        byte[][] children = new byte[MILLION][];
        byte[][] childHashes = new byte[MILLION][];
        MessageDigest sha256 = MessageDigest.getInstance("SHA-256");
        long rootSize = 0;
        for (int i = 0; i < MILLION; i++) {
            children[i] = child(i).toByteArray();
            childHashes[i] = sha256.digest(children[i]);
            rootSize += CodedOutputStream.computeMessageSize(Directory.DIRECTORIES_FIELD_NUMBER,
                    directoryNode(i, childHashes[i], children[i].length));
        }
        long rootBytes = rootSize;
        return writeStreamed(data, out -> {
            out.writeTag(Tree.ROOT_FIELD_NUMBER, WireFormat.WIRETYPE_LENGTH_DELIMITED);
            out.writeUInt64NoTag(rootBytes);
            for (int i = 0; i < MILLION; i++) {
                out.writeMessage(Directory.DIRECTORIES_FIELD_NUMBER,
                        directoryNode(i, childHashes[i], children[i].length));
            }
            for (int i = 0; i < MILLION; i++) {
                out.writeByteArray(Tree.CHILDREN_FIELD_NUMBER, children[i]);
            }
        });
    }

    private static Directory child(int i) {
        return Directory.newBuilder()
                .addFiles(FileNode.newBuilder().setName("f").setDigest(fakeDigest(i, 1).toProto()))
                .build();
    }

    private static DirectoryNode directoryNode(int i, byte[] hash, long size) {
        return DirectoryNode.newBuilder().setName("d" + i)
                .setDigest(new Digest(HexFormat.of().formatHex(hash), size).toProto())
                .build();
    }

    /**
     * A Tree whose root holds {@value #SHARED_TREE_FILES} files, every one stored: {@value #SHARED_TREE_BLOBS}
     * distinct blobs, each at many paths (a store of 100,000 files would take minutes to write here).
     */
    private Digest writeSharedTree(Path data) throws IOException {
        List<Digest> blobs = new ArrayList<>();
        for (int i = 0; i < SHARED_TREE_BLOBS; i++) {
            blobs.add(writeBlob(data, ("file " + i).getBytes(StandardCharsets.UTF_8)));
        }
        Directory.Builder rootDirectory = Directory.newBuilder();
        for (int i = 0; i < SHARED_TREE_FILES; i++) {
            rootDirectory.addFiles(FileNode.newBuilder().setName("f" + i).setDigest(blobs.get(i % blobs.size()).toProto()));
        }
        return writeBlob(data, Tree.newBuilder().setRoot(rootDirectory).build().toByteArray());
    }

    private static Digest writeBlob(Path data, byte[] bytes) throws IOException {
        Digest digest = DigestFunction.SHA256.digestOf(bytes);
        Path file = FetchModeEmbeddedTest.casFile(data, digest);
        Files.createDirectories(file.getParent());
        Files.write(file, bytes);
        return digest;
    }

    @FunctionalInterface
    private interface MessageWriter {
        void write(CodedOutputStream out) throws IOException;
    }

    private Digest writeStreamed(Path data, MessageWriter writer) throws Exception {
        Path staging = root.resolve("tree.staging");
        MessageDigest sha256 = MessageDigest.getInstance("SHA-256");
        long size;
        try (OutputStream file = Files.newOutputStream(staging);
                DigestOutputStream hashed = new DigestOutputStream(new BufferedOutputStream(file, 1 << 16), sha256)) {
            CodedOutputStream out = CodedOutputStream.newInstance(hashed, 1 << 16);
            writer.write(out);
            out.flush();
            size = out.getTotalBytesWritten();
        }
        Digest digest = new Digest(HexFormat.of().formatHex(sha256.digest()), size);
        Path target = FetchModeEmbeddedTest.casFile(data, digest);
        Files.createDirectories(target.getParent());
        Files.move(staging, target);
        return digest;
    }

    private static void writeActionResult(Path data, Digest action, byte[] serialized) throws IOException {
        Path file = data.resolve("ac").resolve(action.hash().substring(0, 2)).resolve(action.hash());
        Files.createDirectories(file.getParent());
        Files.write(file, serialized);
    }
}
