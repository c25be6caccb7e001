package dev.vouch.bench;

import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.Digest;
import build.bazel.remote.execution.v2.FileNode;
import build.bazel.remote.execution.v2.Tree;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class WorkloadTest {

    // generated once for the class: every test reads it, none changes it
    private static final Workload standard = new Workload(Workload.Spec.standard(1));

    @Test
    void standardCounts() {
        assertThat(standard.actions()).hasSize(2_000);
        assertThat(standard.count(Workload.Verdict.PARTIAL)).isEqualTo(100);
        assertThat(standard.count(Workload.Verdict.MISS)).isEqualTo(100);
        assertThat(standard.count(Workload.Verdict.HIT)).isEqualTo(1_800);
        assertThat(standard.spec().blobsPerAction()).isEqualTo(52);
    }

    @Test
    void everyClosureHas52DistinctBlobsAndMissHasNone() {
        for (Workload.Action a : standard.actions()) {
            if (a.verdict() == Workload.Verdict.MISS) {
                assertThat(standard.closure(a)).isEmpty();
            } else {
                assertThat(standard.closure(a)).as("action %d", a.index()).hasSize(52);
            }
        }
    }

    @Test
    void partialActionsMissOneOrTwoOfTheirOwnBlobsAndOthersMissNone() {
        Set<Integer> counts = new HashSet<>();
        for (Workload.Action a : standard.actions()) {
            Set<Digest> missing = standard.expectedMissing(a);
            if (a.verdict() == Workload.Verdict.PARTIAL) {
                assertThat(missing).hasSizeBetween(1, 2);
                assertThat(standard.closure(a)).containsAll(missing);
                for (int id : a.missingBlobs()) {
                    assertThat(standard.isUploaded(id)).isFalse();
                    assertThat(id).isGreaterThanOrEqualTo(standard.spec().pool());
                }
                counts.add(missing.size());
            } else {
                assertThat(missing).isEmpty();
            }
        }
        assertThat(counts).containsExactlyInAnyOrder(1, 2);
    }

    @Test
    void aboutThirtyPercentOfReferencesAreShared() {
        long refs = 0;
        long shared = 0;
        for (Workload.Action a : standard.actions()) {
            for (int[] ids : List.of(a.fileBlobs(), a.treeFileBlobs())) {
                for (int id : ids) {
                    refs++;
                    if (id < standard.spec().pool()) {
                        shared++;
                    }
                }
            }
        }
        assertThat(refs).isEqualTo(1_900L * 51);
        assertThat((double) shared / refs).isBetween(0.28, 0.32);
    }

    @Test
    void theActionResultAndTreeReferenceExactlyTheClosure() throws Exception {
        Workload.Action a = standard.actions().stream().filter(x -> x.verdict() == Workload.Verdict.PARTIAL)
                .findFirst().orElseThrow();
        ActionResult r = standard.actionResult(a);
        assertThat(r.getOutputFilesCount()).isEqualTo(12);
        assertThat(r.getOutputDirectoriesCount()).isEqualTo(1);
        Tree tree = Tree.parseFrom(standard.treeBytes(a.treeFileBlobs()));
        assertThat(Workload.digestOf(tree.toByteArray())).isEqualTo(r.getOutputDirectories(0).getTreeDigest());
        Set<Digest> fromResult = new HashSet<>();
        r.getOutputFilesList().forEach(f -> fromResult.add(f.getDigest()));
        fromResult.add(r.getOutputDirectories(0).getTreeDigest());
        tree.getRoot().getFilesList().stream().map(FileNode::getDigest).forEach(fromResult::add);
        assertThat(tree.getRoot().getFilesCount()).isEqualTo(39);
        assertThat(fromResult).isEqualTo(standard.closure(a));
        assertThat(standard.blobContent(a.fileBlobs()[2])).hasSize(64);
    }

    @Test
    void sameSeedSameWorkloadOtherSeedOther() {
        Workload again = new Workload(Workload.Spec.standard(1));
        Workload other = new Workload(Workload.Spec.standard(2));
        assertThat(again.actions().get(17).digest()).isEqualTo(standard.actions().get(17).digest());
        assertThat(again.closure(again.actions().get(17))).isEqualTo(standard.closure(standard.actions().get(17)));
        assertThat(other.actions().get(17).digest()).isNotEqualTo(standard.actions().get(17).digest());
    }

    @Test
    void unionOfClosuresHoldsEveryReferencedBlobOnce() {
        List<Digest> union = standard.unionOfClosures();
        assertThat(new HashSet<>(union)).hasSameSizeAs(union);
        long trees = standard.actions().stream().filter(a -> a.treeDigest() != null).count();
        long blobs = 0;
        for (int id = 0; id < standard.blobCount(); id++) {
            if (standard.isReferenced(id)) {
                blobs++;
            }
        }
        assertThat(union).hasSize((int) (blobs + trees));
    }

    @Test
    void bigTreesAndOverrides() {
        Workload w = new Workload(new Workload.Spec(3, 200, 4, 5, 0.5, 2_000, 0.10, 0.20, 128, 2, 1_500));
        assertThat(w.count(Workload.Verdict.PARTIAL)).isEqualTo(20);
        assertThat(w.count(Workload.Verdict.MISS)).isEqualTo(40);
        long big = w.actions().stream().filter(a -> a.treeFileBlobs().length == 1_500).count();
        assertThat(big).isEqualTo(2);
        w.actions().stream().filter(a -> a.verdict() != Workload.Verdict.MISS && a.treeFileBlobs().length != 1_500)
                .forEach(a -> assertThat(w.closure(a)).hasSize(4 + 1 + 5));
        assertThat(w.blobContent(0)).hasSize(128);
    }
}
