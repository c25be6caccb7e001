package dev.vouch.validation;

import static dev.vouch.validation.CompletenessValidatorTest.file;
import static dev.vouch.validation.CompletenessValidatorTest.fileNode;
import static dev.vouch.validation.CompletenessValidatorTest.request;
import static dev.vouch.validation.CompletenessValidatorTest.treeOutput;
import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.Directory;
import build.bazel.remote.execution.v2.Tree;
import dev.vouch.backend.BackendException;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.validation.FakeCacheBackend.Operation;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

class ValidationMetricsTest {
    private static final VouchProperties.Limits LIMITS =
            VouchProperties.Limits.defaults();

    private final FakeCacheBackend backend = new FakeCacheBackend();

    @Test
    void countsEveryRequestedPosition() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        Digest shared = backend.putBlob("shared");
        Digest hit = backend.putAction("hit", ActionResult.newBuilder().addOutputFiles(file("a", shared)).build());
        Digest partial = backend.putAction("partial", ActionResult.newBuilder().addOutputFiles(file("b", shared))
                .addOutputFiles(file("c", backend.absentBlob("gone"))).build());
        Digest miss = backend.actionDigest("miss");

        CompletenessValidatorTest.validate(validator(registry),
                request(Mode.EXISTENCE, false, hit, miss, partial, hit));

        assertThat(verdicts(registry, "HIT")).isEqualTo(2);
        assertThat(verdicts(registry, "MISS")).isEqualTo(1);
        assertThat(verdicts(registry, "PARTIAL")).isEqualTo(1);
        assertThat(registry.find("vouch.verdicts").tag("verdict", "UNKNOWN").counter()).isNull();
        assertThat(registry.get("vouch.validation").tags("mode", "EXISTENCE", "backend", "fake").timer().count())
                .isEqualTo(4);
        // "shared" is checked once for both actions
        assertThat(registry.get("vouch.blobs.checked").tag("backend", "fake").counter().count()).isEqualTo(2);
        assertThat(byKind(registry, "vouch.blobs.missing")).containsEntry("OUTPUT_FILE", 1.0)
                .containsEntry("STDOUT", 0.0);
    }

    @Test
    void unknownVerdictsAreCounted() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        Digest action = backend.putAction("a", ActionResult.newBuilder().addOutputFiles(file("a", backend.putBlob("a"))).build());
        backend.fail(Operation.FIND_MISSING, new BackendException("fake", "down"));

        CompletenessValidatorTest.validate(validator(registry), request(Mode.EXISTENCE, false, action));

        assertThat(verdicts(registry, "UNKNOWN")).isEqualTo(1);
        assertThat(registry.find("vouch.verdicts").tag("verdict", "HIT").counter()).isNull();
        assertThat(registry.get("vouch.blobs.checked").tag("backend", "fake").counter().count()).isEqualTo(1);
    }

    @Test
    void prometheusNamesMatchTheSpec() {
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        Digest action = backend.putAction("a", ActionResult.newBuilder()
                .addOutputFiles(file("a", backend.absentBlob("a"))).build());

        CompletenessValidatorTest.validate(validator(registry), request(Mode.EXISTENCE, false, action));

        String scrape = registry.scrape();
        assertThat(scrape)
                .contains("vouch_verdicts_total{backend=\"fake\",instance=\"ci\",mode=\"EXISTENCE\",verdict=\"PARTIAL\"} 1.0")
                .contains("vouch_validation_seconds_bucket{backend=\"fake\",mode=\"EXISTENCE\",le=")
                .contains("vouch_validation_seconds_count{backend=\"fake\",mode=\"EXISTENCE\"} 1")
                .contains("vouch_blobs_checked_total{backend=\"fake\"} 1.0")
                .contains("vouch_blobs_missing_total{backend=\"fake\",kind=\"OUTPUT_FILE\"} 1.0")
                .contains("vouch_blobs_missing_total{backend=\"fake\",kind=\"STDERR\"} 0.0");
    }

    @Test
    void missingBlobsAreCountedByKindOncePerRequest() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        Digest gone = backend.absentBlob("evicted object");
        Digest goneInTree = backend.absentBlob("evicted generated source");
        Digest tree = backend.putMessage(Tree.newBuilder()
                .setRoot(Directory.newBuilder().addFiles(fileNode("gen.c", goneInTree))).build());
        Digest first = backend.putAction("first", ActionResult.newBuilder()
                .addOutputFiles(file("out/a.o", gone))
                .addOutputDirectories(treeOutput("out/gen", tree))
                .setStdoutDigest(backend.absentBlob("evicted log").toProto()).build());
        // the same evicted blob in a second action is one missing blob of the request, not two
        Digest second = backend.putAction("second", ActionResult.newBuilder()
                .addOutputFiles(file("out/copy.o", gone)).build());

        CompletenessValidatorTest.validate(validator(registry), request(Mode.EXISTENCE, false, first, second));

        assertThat(byKind(registry, "vouch.blobs.missing")).isEqualTo(Map.of(
                "OUTPUT_FILE", 1.0, "OUTPUT_DIRECTORY_FILE", 1.0, "STDOUT", 1.0,
                "OUTPUT_DIRECTORY_TREE", 0.0, "DIRECTORY", 0.0, "STDERR", 0.0));
    }

    @Test
    void corruptBlobsAreCountedByKindInFetch() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        Digest rotten = backend.putBlob("object code that rots");
        backend.corruptOneByte(rotten);
        Digest tree = backend.putMessage(Tree.newBuilder()
                .setRoot(Directory.newBuilder().addFiles(fileNode("gen.c", backend.putBlob("source")))).build());
        backend.corruptOneByte(tree);
        Digest action = backend.putAction("rotten", ActionResult.newBuilder()
                .addOutputFiles(file("out/a.o", rotten))
                .addOutputDirectories(treeOutput("out/gen", tree)).build());

        CompletenessValidatorTest.validate(validator(registry), request(Mode.FETCH, false, action));

        assertThat(byKind(registry, "vouch.blobs.corrupt")).containsEntry("OUTPUT_FILE", 1.0)
                .containsEntry("OUTPUT_DIRECTORY_TREE", 1.0).containsEntry("STDOUT", 0.0);
        assertThat(byKind(registry, "vouch.blobs.missing").values()).containsOnly(0.0);
    }

    @Test
    void damagedTreeInExistenceModeIsCountedCorrupt() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        Digest tree = backend.putMessage(Tree.newBuilder()
                .setRoot(Directory.newBuilder().addFiles(fileNode("gen.c", backend.putBlob("source")))).build());
        backend.corruptOneByte(tree);
        Digest action = backend.putAction("damaged tree", ActionResult.newBuilder()
                .addOutputDirectories(treeOutput("out/gen", tree)).build());

        CompletenessValidatorTest.validate(validator(registry), request(Mode.EXISTENCE, false, action));

        // the verdict is PARTIAL for a corrupt Tree, so the corrupt counter must say why
        assertThat(verdicts(registry, "PARTIAL")).isEqualTo(1);
        assertThat(byKind(registry, "vouch.blobs.corrupt")).containsEntry("OUTPUT_DIRECTORY_TREE", 1.0);
    }

    /** The counter's value by its {@code kind} tag ("none" where it has none), on backend "fake". */
    private static Map<String, Double> byKind(MeterRegistry registry, String name) {
        Map<String, Double> counts = new TreeMap<>();
        registry.find(name).tag("backend", "fake").counters().forEach(counter -> counts.merge(
                Objects.requireNonNullElse(counter.getId().getTag("kind"), "none"), counter.count(), Double::sum));
        return counts;
    }

    private CompletenessValidator validator(MeterRegistry registry) {
        return new CompletenessValidator(instance -> backend, LIMITS, new ValidationMetrics(registry));
    }

    private static double verdicts(MeterRegistry registry, String verdict) {
        return registry.get("vouch.verdicts")
                .tags("verdict", verdict, "mode", "EXISTENCE", "backend", "fake", "instance", "ci")
                .counter().count();
    }

}
