package dev.vouch.backend.reapi;

import static dev.vouch.backend.reapi.ReapiTestServer.TIMEOUT;
import static dev.vouch.backend.reapi.ReapiTestServer.config;
import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.Directory;
import build.bazel.remote.execution.v2.DirectoryNode;
import build.bazel.remote.execution.v2.FileNode;
import build.bazel.remote.execution.v2.FindMissingBlobsRequest;
import build.bazel.remote.execution.v2.OutputDirectory;
import build.bazel.remote.execution.v2.OutputFile;
import build.bazel.remote.execution.v2.Tree;
import com.google.protobuf.CodedOutputStream;
import dev.vouch.backend.Scope;
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
import io.grpc.Status;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Verdicts of the real engine with a ReapiBackend in front of a separate embedded REAPI server. */
class ReapiVerdictTest {
    private static final long MAX_BATCH = 64 * 1024;
    private static final VouchProperties.Limits LIMITS =
            VouchProperties.Limits.defaults();

    private final List<AutoCloseable> open = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : open) {
            c.close();
        }
    }

    private ReapiTestServer server(long maxBatch) {
        ReapiTestServer server = ReapiTestServer.start(maxBatch);
        open.add(server);
        return server;
    }

    private ReapiBackend backend(String target) {
        ReapiBackend backend = new ReapiBackend(config(target));
        open.add(0, backend);
        return backend;
    }

    private static List<ActionVerdict> validate(ReapiBackend backend, Digest... actions) {
        CompletenessValidator validator = new CompletenessValidator(instance -> backend, LIMITS,
                new ValidationMetrics(new SimpleMeterRegistry()));
        List<ActionVerdict> verdicts = validator.validate(new ValidationRequest(Scope.of(""), Mode.EXISTENCE,
                List.of(actions), false)).collectList().block(TIMEOUT);
        return verdicts.stream().sorted(java.util.Comparator.comparingInt(ActionVerdict::index)).toList();
    }

    private static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    /** An action with two output files, an output directory {@code out/dir} (file x, sub/y) and stdout. */
    private record Build(Digest action, Digest a, Digest b, Digest tree, Digest x, Digest y, Digest stdout) {
        static Build stored(ReapiTestServer server) {
            Digest a = server.put(bytes("a.o"));
            Digest b = server.put(bytes("b.o"));
            Digest x = server.put(bytes("x"));
            Digest y = server.put(bytes("y"));
            Digest stdout = server.put(bytes("compiled 2 files"));
            Directory sub = Directory.newBuilder().addFiles(file("y", y)).build();
            Tree tree = Tree.newBuilder()
                    .setRoot(Directory.newBuilder().addFiles(file("x", x))
                            .addDirectories(DirectoryNode.newBuilder().setName("sub")
                                    .setDigest(DigestFunction.SHA256.digestOf(sub.toByteArray()).toProto())))
                    .addChildren(sub)
                    .build();
            Digest treeDigest = server.put(tree);
            Digest action = server.putAction("build", ActionResult.newBuilder()
                    .addOutputFiles(OutputFile.newBuilder().setPath("out/a.o").setDigest(a.toProto()))
                    .addOutputFiles(OutputFile.newBuilder().setPath("out/b.o").setDigest(b.toProto()))
                    .addOutputDirectories(OutputDirectory.newBuilder().setPath("out/dir").setTreeDigest(treeDigest.toProto()))
                    .setStdoutDigest(stdout.toProto())
                    .build());
            return new Build(action, a, b, treeDigest, x, y, stdout);
        }
    }

    @Test
    void hitWithFilesTreeAndStdout() {
        ReapiTestServer server = server(MAX_BATCH);
        Build build = Build.stored(server);

        ActionVerdict verdict = validate(backend(server.target()), build.action()).get(0);

        assertThat(verdict.verdict()).isEqualTo(Verdict.HIT);
        assertThat(verdict.reason()).isNull();
        assertThat(verdict.backend()).isEqualTo("remote");
        // a, b, the tree, x, y, stdout
        assertThat(verdict.blobsReferenced()).isEqualTo(6);
    }

    @Test
    void partialNamesExactlyTheEvictedBlobs() {
        ReapiTestServer server = server(MAX_BATCH);
        Build build = Build.stored(server);
        server.store.evictBlob(build.b());
        server.store.evictBlob(build.y());
        server.store.evictBlob(build.stdout());

        ActionVerdict verdict = validate(backend(server.target()), build.action()).get(0);

        assertThat(verdict.verdict()).isEqualTo(Verdict.PARTIAL);
        assertThat(verdict.missing()).containsExactlyInAnyOrder(
                new BlobProblem(build.b(), BlobKind.OUTPUT_FILE, List.of("out/b.o")),
                new BlobProblem(build.y(), BlobKind.OUTPUT_DIRECTORY_FILE, List.of("out/dir/sub/y")),
                new BlobProblem(build.stdout(), BlobKind.STDOUT, List.of("stdout")));
    }

    @Test
    void evictedTreeIsPartial() {
        ReapiTestServer server = server(MAX_BATCH);
        Build build = Build.stored(server);
        server.store.evictBlob(build.tree());

        ActionVerdict verdict = validate(backend(server.target()), build.action()).get(0);

        assertThat(verdict.verdict()).isEqualTo(Verdict.PARTIAL);
        assertThat(verdict.missing()).containsExactly(
                new BlobProblem(build.tree(), BlobKind.OUTPUT_DIRECTORY_TREE, List.of("out/dir")));
    }

    @Test
    void rootDirectoryOutputIsWalkedWithGetTree() {
        ReapiTestServer server = server(MAX_BATCH);
        Digest kept = server.put(bytes("kept"));
        Digest lost = server.put(bytes("lost"));
        Directory deep = Directory.newBuilder().addFiles(file("lost", lost)).build();
        Digest deepDigest = server.put(deep);
        Directory gone = Directory.newBuilder().addFiles(file("unknowable", server.put(bytes("u")))).build();
        Digest goneDigest = DigestFunction.SHA256.digestOf(gone.toByteArray());
        Directory sub = Directory.newBuilder().addFiles(file("kept", kept))
                .addDirectories(DirectoryNode.newBuilder().setName("deep").setDigest(deepDigest.toProto())).build();
        Digest subDigest = server.put(sub);
        Directory root = Directory.newBuilder()
                .addDirectories(DirectoryNode.newBuilder().setName("sub").setDigest(subDigest.toProto()))
                .addDirectories(DirectoryNode.newBuilder().setName("gone").setDigest(goneDigest.toProto())).build();
        Digest rootDigest = server.put(root);
        server.store.evictBlob(lost);
        Digest action = server.putAction("gen", ActionResult.newBuilder()
                .addOutputDirectories(OutputDirectory.newBuilder().setPath("gen").setRootDirectoryDigest(rootDigest.toProto()))
                .build());

        ActionVerdict verdict = validate(backend(server.target()), action).get(0);

        // "gone" was never stored: GetTree leaves it out, so it is missing and its files unknowable
        assertThat(verdict.verdict()).isEqualTo(Verdict.PARTIAL);
        assertThat(verdict.missing()).containsExactlyInAnyOrder(
                new BlobProblem(goneDigest, BlobKind.DIRECTORY, List.of("gen/gone")),
                new BlobProblem(lost, BlobKind.OUTPUT_DIRECTORY_FILE, List.of("gen/sub/deep/lost")));
        assertThat(server.calls("GetTree")).isEqualTo(1);
        assertThat(server.reads(rootDigest) + server.reads(subDigest) + server.reads(deepDigest)).isZero();
    }

    @Test
    void absentActionIsMiss() {
        ReapiTestServer server = server(MAX_BATCH);

        ActionVerdict verdict = validate(backend(server.target()), DigestFunction.SHA256.digestOf(bytes("never ran"))).get(0);

        assertThat(verdict.verdict()).isEqualTo(Verdict.MISS);
    }

    @Test
    void treeLargerThanBatchLimitReadThroughByteStream() {
        ReapiTestServer server = server(MAX_BATCH);
        Directory.Builder root = Directory.newBuilder();
        for (int i = 0; i < 2000; i++) {
            root.addFiles(file(String.format("file-%04d.txt", i), server.put(bytes("content " + i))));
        }
        Tree tree = Tree.newBuilder().setRoot(root).build();
        Digest treeDigest = server.put(tree);
        assertThat(treeDigest.sizeBytes()).isGreaterThan(MAX_BATCH);
        Digest action = server.putAction("generate", ActionResult.newBuilder()
                .addOutputDirectories(OutputDirectory.newBuilder().setPath("gen").setTreeDigest(treeDigest.toProto()))
                .build());

        ActionVerdict verdict = validate(backend(server.target()), action).get(0);

        assertThat(verdict.verdict()).isEqualTo(Verdict.HIT);
        assertThat(verdict.blobsReferenced()).isEqualTo(2001);
        assertThat(server.calls("Read")).isEqualTo(1);
        assertThat(server.calls("BatchReadBlobs")).isZero();
    }

    @Test
    void findMissingCallsFitATinyBatchLimit() {
        int k = 3;
        FindMissingBlobsRequest base = FindMissingBlobsRequest.newBuilder()
                .setDigestFunction(build.bazel.remote.execution.v2.DigestFunction.Value.SHA256).build();
        Digest sample = DigestFunction.SHA256.digestOf(bytes("out 0"));
        ReapiTestServer server = server(base.getSerializedSize() + k * CodedOutputStream.computeMessageSize(2, sample.toProto()));
        ActionResult.Builder first = ActionResult.newBuilder();
        ActionResult.Builder second = ActionResult.newBuilder();
        Set<Digest> unique = new HashSet<>();
        for (int i = 0; i < 10; i++) {
            Digest d = server.put(bytes("out " + i));
            unique.add(d);
            first.addOutputFiles(OutputFile.newBuilder().setPath("first/" + i).setDigest(d.toProto()));
            // the second action shares half of the first's outputs
            Digest other = i % 2 == 0 ? d : server.put(bytes("other " + i));
            unique.add(other);
            second.addOutputFiles(OutputFile.newBuilder().setPath("second/" + i).setDigest(other.toProto()));
        }

        List<ActionVerdict> verdicts = validate(backend(server.target()),
                server.putAction("first", first.build()), server.putAction("second", second.build()));

        assertThat(verdicts).extracting(ActionVerdict::verdict).containsExactly(Verdict.HIT, Verdict.HIT);
        assertThat(unique).hasSize(15);
        assertThat(server.calls("FindMissingBlobs")).isEqualTo((unique.size() + k - 1) / k);
        assertThat(server.received(FindMissingBlobsRequest.class))
                .flatExtracting(FindMissingBlobsRequest::getBlobDigestsList)
                .containsExactlyInAnyOrderElementsOf(unique.stream().map(Digest::toProto).toList());
    }

    @Test
    void treeSharedByTwoActionsIsReadOnce() {
        ReapiTestServer server = server(MAX_BATCH);
        Build build = Build.stored(server);
        Digest other = server.putAction("build again", ActionResult.newBuilder()
                .addOutputDirectories(OutputDirectory.newBuilder().setPath("elsewhere").setTreeDigest(build.tree().toProto()))
                .build());

        List<ActionVerdict> verdicts = validate(backend(server.target()), build.action(), other);

        assertThat(verdicts).extracting(ActionVerdict::verdict).containsExactly(Verdict.HIT, Verdict.HIT);
        assertThat(server.reads(build.tree())).isEqualTo(1);
    }

    @Test
    void serverDownIsUnknownNeverMissOrHit() throws Exception {
        ReapiBackend backend = backend("grpc://127.0.0.1:" + ReapiTestServer.closedPort());

        ActionVerdict verdict = validate(backend, DigestFunction.SHA256.digestOf(bytes("compile"))).get(0);

        assertThat(verdict.verdict()).isEqualTo(Verdict.UNKNOWN);
        assertThat(verdict.reason()).contains("backend remote").contains("UNAVAILABLE");
    }

    @Test
    void failingExistenceCheckIsUnknown() {
        ReapiTestServer server = server(MAX_BATCH);
        Build build = Build.stored(server);
        server.fail("FindMissingBlobs", Status.INTERNAL.withDescription("index corrupted"));

        ActionVerdict verdict = validate(backend(server.target()), build.action()).get(0);

        assertThat(verdict.verdict()).isEqualTo(Verdict.UNKNOWN);
        assertThat(verdict.reason()).contains("INTERNAL: index corrupted");
    }

    @Test
    void failingActionCacheIsUnknown() {
        ReapiTestServer server = server(MAX_BATCH);
        Build build = Build.stored(server);
        server.fail("GetActionResult", Status.UNAVAILABLE.withDescription("overloaded"));

        ActionVerdict verdict = validate(backend(server.target()), build.action()).get(0);

        assertThat(verdict.verdict()).isEqualTo(Verdict.UNKNOWN);
        assertThat(verdict.reason()).contains("GetActionResult").contains("UNAVAILABLE: overloaded");
    }

    private static FileNode file(String name, Digest digest) {
        return FileNode.newBuilder().setName(name).setDigest(digest.toProto()).build();
    }
}
