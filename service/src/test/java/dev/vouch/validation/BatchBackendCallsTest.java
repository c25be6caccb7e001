package dev.vouch.validation;

import static dev.vouch.validation.CompletenessValidatorTest.file;
import static dev.vouch.validation.CompletenessValidatorTest.fileNode;
import static dev.vouch.validation.CompletenessValidatorTest.treeOutput;
import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.Directory;
import build.bazel.remote.execution.v2.Tree;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The backend calls of one batch are the minimum, at the benchmark's shape (issue 11): one Action
 * Cache read per action, one read per distinct Tree, and one existence check for the union of all
 * closures, each distinct blob asked about once. The CPU work in BENCHMARKS.md is measured on top
 * of exactly these calls; a change that adds a call per action or per blob fails here.
 */
class BatchBackendCallsTest {
    private final FakeCacheBackend backend = new FakeCacheBackend();

    @Test
    void aBatchOfAHundredActionsCostsAHundredLookupsAHundredTreeReadsAndOneExistenceCheck() {
        List<Digest> shared = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            shared.add(backend.putBlob("shared " + i));
        }
        List<Digest> actions = new ArrayList<>();
        Set<Digest> trees = new LinkedHashSet<>();
        Set<Digest> blobs = new LinkedHashSet<>();
        for (int a = 0; a < 100; a++) {
            ActionResult.Builder result = ActionResult.newBuilder();
            for (int f = 0; f < 12; f++) {
                // every third output file is one of the shared blobs, as in a real build
                Digest blob = f % 3 == 0 ? shared.get((a + f) % shared.size()) : backend.putBlob("action " + a + " file " + f);
                result.addOutputFiles(file("out/" + a + "/" + f, blob));
                blobs.add(blob);
            }
            Directory.Builder root = Directory.newBuilder();
            for (int f = 0; f < 39; f++) {
                Digest blob = backend.putBlob("action " + a + " tree file " + f);
                root.addFiles(fileNode("f" + f, blob));
                blobs.add(blob);
            }
            Digest tree = backend.putMessage(Tree.newBuilder().setRoot(root).build());
            trees.add(tree);
            result.addOutputDirectories(treeOutput("out/" + a + "/dir", tree));
            actions.add(backend.putAction("action " + a, result.build()));
        }
        CompletenessValidator validator = new CompletenessValidator(instance -> backend, VouchProperties.Limits.defaults(),
                new ValidationMetrics(new SimpleMeterRegistry()));

        List<ActionVerdict> verdicts = CompletenessValidatorTest.validate(validator, new ValidationRequest(
                dev.vouch.backend.Scope.of(""), Mode.EXISTENCE, actions, false));

        assertThat(verdicts).extracting(ActionVerdict::verdict).containsOnly(Verdict.HIT).hasSize(100);
        assertThat(verdicts).extracting(ActionVerdict::blobsReferenced).containsOnly(52L);
        assertThat(backend.actionLookups).hasSize(100).doesNotHaveDuplicates();
        assertThat(backend.reads).containsExactlyInAnyOrderElementsOf(trees);
        assertThat(backend.findMissingCalls).hasSize(1);
        assertThat(backend.findMissingCalls.get(0).toList()).containsExactlyInAnyOrderElementsOf(blobs);
    }
}
