package dev.vouch.validation;

import static dev.vouch.validation.CompletenessValidatorTest.dirNode;
import static dev.vouch.validation.CompletenessValidatorTest.file;
import static dev.vouch.validation.CompletenessValidatorTest.fileNode;
import static dev.vouch.validation.CompletenessValidatorTest.request;
import static dev.vouch.validation.CompletenessValidatorTest.rootOutput;
import static dev.vouch.validation.CompletenessValidatorTest.sha256;
import static dev.vouch.validation.CompletenessValidatorTest.treeOutput;
import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.Directory;
import build.bazel.remote.execution.v2.Tree;
import dev.vouch.backend.BackendException;
import dev.vouch.backend.Scope;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import reactor.core.scheduler.Schedulers;

/** Mode FETCH of the engine: every blob read back and hashed as it streams. */
class FetchModeTest {
    private static final VouchProperties.Limits LIMITS =
            VouchProperties.Limits.defaults();

    private final FakeCacheBackend backend = new FakeCacheBackend();
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

    @Test
    void allBlobsVerified() {
        backend.deliverInChunksOf(7);
        Digest a = backend.putBlob("object file a, long enough for several chunks");
        Digest b = backend.putBlob("b");
        Digest out = backend.putBlob("compiler output");
        Digest action = backend.putAction("compile", ActionResult.newBuilder()
                .addOutputFiles(file("out/a.o", a)).addOutputFiles(file("out/b.o", b))
                .setStdoutDigest(out.toProto()).build());

        ActionVerdict verdict = fetchOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.HIT);
        assertThat(verdict.missing()).isEmpty();
        assertThat(verdict.corrupt()).isEmpty();
        assertThat(verdict.blobsReferenced()).isEqualTo(3);
        assertThat(verdict.bytesReferenced()).isEqualTo(a.sizeBytes() + b.sizeBytes() + out.sizeBytes());
        assertThat(backend.reads).containsExactlyInAnyOrder(a, b, out);
        // FETCH confirms by reading, never by asking
        assertThat(backend.findMissingCalls).isEmpty();
    }

    @Test
    void largeBlobInManyChunks() {
        byte[] large = new byte[3 * 1024 * 1024 + 17];
        new Random(1).nextBytes(large);
        backend.deliverInChunksOf(64 * 1024);
        Digest blob = backend.putBytes(large);
        Digest action = backend.putAction("link", ActionResult.newBuilder().addOutputFiles(file("bin/app", blob)).build());

        assertThat(fetchOne(action).verdict()).isEqualTo(Verdict.HIT);
    }

    @Test
    void oneCorruptByte() {
        Digest good = backend.putBlob("good object");
        Digest bad = backend.putBlob("an object that rots on disk");
        backend.corruptOneByte(bad);
        Digest action = backend.putAction("compile", ActionResult.newBuilder()
                .addOutputFiles(file("out/good.o", good)).addOutputFiles(file("out/bad.o", bad))
                .addOutputFiles(file("out/copy-of-bad.o", bad)).build());

        ActionVerdict verdict = fetchOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.PARTIAL);
        assertThat(verdict.corrupt()).containsExactly(
                new BlobProblem(bad, BlobKind.OUTPUT_FILE, List.of("out/bad.o", "out/copy-of-bad.o")));
        assertThat(verdict.missing()).isEmpty();
        assertThat(verdict.reason()).isNull();
    }

    @Test
    void corruptionIsInvisibleToExistenceChecks() {
        Digest bad = backend.putBlob("an object that rots on disk");
        backend.corruptOneByte(bad);
        Digest action = backend.putAction("compile", ActionResult.newBuilder().addOutputFiles(file("out/a.o", bad)).build());

        List<ActionVerdict> existence = validate(request(Mode.EXISTENCE, false, action));

        assertThat(existence.get(0).verdict()).isEqualTo(Verdict.HIT);
        assertThat(fetchOne(action).verdict()).isEqualTo(Verdict.PARTIAL);
    }

    @Test
    void truncatedBlob() {
        backend.deliverInChunksOf(4);
        Digest blob = backend.putBlob("sixteen bytes!!!");
        backend.truncate(blob, 10);
        Digest action = backend.putAction("a", ActionResult.newBuilder().addOutputFiles(file("out/a", blob)).build());

        ActionVerdict verdict = fetchOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.PARTIAL);
        assertThat(verdict.corrupt()).containsExactly(new BlobProblem(blob, BlobKind.OUTPUT_FILE, List.of("out/a")));
        assertThat(verdict.missing()).isEmpty();
    }

    @Test
    void blobLongerThanItsDigest() {
        backend.deliverInChunksOf(4);
        Digest blob = backend.putBlob("sixteen bytes!!!");
        backend.extend(blob, 1);
        Digest action = backend.putAction("a", ActionResult.newBuilder().addOutputFiles(file("out/a", blob)).build());

        ActionVerdict verdict = fetchOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.PARTIAL);
        assertThat(verdict.corrupt()).extracting(BlobProblem::digest).containsExactly(blob);
    }

    @Test
    void blobFarLongerThanItsDigestIsReadOnlyPastItsSize() {
        backend.deliverInChunksOf(64 * 1024);
        Digest understated = new Digest(backend.absentBlob("the real blob").hash(), 1);
        backend.putUnder(understated, new byte[8 << 20]);
        Digest action = backend.putAction("a", ActionResult.newBuilder().addOutputFiles(file("out/a", understated)).build());

        ActionVerdict verdict = fetchOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.PARTIAL);
        assertThat(verdict.corrupt()).containsExactly(new BlobProblem(understated, BlobKind.OUTPUT_FILE, List.of("out/a")));
        assertThat(verdict.missing()).isEmpty();
        // the one chunk that ran past the size, and the few the hashing queue asked for ahead
        assertThat(backend.bytesDelivered()).isLessThanOrEqualTo(4 * 64 * 1024);
    }

    @Test
    void understatedDirectoryUnderRootDirectoryIsCorrupt() {
        backend.deliverInChunksOf(64 * 1024);
        byte[] directory = Directory.newBuilder().addFiles(fileNode("f", backend.putBlob("f"))).build().toByteArray();
        Digest understated = new Digest(DigestFunction.SHA256.digestOf(directory).hash(), 3);
        backend.putUnder(understated, Arrays.copyOf(directory, 8 << 20));
        Digest action = backend.putAction("a", ActionResult.newBuilder()
                .addOutputDirectories(rootOutput("out/dir", understated)).build());

        ActionVerdict verdict = fetchOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.PARTIAL);
        assertThat(verdict.corrupt()).containsExactly(new BlobProblem(understated, BlobKind.DIRECTORY, List.of("out/dir")));
        assertThat(backend.bytesDelivered()).isLessThanOrEqualTo(4 * 64 * 1024);
    }

    @Test
    void absentBlob() {
        Digest present = backend.putBlob("present");
        Digest gone = backend.absentBlob("evicted");
        Digest action = backend.putAction("a", ActionResult.newBuilder()
                .addOutputFiles(file("out/a", present)).setStderrDigest(gone.toProto()).build());

        ActionVerdict verdict = fetchOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.PARTIAL);
        assertThat(verdict.missing()).containsExactly(new BlobProblem(gone, BlobKind.STDERR, List.of("stderr")));
        assertThat(verdict.corrupt()).isEmpty();
    }

    @Test
    void readErrorIsUnknownNeverHit() {
        Digest flaky = backend.putBlob("behind a flaky link");
        Digest fine = backend.putBlob("fine");
        Digest gone = backend.absentBlob("gone");
        Digest hurt = backend.putAction("hurt", ActionResult.newBuilder()
                .addOutputFiles(file("out/flaky", flaky)).addOutputFiles(file("out/gone", gone)).build());
        Digest unaffected = backend.putAction("fine", ActionResult.newBuilder().addOutputFiles(file("out/fine", fine)).build());
        backend.failReadOf(flaky, new BackendException("fake", "stream reset"));

        List<ActionVerdict> verdicts = validate(request(Mode.FETCH, false, hurt, unaffected));

        assertThat(verdicts).extracting(ActionVerdict::verdict).containsExactly(Verdict.UNKNOWN, Verdict.HIT);
        // even with a known missing blob: the result could not name everything that is wrong
        assertThat(verdicts.get(0).reason()).isEqualTo("reading blob " + flaky + " failed: stream reset");
        assertThat(verdicts.get(0).missing()).isEmpty();
    }

    @Test
    void everyReadFailing() {
        Digest action = backend.putAction("a", ActionResult.newBuilder()
                .addOutputFiles(file("out/a", backend.putBlob("a"))).build());
        backend.fail(FakeCacheBackend.Operation.READ, new BackendException("fake", "unavailable"));

        ActionVerdict verdict = fetchOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.UNKNOWN);
        assertThat(verdict.reason()).endsWith("failed: unavailable");
    }

    @Test
    void sharedBlobReadOnce() {
        Digest shared = backend.putBlob("shared header");
        Digest sharedFile = backend.putBlob("in the shared tree");
        Digest sharedTree = backend.putMessage(Tree.newBuilder()
                .setRoot(Directory.newBuilder().addFiles(fileNode("f", sharedFile))).build());
        Digest a = backend.putAction("a", ActionResult.newBuilder().addOutputFiles(file("a/h", shared))
                .addOutputDirectories(treeOutput("a/t", sharedTree)).build());
        Digest b = backend.putAction("b", ActionResult.newBuilder().addOutputFiles(file("b/h", shared))
                .addOutputFiles(file("b/h2", shared)).addOutputDirectories(treeOutput("b/t", sharedTree)).build());

        List<ActionVerdict> verdicts = validate(request(Mode.FETCH, false, a, b, a));

        assertThat(verdicts).extracting(ActionVerdict::verdict).containsOnly(Verdict.HIT);
        assertThat(backend.reads).containsExactlyInAnyOrder(shared, sharedFile, sharedTree);
        assertThat(backend.actionLookups).containsExactlyInAnyOrder(a, b);
    }

    @Test
    void treeFilesVerified() {
        Digest top = backend.putBlob("top");
        Digest nested = backend.putBlob("nested");
        backend.corruptOneByte(nested);
        Directory sub = Directory.newBuilder().addFiles(fileNode("n", nested)).build();
        Tree tree = Tree.newBuilder()
                .setRoot(Directory.newBuilder().addFiles(fileNode("top", top)).addDirectories(dirNode("sub", sha256(sub))))
                .addChildren(sub).build();
        Digest treeDigest = backend.putMessage(tree);
        Digest action = backend.putAction("t", ActionResult.newBuilder()
                .addOutputDirectories(treeOutput("dir", treeDigest)).build());

        ActionVerdict verdict = fetchOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.PARTIAL);
        assertThat(verdict.corrupt()).containsExactly(
                new BlobProblem(nested, BlobKind.OUTPUT_DIRECTORY_FILE, List.of("dir/sub/n")));
        // the tree was verified while walking and is not read again
        assertThat(backend.readsOf(treeDigest)).isEqualTo(1);
    }

    @Test
    void corruptTreeBlob() {
        Digest inside = backend.putBlob("inside");
        Digest treeDigest = backend.putMessage(Tree.newBuilder()
                .setRoot(Directory.newBuilder().addFiles(fileNode("inside", inside))).build());
        backend.corruptOneByte(treeDigest);
        Digest other = backend.putBlob("other");
        Digest action = backend.putAction("t", ActionResult.newBuilder()
                .addOutputFiles(file("out/other", other))
                .addOutputDirectories(treeOutput("out/dir", treeDigest)).build());

        ActionVerdict verdict = fetchOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.PARTIAL);
        assertThat(verdict.corrupt()).containsExactly(
                new BlobProblem(treeDigest, BlobKind.OUTPUT_DIRECTORY_TREE, List.of("out/dir")));
        assertThat(verdict.missing()).isEmpty();
        // a damaged Tree's contents are not trusted, so nothing it names is read
        assertThat(backend.reads).containsExactlyInAnyOrder(treeDigest, other);
    }

    @Test
    void truncatedTreeBlob() {
        Digest treeDigest = backend.putMessage(Tree.newBuilder()
                .setRoot(Directory.newBuilder().addFiles(fileNode("inside", backend.putBlob("inside")))).build());
        backend.truncate(treeDigest, (int) treeDigest.sizeBytes() - 1);
        Digest action = backend.putAction("t", ActionResult.newBuilder()
                .addOutputDirectories(treeOutput("out/dir", treeDigest)).build());

        ActionVerdict verdict = fetchOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.PARTIAL);
        assertThat(verdict.corrupt()).extracting(BlobProblem::digest).containsExactly(treeDigest);
    }

    @Test
    void corruptDirectoryUnderRootDirectory() {
        Digest file = backend.putBlob("x");
        Digest sub = backend.putMessage(Directory.newBuilder().addFiles(fileNode("y", backend.putBlob("y"))).build());
        backend.corruptOneByte(sub);
        Digest root = backend.putMessage(Directory.newBuilder().addFiles(fileNode("x", file))
                .addDirectories(dirNode("sub", sub)).build());
        Digest action = backend.putAction("dirs", ActionResult.newBuilder()
                .addOutputDirectories(rootOutput("gen", root)).build());

        ActionVerdict verdict = fetchOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.PARTIAL);
        assertThat(verdict.corrupt()).containsExactly(new BlobProblem(sub, BlobKind.DIRECTORY, List.of("gen/sub")));
        assertThat(backend.reads).containsExactlyInAnyOrder(root, sub, file);
    }

    @Test
    void missingTreeBlob() {
        Digest treeDigest = backend.absentMessage(Tree.newBuilder()
                .setRoot(Directory.newBuilder().addFiles(fileNode("x", backend.putBlob("x")))).build());
        Digest action = backend.putAction("t", ActionResult.newBuilder()
                .addOutputDirectories(treeOutput("out", treeDigest)).build());

        ActionVerdict verdict = fetchOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.PARTIAL);
        assertThat(verdict.missing()).containsExactly(
                new BlobProblem(treeDigest, BlobKind.OUTPUT_DIRECTORY_TREE, List.of("out")));
        assertThat(backend.readsOf(treeDigest)).isEqualTo(1);
    }

    @Test
    void emptyBlobsAreNotRead() {
        Digest empty = backend.absentBlob("");
        Digest action = backend.putAction("empty", ActionResult.newBuilder()
                .addOutputFiles(file("out/__init__.py", empty)).setStdoutDigest(empty.toProto()).build());

        ActionVerdict verdict = fetchOne(action);

        assertThat(verdict.verdict()).isEqualTo(Verdict.HIT);
        assertThat(backend.reads).isEmpty();
    }

    @ParameterizedTest
    @EnumSource(value = DigestFunction.class, names = {"SHA1", "MD5", "SHA384", "SHA512", "BLAKE3"})
    void otherDigestFunctions(DigestFunction function) {
        backend.supportOnly(function);
        backend.deliverInChunksOf(5);
        Digest good = backend.putBytes(function, bytes("good output"));
        Digest bad = backend.putBytes(function, bytes("output that rots"));
        backend.corruptOneByte(bad);
        Digest leaf = backend.putBytes(function, bytes("leaf"));
        Directory sub = Directory.newBuilder().addFiles(fileNode("leaf", leaf)).build();
        Tree tree = Tree.newBuilder()
                .setRoot(Directory.newBuilder().addDirectories(dirNode("sub", function.digestOf(sub.toByteArray()))))
                .addChildren(sub).build();
        Digest treeDigest = backend.putMessage(function, tree);
        Digest hit = backend.putAction(function, "hit", ActionResult.newBuilder()
                .addOutputFiles(file("out/good", good)).addOutputDirectories(treeOutput("out/t", treeDigest)).build());
        Digest partial = backend.putAction(function, "partial", ActionResult.newBuilder()
                .addOutputFiles(file("out/bad", bad)).build());

        List<ActionVerdict> verdicts = validate(
                new ValidationRequest(new Scope("ci", function), Mode.FETCH, List.of(hit, partial), false));

        assertThat(verdicts).extracting(ActionVerdict::verdict).containsExactly(Verdict.HIT, Verdict.PARTIAL);
        assertThat(verdicts.get(1).corrupt()).containsExactly(new BlobProblem(bad, BlobKind.OUTPUT_FILE, List.of("out/bad")));
        assertThat(backend.reads).containsExactlyInAnyOrder(good, treeDigest, leaf, bad);
    }

    @Test
    void sha256BlobUnderAnotherFunctionIsCorrupt() {
        // a hash of the right length but another function: the bytes do not hash to it
        backend.supportOnly(DigestFunction.BLAKE3);
        byte[] content = bytes("same bytes");
        Digest sha = DigestFunction.SHA256.digestOf(content);
        backend.putUnder(sha, content);
        Digest action = backend.putAction(DigestFunction.BLAKE3, "a", ActionResult.newBuilder()
                .addOutputFiles(file("out/a", sha)).build());

        List<ActionVerdict> verdicts = validate(
                new ValidationRequest(new Scope("ci", DigestFunction.BLAKE3), Mode.FETCH, List.of(action), false));

        assertThat(verdicts.get(0).verdict()).isEqualTo(Verdict.PARTIAL);
        assertThat(verdicts.get(0).corrupt()).extracting(BlobProblem::digest).containsExactly(sha);
    }

    @Test
    void readsBoundedByFetchConcurrency() {
        backend.deliverOn(Schedulers.parallel());
        ActionResult.Builder result = ActionResult.newBuilder();
        for (int i = 0; i < 40; i++) {
            result.addOutputFiles(file("out/" + i, backend.putBlob("blob " + i)));
        }
        Digest action = backend.putAction("wide", result.build());
        VouchProperties.Limits twoAtATime = new VouchProperties.Limits(1000, 4194304, 1_000_000, 268435456L, 10000, 32, 2);

        List<ActionVerdict> verdicts = CompletenessValidatorTest.validate(validator(twoAtATime, registry),
                request(Mode.FETCH, false, action));

        assertThat(verdicts.get(0).verdict()).isEqualTo(Verdict.HIT);
        assertThat(backend.reads).hasSize(40).doesNotHaveDuplicates();
        assertThat(backend.maxReadsInFlight()).isBetween(1, 2);
    }

    @Test
    void nothingBlocksOnNonBlockingThreads() {
        // BlockHound (installed for every test JVM) fails any blocking call on the parallel scheduler
        backend.deliverOn(Schedulers.parallel());
        backend.deliverInChunksOf(3);
        Digest bad = backend.putBlob("bad bytes");
        backend.corruptOneByte(bad);
        Directory child = Directory.newBuilder().addFiles(fileNode("f", backend.putBlob("f"))).build();
        Digest tree = backend.putMessage(Tree.newBuilder()
                .setRoot(Directory.newBuilder().addDirectories(dirNode("sub", sha256(child)))).addChildren(child).build());
        Digest action = backend.putAction("a", ActionResult.newBuilder().addOutputFiles(file("a", bad))
                .addOutputDirectories(treeOutput("t", tree)).build());

        List<ActionVerdict> verdicts = validate(request(Mode.FETCH, false, action, backend.actionDigest("miss")));

        assertThat(verdicts).extracting(ActionVerdict::verdict).containsExactly(Verdict.PARTIAL, Verdict.MISS);
        assertThat(verdicts.get(0).corrupt()).extracting(BlobProblem::digest).containsExactly(bad);
    }

    @Test
    void metricsCountBlobsRead() {
        Digest good = backend.putBlob("good");
        Digest bad = backend.putBlob("bad one");
        backend.corruptOneByte(bad);
        Digest gone = backend.absentBlob("gone");
        Digest treeDigest = backend.putMessage(Tree.newBuilder()
                .setRoot(Directory.newBuilder().addFiles(fileNode("g", good))).build());
        Digest action = backend.putAction("a", ActionResult.newBuilder()
                .addOutputFiles(file("good", good)).addOutputFiles(file("bad", bad)).addOutputFiles(file("gone", gone))
                .addOutputDirectories(treeOutput("t", treeDigest)).build());

        validate(request(Mode.FETCH, false, action));

        // the tree, then each distinct file once
        assertThat(registry.get("vouch.blobs.checked").tag("backend", "fake").counter().count()).isEqualTo(4);
        assertThat(registry.get("vouch.blobs.missing").tags("backend", "fake", "kind", "OUTPUT_FILE").counter().count())
                .isEqualTo(1);
        assertThat(registry.get("vouch.blobs.corrupt").tags("backend", "fake", "kind", "OUTPUT_FILE").counter().count())
                .isEqualTo(1);
        assertThat(registry.get("vouch.verdicts").tags("mode", "FETCH", "verdict", "PARTIAL").counter().count())
                .isEqualTo(1);
    }

    // --- helpers

    private ActionVerdict fetchOne(Digest action) {
        List<ActionVerdict> verdicts = validate(request(Mode.FETCH, false, action));
        assertThat(verdicts).hasSize(1);
        return verdicts.get(0);
    }

    private List<ActionVerdict> validate(ValidationRequest request) {
        return CompletenessValidatorTest.validate(validator(LIMITS, registry), request);
    }

    private CompletenessValidator validator(VouchProperties.Limits limits, MeterRegistry meters) {
        return new CompletenessValidator(instance -> backend, limits, new ValidationMetrics(meters));
    }

    private static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }
}
