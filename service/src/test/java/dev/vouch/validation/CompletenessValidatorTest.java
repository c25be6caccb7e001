package dev.vouch.validation;

import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.Directory;
import build.bazel.remote.execution.v2.DirectoryNode;
import build.bazel.remote.execution.v2.FileNode;
import build.bazel.remote.execution.v2.OutputDirectory;
import build.bazel.remote.execution.v2.OutputFile;
import build.bazel.remote.execution.v2.OutputSymlink;
import build.bazel.remote.execution.v2.Tree;
import com.google.protobuf.ByteString;
import dev.vouch.backend.BackendException;
import dev.vouch.backend.Scope;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.digest.DigestSet;
import dev.vouch.validation.FakeCacheBackend.Operation;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;
import reactor.core.scheduler.Schedulers;
import reactor.test.StepVerifier;

class CompletenessValidatorTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    private static final VouchProperties.Limits DEFAULT_LIMITS =
            VouchProperties.Limits.defaults();

    private final FakeCacheBackend backend = new FakeCacheBackend();

    // --- ActionResult shapes

    @Test
    void outputFilesAllPresent() {
        Digest a = backend.putBlob("a.o contents");
        Digest b = backend.putBlob("b.o");
        Digest action = backend.putAction("compile", ActionResult.newBuilder()
                .addOutputFiles(file("out/a.o", a)).addOutputFiles(file("out/b.o", b)).build());

        ActionVerdict verdict = validateOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.HIT);
        assertThat(verdict.missing()).isEmpty();
        assertThat(verdict.reason()).isNull();
        assertThat(verdict.backend()).isEqualTo("fake");
        assertThat(verdict.blobsReferenced()).isEqualTo(2);
        assertThat(verdict.bytesReferenced()).isEqualTo(a.sizeBytes() + b.sizeBytes());
        assertThat(verdict.actionResult()).isNull();
    }

    @Test
    void missingOutputFile() {
        Digest present = backend.putBlob("present");
        Digest gone = backend.absentBlob("evicted");
        Digest action = backend.putAction("compile", ActionResult.newBuilder()
                .addOutputFiles(file("out/a.o", present)).addOutputFiles(file("out/b.o", gone)).build());

        ActionVerdict verdict = validateOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.PARTIAL);
        assertThat(verdict.missing()).containsExactly(new BlobProblem(gone, BlobKind.OUTPUT_FILE, List.of("out/b.o")));
        assertThat(verdict.reason()).isNull();
    }

    @Test
    void inlinedContentsStillNeedTheBlob() {
        Digest gone = backend.absentBlob("inlined");
        Digest action = backend.putAction("inline", ActionResult.newBuilder()
                .addOutputFiles(file("out/small", gone).toBuilder().setContents(ByteString.copyFromUtf8("inlined")))
                .setStdoutRaw(ByteString.copyFromUtf8("hello"))
                .build());

        ActionVerdict verdict = validateOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.PARTIAL);
        assertThat(verdict.missing()).extracting(BlobProblem::digest).containsExactly(gone);
    }

    @Test
    void missingTreeFile() {
        Digest top = backend.putBlob("top file");
        Digest nestedGone = backend.absentBlob("nested file");
        Digest deepest = backend.putBlob("deepest file");
        Directory deeper = Directory.newBuilder().addFiles(fileNode("g", deepest)).build();
        Directory sub = Directory.newBuilder().addFiles(fileNode("file", nestedGone))
                .addDirectories(dirNode("deeper", sha256(deeper))).build();
        Tree tree = Tree.newBuilder()
                .setRoot(Directory.newBuilder().addFiles(fileNode("top", top)).addDirectories(dirNode("sub", sha256(sub))))
                .addChildren(sub).addChildren(deeper).build();
        Digest treeDigest = backend.putMessage(tree);
        Digest action = backend.putAction("tree", ActionResult.newBuilder()
                .addOutputDirectories(treeOutput("dir", treeDigest)).build());

        ActionVerdict verdict = validateOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.PARTIAL);
        assertThat(verdict.missing()).containsExactly(
                new BlobProblem(nestedGone, BlobKind.OUTPUT_DIRECTORY_FILE, List.of("dir/sub/file")));
        assertThat(verdict.blobsReferenced()).isEqualTo(4);
        assertThat(verdict.bytesReferenced())
                .isEqualTo(treeDigest.sizeBytes() + top.sizeBytes() + nestedGone.sizeBytes() + deepest.sizeBytes());
        // reading the tree proved it present, so it is not queried again
        assertThat(backend.allQueried()).containsExactlyInAnyOrder(top, nestedGone, deepest);
    }

    @Test
    void treeFileReachableByTwoPaths() {
        Digest gone = backend.absentBlob("shared");
        Directory shared = Directory.newBuilder().addFiles(fileNode("f", gone)).build();
        Tree tree = Tree.newBuilder()
                .setRoot(Directory.newBuilder().addDirectories(dirNode("a", sha256(shared)))
                        .addDirectories(dirNode("b", sha256(shared))))
                .addChildren(shared).build();
        Digest action = backend.putAction("dag", ActionResult.newBuilder()
                .addOutputDirectories(treeOutput("out", backend.putMessage(tree))).build());

        ActionVerdict verdict = validateOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.PARTIAL);
        assertThat(verdict.missing()).containsExactly(
                new BlobProblem(gone, BlobKind.OUTPUT_DIRECTORY_FILE, List.of("out/a/f", "out/b/f")));
    }

    @Test
    void missingTreeBlob() {
        Digest treeDigest = backend.absentMessage(Tree.newBuilder()
                .setRoot(Directory.newBuilder().addFiles(fileNode("x", backend.putBlob("x")))).build());
        Digest file = backend.putBlob("file");
        Digest action = backend.putAction("lost tree", ActionResult.newBuilder()
                .addOutputFiles(file("out/file", file))
                .addOutputDirectories(treeOutput("out/dir", treeDigest)).build());

        ActionVerdict verdict = validateOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.PARTIAL);
        assertThat(verdict.missing()).containsExactly(
                new BlobProblem(treeDigest, BlobKind.OUTPUT_DIRECTORY_TREE, List.of("out/dir")));
        assertThat(backend.allQueried()).containsExactly(file);
    }

    @Test
    void damagedTreeBlobIsCorruptEvenInExistenceMode() {
        Digest inside = backend.absentBlob("inside");
        Digest treeDigest = backend.putMessage(Tree.newBuilder()
                .setRoot(Directory.newBuilder().addFiles(fileNode("inside", inside))).build());
        backend.corruptOneByte(treeDigest);
        Digest file = backend.putBlob("file");
        Digest action = backend.putAction("damaged tree", ActionResult.newBuilder()
                .addOutputFiles(file("out/file", file))
                .addOutputDirectories(treeOutput("out/dir", treeDigest)).build());

        ActionVerdict verdict = validateOne(action);

        // a Tree whose bytes do not match its digest cannot vouch for the files it names
        assertThat(verdict.verdict()).isEqualTo(Verdict.PARTIAL);
        assertThat(verdict.corrupt()).containsExactly(
                new BlobProblem(treeDigest, BlobKind.OUTPUT_DIRECTORY_TREE, List.of("out/dir")));
        assertThat(verdict.missing()).isEmpty();
        assertThat(backend.allQueried()).containsExactly(file);
    }

    @Test
    void understatedTreeIsCorruptAndReadOnlyPastItsSize() {
        backend.deliverInChunksOf(64 * 1024);
        byte[] tree = Tree.newBuilder().setRoot(Directory.newBuilder().addFiles(fileNode("f", backend.putBlob("f"))))
                .build().toByteArray();
        Digest understated = new Digest(DigestFunction.SHA256.digestOf(tree).hash(), 10);
        backend.putUnder(understated, java.util.Arrays.copyOf(tree, 8 << 20));
        Digest action = backend.putAction("tree", ActionResult.newBuilder()
                .addOutputDirectories(treeOutput("out/dir", understated)).build());

        ActionVerdict verdict = validateOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.PARTIAL);
        assertThat(verdict.corrupt())
                .containsExactly(new BlobProblem(understated, BlobKind.OUTPUT_DIRECTORY_TREE, List.of("out/dir")));
        assertThat(backend.bytesDelivered()).isLessThanOrEqualTo(64 * 1024);
    }

    @Test
    void missingDirectoryUnderRootDirectory() {
        Digest file = backend.putBlob("x");
        Digest subGone = backend.absentMessage(Directory.newBuilder().addFiles(fileNode("y", file)).build());
        Digest root = backend.putMessage(Directory.newBuilder().addFiles(fileNode("x", file))
                .addDirectories(dirNode("sub", subGone)).build());
        Digest action = backend.putAction("dirs", ActionResult.newBuilder()
                .addOutputDirectories(rootOutput("gen", root)).build());

        ActionVerdict verdict = validateOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.PARTIAL);
        assertThat(verdict.missing()).containsExactly(new BlobProblem(subGone, BlobKind.DIRECTORY, List.of("gen/sub")));
        assertThat(backend.allQueried()).containsExactly(file);
    }

    @Test
    void missingFileUnderRootDirectory() {
        Digest gone = backend.absentBlob("y");
        Digest sub = backend.putMessage(Directory.newBuilder().addFiles(fileNode("y", gone)).build());
        Digest root = backend.putMessage(Directory.newBuilder().addDirectories(dirNode("sub", sub)).build());
        Digest action = backend.putAction("dirs", ActionResult.newBuilder()
                .addOutputDirectories(rootOutput("gen", root)).build());

        ActionVerdict verdict = validateOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.PARTIAL);
        assertThat(verdict.missing()).containsExactly(
                new BlobProblem(gone, BlobKind.OUTPUT_DIRECTORY_FILE, List.of("gen/sub/y")));
        assertThat(verdict.blobsReferenced()).isEqualTo(3);
        // both Directory blobs were read, so only the file is queried
        assertThat(backend.allQueried()).containsExactly(gone);
        assertThat(backend.reads).containsExactlyInAnyOrder(root, sub);
    }

    @Test
    void stdoutPresentStderrMissing() {
        Digest out = backend.putBlob("stdout text");
        Digest err = backend.absentBlob("stderr text");
        Digest action = backend.putAction("logs", ActionResult.newBuilder()
                .setStdoutDigest(out.toProto()).setStderrDigest(err.toProto()).build());

        ActionVerdict verdict = validateOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.PARTIAL);
        assertThat(verdict.missing()).containsExactly(new BlobProblem(err, BlobKind.STDERR, List.of("stderr")));
        assertThat(verdict.blobsReferenced()).isEqualTo(2);
    }

    @Test
    void missingStdout() {
        Digest out = backend.absentBlob("stdout text");
        Digest action = backend.putAction("logs", ActionResult.newBuilder().setStdoutDigest(out.toProto()).build());

        assertThat(validateOne(action).missing())
                .containsExactly(new BlobProblem(out, BlobKind.STDOUT, List.of("stdout")));
    }

    @Test
    void symlinksOnly() {
        Digest action = backend.putAction("links", ActionResult.newBuilder()
                .addOutputSymlinks(OutputSymlink.newBuilder().setPath("out/link").setTarget("../x"))
                .addOutputFileSymlinks(OutputSymlink.newBuilder().setPath("out/flink").setTarget("y")).build());

        ActionVerdict verdict = validateOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.HIT);
        assertThat(verdict.blobsReferenced()).isZero();
        assertThat(backend.findMissingCalls).isEmpty();
    }

    @Test
    void emptyBlobsAreNeverQueried() {
        // not stored: the empty blob counts as present whatever the CAS says
        Digest empty = backend.absentBlob("");
        Directory emptyDir = Directory.getDefaultInstance();
        Tree tree = Tree.newBuilder().setRoot(Directory.newBuilder().addFiles(fileNode("__init__.py", empty))
                .addDirectories(dirNode("nothing", sha256(emptyDir)))).build();
        Digest action = backend.putAction("empty", ActionResult.newBuilder()
                .addOutputFiles(file("out/empty", empty))
                .addOutputDirectories(treeOutput("out/pkg", backend.putMessage(tree)))
                .setStdoutDigest(empty.toProto()).build());

        ActionVerdict verdict = validateOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.HIT);
        assertThat(verdict.blobsReferenced()).isEqualTo(2);
        assertThat(backend.findMissingCalls).isEmpty();
    }

    @Test
    void sizeZeroIsNotEnoughToBeTheEmptyBlob() {
        Digest notEmpty = new Digest(backend.absentBlob("not empty").hash(), 0);
        Digest action = backend.putAction("size zero", ActionResult.newBuilder()
                .addOutputFiles(file("out/a.o", notEmpty)).build());

        ActionVerdict verdict = validateOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.UNKNOWN);
        assertThat(verdict.reason()).isEqualTo("malformed ActionResult: output file out/a.o: digest " + notEmpty
                + " has size 0 but is not the empty blob (" + DigestFunction.SHA256.emptyDigest() + ")");
        assertThat(backend.findMissingCalls).isEmpty();
    }

    @Test
    void sizeZeroInsideTreeIsMalformed() {
        Digest notEmpty = new Digest(backend.absentBlob("not empty").hash(), 0);
        Tree tree = Tree.newBuilder().setRoot(Directory.newBuilder().addFiles(fileNode("f", notEmpty))).build();
        Digest action = backend.putAction("size zero in tree", ActionResult.newBuilder()
                .addOutputDirectories(treeOutput("out", backend.putMessage(tree))).build());

        ActionVerdict verdict = validateOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.UNKNOWN);
        assertThat(verdict.reason()).startsWith("malformed ActionResult: tree ")
                .endsWith("file out/f: digest " + notEmpty + " has size 0 but is not the empty blob ("
                        + DigestFunction.SHA256.emptyDigest() + ")");
    }

    @Test
    void emptyBlobOfAnotherFunctionIsNotTheEmptyBlob() {
        // BLAKE3's hash of nothing has SHA-256's length, so only the function can tell them apart
        Digest blake3Empty = DigestFunction.BLAKE3.emptyDigest();
        Digest action = backend.putAction("other empty", ActionResult.newBuilder()
                .addOutputFiles(file("out/empty", blake3Empty)).build());

        ActionVerdict verdict = validateOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.UNKNOWN);
        assertThat(verdict.reason()).startsWith("malformed ActionResult: output file out/empty: digest " + blake3Empty);
    }

    @Test
    void sameBlobUnderTwoPaths() {
        Digest gone = backend.absentBlob("twice");
        Digest action = backend.putAction("twice", ActionResult.newBuilder()
                .addOutputFiles(file("out/a", gone)).addOutputFiles(file("out/b", gone)).build());

        ActionVerdict verdict = validateOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.PARTIAL);
        assertThat(verdict.missing())
                .containsExactly(new BlobProblem(gone, BlobKind.OUTPUT_FILE, List.of("out/a", "out/b")));
        assertThat(verdict.blobsReferenced()).isEqualTo(1);
        assertThat(backend.allQueried()).containsExactly(gone);
    }

    @Test
    void includeActionResult() {
        ActionResult result = ActionResult.newBuilder().addOutputFiles(file("out/a", backend.putBlob("a"))).build();
        Digest action = backend.putAction("a", result);

        List<ActionVerdict> verdicts = validate(request(Mode.EXISTENCE, true, action));

        assertThat(verdicts.get(0).actionResult()).isEqualTo(result);
    }

    // --- failures, all of which must end in UNKNOWN

    @Test
    void actionCacheMiss() {
        ActionVerdict verdict = validateOne(backend.actionDigest("never run"));

        assertThat(verdict.verdict()).isEqualTo(Verdict.MISS);
        assertThat(verdict.reason()).isNull();
        assertThat(backend.findMissingCalls).isEmpty();
    }

    @Test
    void actionCacheFailure() {
        Digest action = backend.putAction("a", ActionResult.newBuilder().addOutputFiles(file("a", backend.putBlob("a"))).build());
        backend.fail(Operation.GET_ACTION_RESULT, new BackendException("fake", "connection refused"));

        ActionVerdict verdict = validateOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.UNKNOWN);
        assertThat(verdict.reason()).isEqualTo("action cache lookup failed: connection refused");
    }

    @Test
    void findMissingError() {
        Digest action = backend.putAction("a", ActionResult.newBuilder().addOutputFiles(file("a", backend.putBlob("a"))).build());
        backend.fail(Operation.FIND_MISSING, new BackendException("fake", "deadline exceeded"));

        ActionVerdict verdict = validateOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.UNKNOWN);
        assertThat(verdict.reason()).isEqualTo("existence check failed: deadline exceeded");
    }

    @Test
    void findMissingErrorOnlyAffectsActionsInThatPart() {
        Digest first = backend.putBlob("first");
        Digest second = backend.putBlob("second");
        Digest a = backend.putAction("a", ActionResult.newBuilder().addOutputFiles(file("a", first)).build());
        Digest b = backend.putAction("b", ActionResult.newBuilder().addOutputFiles(file("b", second)).build());
        backend.answerFindMissingWith(part -> part.contains(second)
                ? Mono.error(new BackendException("fake", "unavailable"))
                : Mono.just(DigestSet.empty()));
        CompletenessValidator validator = validator(limits(1_000_000, 268435456L, 1));

        List<ActionVerdict> verdicts = validate(validator, request(Mode.EXISTENCE, false, a, b));

        assertThat(verdicts).extracting(ActionVerdict::verdict).containsExactly(Verdict.HIT, Verdict.UNKNOWN);
        assertThat(verdicts.get(1).reason()).isEqualTo("existence check failed: unavailable");
    }

    @Test
    void treeReadFailure() {
        Digest treeDigest = backend.putMessage(Tree.newBuilder()
                .setRoot(Directory.newBuilder().addFiles(fileNode("x", backend.putBlob("x")))).build());
        Digest action = backend.putAction("t", ActionResult.newBuilder()
                .addOutputDirectories(treeOutput("out", treeDigest)).build());
        backend.fail(Operation.READ, new BackendException("fake", "stream reset"));

        ActionVerdict verdict = validateOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.UNKNOWN);
        assertThat(verdict.reason()).isEqualTo("reading tree " + treeDigest + " of output directory out failed: stream reset");
        assertThat(backend.findMissingCalls).isEmpty();
    }

    @Test
    void malformedTree() {
        byte[] garbage = {0x0a, 0x05, 0x01};
        Digest treeDigest = DigestFunction.SHA256.digestOf(garbage);
        backend.putUnder(treeDigest, garbage);
        Digest action = backend.putAction("t", ActionResult.newBuilder()
                .addOutputDirectories(treeOutput("out", treeDigest)).build());

        ActionVerdict verdict = validateOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.UNKNOWN);
        assertThat(verdict.reason()).startsWith("malformed ActionResult: blob " + treeDigest + " is not a valid message");
    }

    @Test
    void treeLacksReferencedChild() {
        Directory child = Directory.newBuilder().addFiles(fileNode("f", backend.putBlob("f"))).build();
        Tree tree = Tree.newBuilder().setRoot(Directory.newBuilder().addDirectories(dirNode("sub", sha256(child)))).build();
        Digest action = backend.putAction("t", ActionResult.newBuilder()
                .addOutputDirectories(treeOutput("out", backend.putMessage(tree))).build());

        ActionVerdict verdict = validateOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.UNKNOWN);
        assertThat(verdict.reason()).startsWith("malformed ActionResult: tree ").contains("lacks directory out/sub");
    }

    @Test
    void badDigestInActionResult() {
        Digest action = backend.putAction("bad", ActionResult.newBuilder()
                .addOutputFiles(OutputFile.newBuilder().setPath("out/a.o")
                        .setDigest(build.bazel.remote.execution.v2.Digest.newBuilder().setHash("abc").setSizeBytes(3)))
                .build());

        ActionVerdict verdict = validateOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.UNKNOWN);
        assertThat(verdict.reason()).isEqualTo("malformed ActionResult: output file out/a.o: hash has 3 hex digits, SHA256 needs 64");
        assertThat(backend.findMissingCalls).isEmpty();
    }

    @Test
    void badDigestInsideTree() {
        Tree tree = Tree.newBuilder().setRoot(Directory.newBuilder().addFiles(FileNode.newBuilder().setName("f")
                .setDigest(build.bazel.remote.execution.v2.Digest.newBuilder().setHash("ABCD").setSizeBytes(1)))).build();
        Digest action = backend.putAction("bad", ActionResult.newBuilder()
                .addOutputDirectories(treeOutput("out", backend.putMessage(tree))).build());

        ActionVerdict verdict = validateOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.UNKNOWN);
        assertThat(verdict.reason()).startsWith("malformed ActionResult: tree ").contains("file out/f");
    }

    @Test
    void outputDirectoryWithoutDigest() {
        Digest action = backend.putAction("bad", ActionResult.newBuilder()
                .addOutputDirectories(OutputDirectory.newBuilder().setPath("out")).build());

        assertThat(validateOne(action).reason()).isEqualTo(
                "malformed ActionResult: output directory out has neither tree_digest nor root_directory_digest");
    }

    @Test
    void noBackendForInstance() {
        CompletenessValidator validator = new CompletenessValidator(instance -> {
            throw new IllegalArgumentException("no route");
        }, DEFAULT_LIMITS, new ValidationMetrics(new SimpleMeterRegistry()));

        List<ActionVerdict> verdicts = validate(validator, request(Mode.EXISTENCE, false, backend.actionDigest("a")));

        assertThat(verdicts).extracting(ActionVerdict::verdict).containsExactly(Verdict.UNKNOWN);
        assertThat(verdicts.get(0).reason()).isEqualTo("no backend for instance name 'ci': no route");
    }

    // --- deduplication and batching

    @Test
    void sharedBlobsCheckedOnce() {
        Digest shared = backend.putBlob("shared");
        Digest sharedFile = backend.putBlob("in shared tree");
        Digest sharedTree = backend.putMessage(Tree.newBuilder()
                .setRoot(Directory.newBuilder().addFiles(fileNode("f", sharedFile))).build());
        Digest ownA = backend.putBlob("own a");
        Digest ownB = backend.absentBlob("own b");
        Digest a = backend.putAction("a", ActionResult.newBuilder().addOutputFiles(file("a/shared", shared))
                .addOutputFiles(file("a/own", ownA)).addOutputDirectories(treeOutput("a/tree", sharedTree)).build());
        Digest b = backend.putAction("b", ActionResult.newBuilder().addOutputFiles(file("b/shared", shared))
                .addOutputFiles(file("b/own", ownB)).addOutputDirectories(treeOutput("b/tree", sharedTree)).build());

        List<ActionVerdict> verdicts = validate(request(Mode.EXISTENCE, false, a, b));

        assertThat(verdicts).extracting(ActionVerdict::verdict).containsExactly(Verdict.HIT, Verdict.PARTIAL);
        assertThat(verdicts.get(1).missing()).containsExactly(new BlobProblem(ownB, BlobKind.OUTPUT_FILE, List.of("b/own")));
        assertThat(backend.allQueried()).containsExactlyInAnyOrder(shared, sharedFile, ownA, ownB);
        assertThat(backend.reads).containsExactly(sharedTree);
    }

    @Test
    void duplicateActionLookedUpOnce() {
        Digest a = backend.putAction("a", ActionResult.newBuilder().addOutputFiles(file("a", backend.absentBlob("a"))).build());
        Digest missed = backend.actionDigest("missed");

        List<ActionVerdict> verdicts = validate(request(Mode.EXISTENCE, false, a, missed, a));

        assertThat(verdicts).extracting(ActionVerdict::index).containsExactly(0, 1, 2);
        assertThat(verdicts).extracting(ActionVerdict::verdict)
                .containsExactly(Verdict.PARTIAL, Verdict.MISS, Verdict.PARTIAL);
        assertThat(verdicts.get(2).missing()).isEqualTo(verdicts.get(0).missing());
        assertThat(backend.actionLookups).containsExactlyInAnyOrder(a, missed);
    }

    @Test
    void findMissingBatchedAtTenThousand() {
        ActionResult.Builder result = ActionResult.newBuilder();
        for (int i = 0; i < 25_001; i++) {
            result.addOutputFiles(file("out/" + i, backend.putBlob("blob " + i)));
        }
        Digest action = backend.putAction("big", result.build());

        ActionVerdict verdict = validateOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.HIT);
        assertThat(verdict.blobsReferenced()).isEqualTo(25_001);
        assertThat(backend.findMissingCalls).extracting(DigestSet::size).containsExactlyInAnyOrder(10_000, 10_000, 5_001);
        assertThat(backend.allQueried()).doesNotHaveDuplicates().hasSize(25_001);
    }

    // --- limits

    @Test
    void tooManyBlobs() {
        Digest action = backend.putAction("wide", ActionResult.newBuilder()
                .addOutputFiles(file("a", backend.putBlob("a"))).addOutputFiles(file("b", backend.putBlob("b")))
                .addOutputFiles(file("c", backend.putBlob("c"))).build());

        List<ActionVerdict> verdicts = validate(validator(limits(2, 268435456L, 10000)),
                request(Mode.EXISTENCE, false, action));

        assertThat(verdicts.get(0).verdict()).isEqualTo(Verdict.UNKNOWN);
        assertThat(verdicts.get(0).reason()).isEqualTo("closure has more than 2 blobs (vouch.limits.max-blobs-per-action)");
        assertThat(backend.findMissingCalls).isEmpty();
    }

    @Test
    void treeTooLarge() {
        Tree tree = Tree.newBuilder().setRoot(Directory.newBuilder()
                .addFiles(fileNode("a-file-with-a-long-name", backend.putBlob("a")))).build();
        Digest treeDigest = backend.putMessage(tree);
        Digest action = backend.putAction("t", ActionResult.newBuilder()
                .addOutputDirectories(treeOutput("out", treeDigest)).build());

        List<ActionVerdict> verdicts = validate(validator(limits(1_000_000, treeDigest.sizeBytes() - 1, 10000)),
                request(Mode.EXISTENCE, false, action));

        assertThat(verdicts.get(0).verdict()).isEqualTo(Verdict.UNKNOWN);
        assertThat(verdicts.get(0).reason()).contains("vouch.limits.max-tree-bytes");
        assertThat(backend.reads).isEmpty();
    }

    @Test
    void directoriesTooLarge() {
        Digest deepest = backend.putMessage(Directory.newBuilder().addFiles(fileNode("z", backend.putBlob("z"))).build());
        Digest sub = backend.putMessage(Directory.newBuilder().addFiles(fileNode("y", backend.putBlob("y")))
                .addDirectories(dirNode("deeper", deepest)).build());
        Digest root = backend.putMessage(Directory.newBuilder().addDirectories(dirNode("sub", sub)).build());
        Digest action = backend.putAction("d", ActionResult.newBuilder()
                .addOutputDirectories(rootOutput("gen", root)).build());

        List<ActionVerdict> verdicts = validate(validator(limits(1_000_000, root.sizeBytes(), 10000)),
                request(Mode.EXISTENCE, false, action));

        assertThat(verdicts.get(0).verdict()).isEqualTo(Verdict.UNKNOWN);
        assertThat(verdicts.get(0).reason()).contains("vouch.limits.max-tree-bytes");
        // the tree stops streaming at the directory that crosses the limit: nothing below it is read
        assertThat(backend.reads).containsExactly(root, sub);
    }

    // --- request-wide answers

    @Test
    void unsupportedDigestFunction() {
        backend.supportOnly(DigestFunction.SHA256);
        Digest action = new Digest("a".repeat(40), 10);

        List<ActionVerdict> verdicts = validate(new ValidationRequest(new Scope("ci", DigestFunction.SHA1),
                Mode.EXISTENCE, List.of(action, action), false));

        assertThat(verdicts).extracting(ActionVerdict::verdict).containsExactly(Verdict.UNKNOWN, Verdict.UNKNOWN);
        assertThat(verdicts.get(0).reason()).isEqualTo("backend fake does not support digest function SHA1");
        assertThat(backend.actionLookups).isEmpty();
    }

    @Test
    void capabilitiesFailure() {
        backend.fail(Operation.CAPABILITIES, new BackendException("fake", "unreachable"));

        ActionVerdict verdict = validateOne(backend.actionDigest("a"));

        assertThat(verdict.verdict()).isEqualTo(Verdict.UNKNOWN);
        assertThat(verdict.reason()).isEqualTo("capabilities of backend fake unavailable: unreachable");
        assertThat(backend.actionLookups).isEmpty();
    }

    @Test
    void missEmittedBeforeExistenceCheckCompletes() {
        Digest hit = backend.putAction("hit", ActionResult.newBuilder().addOutputFiles(file("a", backend.putBlob("a"))).build());
        Digest miss = backend.actionDigest("miss");
        Sinks.One<DigestSet> answer = Sinks.one();
        backend.answerFindMissingWith(part -> answer.asMono());

        StepVerifier.create(validator(DEFAULT_LIMITS).validate(request(Mode.EXISTENCE, false, hit, miss)))
                .assertNext(v -> assertThat(v.verdict()).isEqualTo(Verdict.MISS))
                .then(() -> answer.tryEmitValue(DigestSet.empty()))
                .assertNext(v -> assertThat(v.verdict()).isEqualTo(Verdict.HIT))
                .expectComplete()
                .verify(TIMEOUT);
    }

    @Test
    void nothingBlocksOnNonBlockingThreads() {
        // BlockHound (installed for every test JVM) fails any blocking call on the parallel scheduler
        backend.deliverOn(Schedulers.parallel());
        Digest gone = backend.absentBlob("gone");
        Directory child = Directory.newBuilder().addFiles(fileNode("f", gone)).build();
        Digest tree = backend.putMessage(Tree.newBuilder()
                .setRoot(Directory.newBuilder().addDirectories(dirNode("sub", sha256(child)))).addChildren(child).build());
        Digest sub = backend.putMessage(Directory.newBuilder().addFiles(fileNode("y", backend.putBlob("y"))).build());
        Digest root = backend.putMessage(Directory.newBuilder().addDirectories(dirNode("sub", sub)).build());
        Digest action = backend.putAction("a", ActionResult.newBuilder().addOutputFiles(file("a", backend.putBlob("a")))
                .addOutputDirectories(treeOutput("t", tree)).addOutputDirectories(rootOutput("d", root)).build());

        List<ActionVerdict> verdicts = validate(request(Mode.EXISTENCE, false, action, backend.actionDigest("miss")));

        assertThat(verdicts).extracting(ActionVerdict::verdict).containsExactly(Verdict.PARTIAL, Verdict.MISS);
        assertThat(verdicts.get(0).missing())
                .containsExactly(new BlobProblem(gone, BlobKind.OUTPUT_DIRECTORY_FILE, List.of("t/sub/f")));
    }

    @Test
    void emptyRequest() {
        StepVerifier.create(validator(DEFAULT_LIMITS).validate(request(Mode.EXISTENCE, false)))
                .expectComplete()
                .verify(TIMEOUT);
        assertThat(backend.actionLookups).isEmpty();
    }

    // --- helpers

    private ActionVerdict validateOne(Digest action) {
        List<ActionVerdict> verdicts = validate(request(Mode.EXISTENCE, false, action));
        assertThat(verdicts).hasSize(1);
        return verdicts.get(0);
    }

    private List<ActionVerdict> validate(ValidationRequest request) {
        return validate(validator(DEFAULT_LIMITS), request);
    }

    /** Every verdict of the request, in request order. */
    static List<ActionVerdict> validate(CacheValidator validator, ValidationRequest request) {
        List<ActionVerdict> verdicts = new ArrayList<>();
        StepVerifier.create(validator.validate(request))
                .recordWith(ArrayList::new)
                .thenConsumeWhile(v -> true)
                .consumeRecordedWith(verdicts::addAll)
                .expectComplete()
                .verify(TIMEOUT);
        verdicts.sort(Comparator.comparingInt(ActionVerdict::index));
        assertThat(verdicts).extracting(ActionVerdict::index)
                .containsExactlyElementsOf(java.util.stream.IntStream.range(0, request.actions().size()).boxed().toList());
        return verdicts;
    }

    private CompletenessValidator validator(VouchProperties.Limits limits) {
        return new CompletenessValidator(instance -> backend, limits, new ValidationMetrics(new SimpleMeterRegistry()));
    }

    static VouchProperties.Limits limits(int maxBlobsPerAction, long maxTreeBytes, int findMissingBatchSize) {
        return new VouchProperties.Limits(1000, 4194304, maxBlobsPerAction, maxTreeBytes, findMissingBatchSize, 32, 8);
    }

    static ValidationRequest request(Mode mode, boolean includeActionResult, Digest... actions) {
        return new ValidationRequest(new Scope("ci", DigestFunction.SHA256), mode, List.of(actions), includeActionResult);
    }

    static OutputFile file(String path, Digest digest) {
        return OutputFile.newBuilder().setPath(path).setDigest(digest.toProto()).build();
    }

    static FileNode fileNode(String name, Digest digest) {
        return FileNode.newBuilder().setName(name).setDigest(digest.toProto()).build();
    }

    static DirectoryNode dirNode(String name, Digest digest) {
        return DirectoryNode.newBuilder().setName(name).setDigest(digest.toProto()).build();
    }

    static Digest sha256(Directory directory) {
        return DigestFunction.SHA256.digestOf(directory.toByteArray());
    }

    static OutputDirectory treeOutput(String path, Digest tree) {
        return OutputDirectory.newBuilder().setPath(path).setTreeDigest(tree.toProto()).build();
    }

    static OutputDirectory rootOutput(String path, Digest root) {
        return OutputDirectory.newBuilder().setPath(path).setRootDirectoryDigest(root.toProto()).build();
    }
}
