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
import dev.vouch.config.MetricsProperties;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.validation.FakeCacheBackend.Operation;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.MapConfigurationPropertySource;

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
                .contains("vouch_verdicts_total{backend=\"fake\",instance_name=\"ci\",mode=\"EXISTENCE\",source=\"api\",verdict=\"PARTIAL\"} 1.0")
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

    @Test
    void configuredNamesKeepTheirValueAndTheFirstSeenFillTheRest() {
        InstanceNameTag tag = new InstanceNameTag(List.of("ci/linux"), 2);

        assertThat(tag.of("a")).isEqualTo("a");
        assertThat(tag.of("b")).isEqualTo("b");
        assertThat(tag.of("c")).isEqualTo(InstanceNameTag.OTHER);
        // seen names keep their value; configured ones and the default instance name never depend on order
        assertThat(tag.of("a")).isEqualTo("a");
        assertThat(tag.of("ci/linux")).isEqualTo("ci/linux");
        assertThat(tag.of("")).isEqualTo("");
        assertThat(tag.of(null)).isEqualTo("");
    }

    @Test
    void longNamesAreNeverAdmitted() {
        InstanceNameTag tag = new InstanceNameTag(List.of(), 100);

        assertThat(tag.of("x".repeat(1 << 20))).isEqualTo(InstanceNameTag.OTHER);
        assertThat(tag.of("x".repeat(InstanceNameTag.MAX_SEEN_LENGTH + 1))).isEqualTo(InstanceNameTag.OTHER);
        assertThat(tag.of("x".repeat(InstanceNameTag.MAX_SEEN_LENGTH))).hasSize(InstanceNameTag.MAX_SEEN_LENGTH);
    }

    @Test
    void concurrentFirstSightingsAdmitNoMoreThanTheBound() throws Exception {
        InstanceNameTag tag = new InstanceNameTag(List.of(), 50);
        Set<String> values = ConcurrentHashMap.newKeySet();
        CountDownLatch start = new CountDownLatch(1);
        ExecutorService threads = Executors.newFixedThreadPool(8);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                int thread = t;
                done.add(threads.submit(() -> {
                    start.await();
                    for (int i = 0; i < 1000; i++) {
                        values.add(tag.of("t" + thread + "-" + i));
                    }
                    return null;
                }));
            }
            start.countDown();
            for (Future<?> f : done) {
                f.get(30, TimeUnit.SECONDS);
            }
        } finally {
            threads.shutdownNow();
        }
        assertThat(values).hasSize(51).contains(InstanceNameTag.OTHER);
    }

    @Test
    void literalRoutePatternsAreInstanceNames() {
        assertThat(InstanceNameTag.isLiteral("ci-linux")).isTrue();
        assertThat(InstanceNameTag.isLiteral("team/main")).isTrue();
        assertThat(InstanceNameTag.isLiteral("")).isTrue();
        assertThat(InstanceNameTag.isLiteral("ci/.*")).isFalse();
        assertThat(InstanceNameTag.isLiteral("a|b")).isFalse();
        assertThat(InstanceNameTag.isLiteral("v[12]")).isFalse();
        assertThat(InstanceNameTag.isLiteral("\\Qa.b\\E")).isFalse();
    }

    @Test
    void routesThatNameOneInstanceKeepItsValue() {
        VouchProperties properties = new Binder(new MapConfigurationPropertySource(Map.of(
                "vouch.backends[0].name", "main", "vouch.backends[0].type", "embedded",
                "vouch.routes[0].instance-pattern", "release", "vouch.routes[0].backend", "main",
                "vouch.routes[1].instance-pattern", "ci/.*", "vouch.routes[1].backend", "main")))
                .bindOrCreate("vouch", VouchProperties.class);
        InstanceNameTag tag = ValidationConfiguration.instanceNameTag(properties,
                new MetricsProperties(List.of("pinned"), 0));

        assertThat(tag.of("release")).isEqualTo("release");
        assertThat(tag.of("pinned")).isEqualTo("pinned");
        assertThat(tag.of("ci/linux")).isEqualTo(InstanceNameTag.OTHER);
        assertThat(MetricsProperties.defaults().maxSeenInstanceNames()).isEqualTo(100);
    }

    private CompletenessValidator validator(MeterRegistry registry) {
        return new CompletenessValidator(instance -> backend, LIMITS,
                new ValidationMetrics(registry, new InstanceNameTag(Set.of("ci"), 0)));
    }

    private static double verdicts(MeterRegistry registry, String verdict) {
        return registry.get("vouch.verdicts")
                .tags("verdict", verdict, "mode", "EXISTENCE", "backend", "fake", "instance_name", "ci", "source", "api")
                .counter().count();
    }

}
