package dev.vouch.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.OutputFile;
import dev.vouch.api.http.HeldBackend;
import dev.vouch.backend.BackendRegistry;
import dev.vouch.backend.BackendRouter;
import dev.vouch.backend.embedded.BlobStore;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.condition.EnabledIf;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.context.TestConfiguration;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Import;
import org.springframework.context.annotation.Primary;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The shipped dashboard and rules against the running service: Vouch in-process with its embedded
 * cache and a {@code grpc} backend on a closed port, a workload that produces every verdict (HIT,
 * MISS, PARTIAL by eviction and by corruption in FETCH, UNKNOWN) and a 429, and Debian's real
 * Prometheus on loopback scraping {@code /actuator/prometheus} every second with the shipped rules.
 * Every panel query and every rule must parse and evaluate; every panel query must return series
 * carrying the labels its legend shows; every metric, label value and label name a query or rule
 * names must exist in what the service exports. Skipped where Debian's {@code prometheus} is not
 * installed ({@code .ci/run} installs it).
 */
@EnabledIf(value = "prometheusInstalled", disabledReason = "Debian's prometheus is not installed (apt-get install "
        + "prometheus): the dashboard and rules are not checked against the service")
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
@Import(DashboardAndRulesAgainstServiceTest.HeldInstances.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DashboardAndRulesAgainstServiceTest {
    private static final int MAX_IN_FLIGHT = 2;
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final Pattern LEGEND_LABEL = Pattern.compile("\\{\\{\\s*(\\w+)\\s*}}");
    private static final int UNREACHABLE_PORT = closedPort();

    // made by hand: with one instance per class the context starts before JUnit would inject a static @TempDir
    private static Path dataDir;
    private static Path prometheusDir;

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry registry) {
        dataDir = temporaryDirectory("vouch-ops-data");
        registry.add("vouch.grpc.port", () -> "0");
        registry.add("vouch.data-dir", () -> dataDir.toString());
        registry.add("vouch.backends[0].name", () -> "embedded");
        registry.add("vouch.backends[0].type", () -> "embedded");
        // a REAPI server that is not there: every call fails, the verdicts are UNKNOWN
        registry.add("vouch.backends[1].name", () -> "unreachable");
        registry.add("vouch.backends[1].type", () -> "grpc");
        registry.add("vouch.backends[1].target", () -> "grpc://127.0.0.1:" + UNREACHABLE_PORT);
        registry.add("vouch.routes[0].instance-pattern", () -> "unreachable/.*");
        registry.add("vouch.routes[0].backend", () -> "unreachable");
        registry.add("vouch.limits.max-in-flight-validations", () -> String.valueOf(MAX_IN_FLIGHT));
    }

    /** Instance names under {@code held/} go to a backend whose lookups the test holds open, to fill the in-flight bound. */
    @TestConfiguration(proxyBeanMethods = false)
    static class HeldInstances {
        @Bean
        HeldBackend heldBackend() {
            return new HeldBackend();
        }

        @Bean
        @Primary
        BackendRouter heldOrConfigured(BackendRegistry registry, HeldBackend held) {
            return instance -> instance.startsWith("held/") ? held : registry.route(instance);
        }
    }

    @Autowired
    BlobStore store;

    @Autowired
    HeldBackend held;

    @LocalServerPort
    int port;

    private final HttpClient http = HttpClient.newHttpClient();
    private Prometheus prometheus;
    private JsonNode ruleGroups;

    // decided before the application starts, so that a machine without Prometheus does not start it for nothing
    static boolean prometheusInstalled() {
        return Prometheus.binary() != null;
    }

    @BeforeAll
    void scrapeAWorkload() throws Exception {
        prometheusDir = temporaryDirectory("vouch-ops-prometheus");
        prometheus = Prometheus.start(Prometheus.binary(), prometheusDir, "127.0.0.1:" + port, "/actuator/prometheus",
                List.of(OpsFiles.RULES));
        prometheus.awaitScrapes(1, Instant.EPOCH, WAIT);

        workload();
        // the JVM meters of GC pauses appear with the first collection; make sure there was one
        System.gc();

        Instant scraped = prometheus.awaitScrapes(2, Instant.now(), WAIT);
        ruleGroups = prometheus.awaitRuleEvaluation(scraped, WAIT);
    }

    @AfterAll
    void stopPrometheus() throws IOException {
        if (prometheus != null) {
            prometheus.close();
        }
        for (Path dir : Stream.of(dataDir, prometheusDir).filter(Objects::nonNull).toList()) {
            try (Stream<Path> files = Files.walk(dir)) {
                for (Path file : files.sorted(Comparator.reverseOrder()).toList()) {
                    Files.delete(file);
                }
            }
        }
    }

    @Test
    void theWorkloadProducedEveryVerdictACorruptBlobAndA429() {
        assertThat(values(prometheus.query("sum by (verdict) (vouch_verdicts_total)"), "verdict"))
                .containsExactlyInAnyOrder("HIT", "MISS", "PARTIAL", "UNKNOWN");
        assertThat(number(prometheus.query("sum(vouch_blobs_corrupt_total{backend=\"embedded\"})"))).isEqualTo(1);
        assertThat(number(prometheus.query("sum(vouch_blobs_missing_total{backend=\"embedded\"})"))).isEqualTo(1);
        assertThat(number(prometheus.query("sum(vouch_validations_rejected_total)"))).isEqualTo(1);
        assertThat(values(prometheus.query("count by (name) (resilience4j_circuitbreaker_state)"), "name"))
                .containsExactly("unreachable");
    }

    @Test
    void verdictsCarryTheLabelsOfTheSpec() {
        // SPEC "Metrics": vouch_verdicts_total{verdict,mode,backend,instance_name,source}
        Map<String, Set<String>> found = new java.util.TreeMap<>();
        for (String label : List.of("verdict", "mode", "backend", "instance_name", "source")) {
            found.put(label, values(prometheus.query("count by (" + label + ") (vouch_verdicts_total)"), label));
        }
        assertThat(found).as("values of each label in count by (label) (vouch_verdicts_total), \"\" where absent")
                .allSatisfy((label, values) -> assertThat(values).as(label).isNotEmpty().doesNotContain(""))
                .containsEntry("source", Set.of("api"))
                .containsEntry("mode", Set.of("EXISTENCE", "FETCH"))
                .containsEntry("backend", Set.of("embedded", "unreachable", "held"));
    }

    @Test
    void everyPanelQueryReturnsSeriesWithTheLabelsOfItsLegend() {
        Map<String, String> variables = Map.of("job", Prometheus.JOB, "backend", ".*", "instance_name", ".*",
                "datasource", "prometheus");
        List<String> problems = new ArrayList<>();
        for (OpsFiles.Target target : OpsFiles.targets(OpsFiles.dashboard())) {
            String expr = OpsFiles.substitute(target.expr(), variables);
            JsonNode result;
            try {
                result = prometheus.query(expr);
            } catch (AssertionError e) {
                problems.add(target + ": " + e.getMessage());
                continue;
            }
            if (result.isEmpty()) {
                problems.add(target + " returns no series: " + expr);
                continue;
            }
            Matcher legend = LEGEND_LABEL.matcher(target.legendFormat());
            while (legend.find()) {
                String label = legend.group(1);
                if (result.valueStream().noneMatch(series -> series.path("metric").has(label))) {
                    problems.add(target + ": legend label " + label + " is on none of its series " + labelSets(result));
                }
            }
        }
        assertThat(problems).as("dashboard queries against the service").isEmpty();
    }

    @Test
    void everyTemplateVariableFindsValues() {
        List<String> problems = new ArrayList<>();
        for (OpsFiles.LabelValues variable : OpsFiles.labelValueVariables(OpsFiles.dashboard())) {
            String selector = OpsFiles.substitute(variable.selector(), Map.of("job", Prometheus.JOB, "backend", ".*"));
            if (prometheus.labelValues(variable.label(), selector).isEmpty()) {
                problems.add("$" + variable.variable() + ": no values of " + variable.label() + " in " + selector);
            }
        }
        assertThat(problems).as("dashboard variables against the service").isEmpty();
    }

    @Test
    void everyRuleEvaluatesAndEveryRecordingRuleRecordsSeries() {
        List<String> problems = new ArrayList<>();
        Set<String> evaluated = new LinkedHashSet<>();
        for (JsonNode group : ruleGroups) {
            for (JsonNode rule : group.path("rules")) {
                evaluated.add(rule.path("name").asString());
                if (!rule.path("health").asString().equals("ok")) {
                    problems.add(rule.path("name").asString() + " is " + rule.path("health").asString() + ": "
                            + rule.path("lastError").asString());
                }
            }
        }
        for (OpsFiles.Rule rule : OpsFiles.rules()) {
            if (!evaluated.contains(rule.name())) {
                problems.add(rule + " was not loaded by Prometheus");
            }
            try {
                JsonNode result = prometheus.query(rule.expr());
                if (!rule.alert() && result.isEmpty()) {
                    problems.add(rule + " records no series: " + rule.expr());
                }
            } catch (AssertionError e) {
                problems.add(rule + ": " + e.getMessage());
            }
        }
        assertThat(problems).as("rules against the service").isEmpty();
    }

    @Test
    void everyMetricAndLabelNamedIsExported() {
        Map<String, String> variables = Map.of("job", Prometheus.JOB, "backend", ".*", "instance_name", ".*");
        List<String> problems = new ArrayList<>();
        for (OpsFiles.Target target : OpsFiles.targets(OpsFiles.dashboard())) {
            problems.addAll(missingNames(target.toString(), OpsFiles.substitute(target.expr(), variables)));
        }
        for (OpsFiles.Rule rule : OpsFiles.rules()) {
            problems.addAll(missingNames(rule.toString(), rule.expr()));
        }
        assertThat(problems).as("metric and label names the dashboard and rules rely on").isEmpty();
    }

    /**
     * Each selector of {@code expr} must match series, and each label the expression names must be
     * on some of them: a {@code =~".*"} matcher or a grouping by a label nothing has would pass
     * silently otherwise.
     */
    private List<String> missingNames(String where, String expr) {
        PromQl names = PromQl.of(expr);
        List<String> problems = new ArrayList<>();
        Set<String> labelsSeen = new LinkedHashSet<>();
        for (String selector : names.selectors()) {
            JsonNode series = prometheus.query(selector);
            if (series.isEmpty()) {
                problems.add(where + ": " + selector + " matches no series the service exports");
            }
            series.forEach(s -> s.path("metric").propertyNames().forEach(labelsSeen::add));
        }
        if (!problems.isEmpty()) {
            // the labels of a metric that is not there say nothing more
            return problems;
        }
        for (String label : names.requiredLabels()) {
            if (!labelsSeen.contains(label)) {
                problems.add(where + ": label " + label + " is on none of the series of " + names.selectors());
            }
        }
        return problems;
    }

    // --- the workload

    private void workload() throws Exception {
        Digest present = put("object code, present".getBytes(StandardCharsets.UTF_8));
        Digest evicted = DigestFunction.SHA256.digestOf("object code, evicted".getBytes(StandardCharsets.UTF_8));
        Digest rotten = put("object code that rots on disk, ".repeat(20).getBytes(StandardCharsets.UTF_8));
        Digest hit = action("hit", present);
        Digest partial = action("partial", evicted);
        Digest corrupt = action("corrupt", rotten);
        Digest miss = DigestFunction.SHA256.digestOf("action never run".getBytes(StandardCharsets.UTF_8));
        flipOneByte(dataDir.resolve("cas").resolve(rotten.hash().substring(0, 2)).resolve(rotten.hash()));

        assertThat(verdicts(validate("ci/linux", "EXISTENCE", hit, miss, partial))).containsExactly("HIT", "MISS", "PARTIAL");
        assertThat(verdicts(validate("ci/linux", "FETCH", corrupt, hit))).containsExactly("PARTIAL", "HIT");
        assertThat(verdicts(validate("unreachable/x", "EXISTENCE", hit))).containsExactly("UNKNOWN");
        overload();
    }

    /** Fills the in-flight bound with held lookups, then one more request is refused with 429. */
    private void overload() throws Exception {
        held.reset();
        Digest action = held.hitAction("compile");
        held.hold();
        List<CompletableFuture<HttpResponse<String>>> waiting = new ArrayList<>();
        for (int i = 0; i < MAX_IN_FLIGHT; i++) {
            waiting.add(http.sendAsync(post("held/ci", "EXISTENCE", action), HttpResponse.BodyHandlers.ofString()));
        }
        await().atMost(WAIT).until(() -> held.lookupsStarted() == MAX_IN_FLIGHT);
        HttpResponse<String> refused = http.send(post("held/ci", "EXISTENCE", action), HttpResponse.BodyHandlers.ofString());
        held.release();
        assertThat(refused.statusCode()).as(refused.body()).isEqualTo(429);
        for (CompletableFuture<HttpResponse<String>> response : waiting) {
            assertThat(verdicts(response.get().body())).containsExactly("HIT");
        }
    }

    private String validate(String instanceName, String mode, Digest... actions) throws Exception {
        HttpResponse<String> response = http.send(post(instanceName, mode, actions), HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        return response.body();
    }

    private HttpRequest post(String instanceName, String mode, Digest... actions) {
        String list = java.util.Arrays.stream(actions).map(a -> "\"" + a.hash() + "/" + a.sizeBytes() + "\"")
                .collect(Collectors.joining(", "));
        String body = "{\"instanceName\": \"" + instanceName + "\", \"mode\": \"" + mode + "\", \"actions\": [" + list + "]}";
        return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/validate"))
                .header("Content-Type", "application/json").timeout(WAIT)
                .POST(HttpRequest.BodyPublishers.ofString(body)).build();
    }

    private static List<String> verdicts(String response) {
        return JSON.readTree(response).path("results").valueStream().map(r -> r.path("verdict").asString()).toList();
    }

    private Digest put(byte[] content) {
        Digest digest = DigestFunction.SHA256.digestOf(content);
        store.write(digest, content).block(WAIT);
        return digest;
    }

    private Digest action(String name, Digest output) {
        Digest action = DigestFunction.SHA256.digestOf(("action " + name).getBytes(StandardCharsets.UTF_8));
        ActionResult result = ActionResult.newBuilder()
                .addOutputFiles(OutputFile.newBuilder().setPath("bazel-out/bin/" + name + ".o").setDigest(output.toProto()))
                .build();
        store.putActionResult(action, result.toByteArray()).block(WAIT);
        return action;
    }

    /** Same length, different bytes: only FETCH can tell. */
    private static void flipOneByte(Path file) throws IOException {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer one = ByteBuffer.allocate(1);
            channel.read(one, channel.size() / 2);
            one.put(0, (byte) ~one.get(0)).rewind();
            channel.write(one, channel.size() / 2);
        }
    }

    // --- Prometheus results

    private static Set<String> values(JsonNode result, String label) {
        Set<String> values = new LinkedHashSet<>();
        result.forEach(series -> values.add(series.path("metric").path(label).asString("")));
        return values;
    }

    private static double number(JsonNode result) {
        assertThat(result).hasSize(1);
        return Double.parseDouble(result.get(0).path("value").get(1).asString());
    }

    private static List<Set<String>> labelSets(JsonNode result) {
        List<Set<String>> sets = new ArrayList<>();
        result.forEach(series -> sets.add(new LinkedHashSet<>(series.path("metric").propertyNames())));
        return sets;
    }

    private static Path temporaryDirectory(String prefix) {
        try {
            return Files.createTempDirectory(prefix);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static int closedPort() {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
