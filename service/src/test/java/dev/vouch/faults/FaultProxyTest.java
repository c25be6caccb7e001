package dev.vouch.faults;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.Directory;
import build.bazel.remote.execution.v2.FileNode;
import build.bazel.remote.execution.v2.OutputDirectory;
import build.bazel.remote.execution.v2.OutputFile;
import build.bazel.remote.execution.v2.Tree;
import dev.vouch.api.grpc.GrpcServer;
import dev.vouch.backend.CacheBackend;
import dev.vouch.backend.Scope;
import dev.vouch.backend.bazelhttp.BazelHttpBackendFactory;
import dev.vouch.backend.reapi.ReapiBackend;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.faults.FaultProxy.Faults;
import dev.vouch.validation.ActionVerdict;
import dev.vouch.validation.CompletenessValidator;
import dev.vouch.validation.Mode;
import dev.vouch.validation.ValidationMetrics;
import dev.vouch.validation.ValidationRequest;
import dev.vouch.validation.Verdict;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;

/**
 * Faults on a real wire: the {@code grpc} backend against the embedded REAPI server and the
 * {@code http} backend against the embedded {@code /cache}, each through a {@link FaultProxy}, judged
 * by the real engine. A sick connection gives UNKNOWN, never HIT, and the answers are right again
 * once the connection is healthy.
 */
// the embedded front stands in for a plain remote cache, which serves entries whatever they reference
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {"vouch.grpc.port=0", "vouch.front.check=NONE"})
class FaultProxyTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    // short, so that a hang costs the test about a second
    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(1);
    private static final Path DATA = createTempDirectory().resolve("data");
    private static final VouchProperties.Limits LIMITS =
            VouchProperties.Limits.defaults();

    enum Transport { GRPC, HTTP }

    @DynamicPropertySource
    static void dataDir(DynamicPropertyRegistry registry) {
        registry.add("vouch.data-dir", DATA::toString);
    }

    @LocalServerPort
    int httpPort;

    @Autowired
    GrpcServer grpcServer;

    private FaultProxy proxy;
    private CacheBackend backend;

    // complete: two output files (one large enough for several TCP reads), a tree with a file, stdout
    private final byte[] large = randomBytes(200_000);
    private final byte[] small = "object file".getBytes(StandardCharsets.UTF_8);
    private final byte[] leaf = "generated leaf".getBytes(StandardCharsets.UTF_8);
    private final byte[] stdout = "compiled".getBytes(StandardCharsets.UTF_8);
    private final byte[] evicted = "never uploaded".getBytes(StandardCharsets.UTF_8);
    private Digest complete;
    private Digest partial;
    private final Digest absent = sha("an action nobody ran");

    @BeforeEach
    void seed() {
        Tree tree = Tree.newBuilder().setRoot(Directory.newBuilder()
                .addFiles(FileNode.newBuilder().setName("leaf").setDigest(sha(leaf).toProto()))).build();
        for (byte[] blob : List.of(large, small, leaf, stdout, tree.toByteArray())) {
            put("/cache/cas/" + sha(blob).hash(), blob);
        }
        ActionResult completeResult = ActionResult.newBuilder()
                .addOutputFiles(OutputFile.newBuilder().setPath("bin/app").setDigest(sha(large).toProto()))
                .addOutputFiles(OutputFile.newBuilder().setPath("obj/a.o").setDigest(sha(small).toProto()))
                .addOutputDirectories(OutputDirectory.newBuilder().setPath("gen")
                        .setTreeDigest(sha(tree.toByteArray()).toProto()))
                .setStdoutDigest(sha(stdout).toProto())
                .build();
        ActionResult partialResult = completeResult.toBuilder()
                .addOutputFiles(OutputFile.newBuilder().setPath("obj/gone.o").setDigest(sha(evicted).toProto()))
                .build();
        complete = sha(completeResult.toByteArray());
        partial = sha(partialResult.toByteArray());
        put("/cache/ac/" + complete.hash(), completeResult.toByteArray());
        put("/cache/ac/" + partial.hash(), partialResult.toByteArray());
    }

    @AfterEach
    void close() throws Exception {
        if (backend instanceof AutoCloseable closeable) {
            closeable.close();
        }
        if (proxy != null) {
            proxy.close();
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void healthyProxyGivesTheTrueVerdicts(Transport transport) throws IOException {
        connect(transport);

        for (Mode mode : Mode.values()) {
            assertThat(verdicts(validate(mode))).as("%s %s", transport, mode)
                    .containsExactly(Verdict.HIT, Verdict.PARTIAL, Verdict.MISS);
        }
        assertThat(proxy.accepted()).as("the calls really went through the proxy").isPositive();
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void connectionResetMidStream(Transport transport) throws IOException {
        connect(transport);
        proxy.set(Faults.resetAfter(300));

        for (Mode mode : Mode.values()) {
            List<ActionVerdict> verdicts = validate(mode);
            assertUnknownOrAbsent(verdicts, transport + " " + mode);
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void connectionRefused(Transport transport) throws IOException {
        connect(transport);
        proxy.set(Faults.refusing());

        List<ActionVerdict> verdicts = validate(Mode.EXISTENCE);

        assertThat(verdicts(verdicts)).containsOnly(Verdict.UNKNOWN);
        assertThat(verdicts).allSatisfy(v -> assertThat(v.reason()).isNotBlank());
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void hangingConnectionTimesOut(Transport transport) throws IOException {
        connect(transport);
        validate(Mode.EXISTENCE);
        proxy.set(Faults.hanging());

        long start = System.nanoTime();
        List<ActionVerdict> verdicts = validate(Mode.EXISTENCE);
        Duration took = Duration.ofNanos(System.nanoTime() - start);

        assertThat(verdicts(verdicts)).containsOnly(Verdict.UNKNOWN);
        // a lookup, then at most a walk and an existence check, each bounded by the call timeout
        assertThat(took).isLessThan(CALL_TIMEOUT.multipliedBy(3).plusSeconds(2));
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void truncatedResponses(Transport transport) throws IOException {
        connect(transport);
        // existence checks move few bytes: cut them in the first response; FETCH in the middle of the large blob
        proxy.set(Faults.truncateAfter(100));
        assertUnknownOrAbsent(validate(Mode.EXISTENCE), transport + " EXISTENCE");
        proxy.set(Faults.truncateAfter(1000));
        assertUnknownOrAbsent(validate(Mode.FETCH), transport + " FETCH");
    }

    @Test
    void corruptBytesAreCaughtByFetch() throws IOException {
        connect(Transport.HTTP);
        proxy.set(Faults.corrupting());

        List<ActionVerdict> verdicts = validate(Mode.FETCH);

        ActionVerdict completeVerdict = verdicts.get(0);
        assertThat(completeVerdict.verdict()).as(completeVerdict.toString()).isIn(Verdict.PARTIAL, Verdict.UNKNOWN);
        if (completeVerdict.verdict() == Verdict.PARTIAL) {
            // every blob was read, and every read was damaged in transit
            assertThat(completeVerdict.corrupt()).isNotEmpty();
        }
        assertThat(verdicts.get(1).verdict()).isIn(Verdict.PARTIAL, Verdict.UNKNOWN);
        assertThat(verdicts(verdicts)).doesNotContain(Verdict.HIT);
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void trueVerdictsOnceTheConnectionRecovers(Transport transport) throws IOException {
        connect(transport);
        proxy.set(Faults.refusing());
        assertThat(verdicts(validate(Mode.EXISTENCE))).containsOnly(Verdict.UNKNOWN);

        proxy.set(Faults.HEALTHY);

        // gRPC waits out its reconnect backoff first
        await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(200)).untilAsserted(() ->
                assertThat(verdicts(validate(Mode.EXISTENCE))).containsExactly(Verdict.HIT, Verdict.PARTIAL, Verdict.MISS));
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void flappingConnectionNeverGivesAWrongAnswer(Transport transport) throws IOException {
        connect(transport);
        proxy.schedule(List.of(
                new FaultProxy.Phase(Duration.ofMillis(400), Faults.HEALTHY),
                new FaultProxy.Phase(Duration.ofMillis(300), Faults.resetAfter(200)),
                new FaultProxy.Phase(Duration.ofMillis(200), Faults.slow(Duration.ofMillis(20)))),
                true, phase -> { });

        // rounds until both kinds of period were met, bounded in time
        boolean sawHit = false;
        boolean sawUnknown = false;
        long end = System.nanoTime() + Duration.ofSeconds(25).toNanos();
        for (int round = 0; !(sawHit && sawUnknown) && System.nanoTime() < end; round++) {
            List<ActionVerdict> verdicts = validate(round % 2 == 0 ? Mode.EXISTENCE : Mode.FETCH);
            assertThat(verdicts.get(0).verdict()).as(verdicts.get(0).toString()).isIn(Verdict.HIT, Verdict.UNKNOWN);
            assertThat(verdicts.get(1).verdict()).as(verdicts.get(1).toString()).isIn(Verdict.PARTIAL, Verdict.UNKNOWN);
            assertThat(verdicts.get(2).verdict()).as(verdicts.get(2).toString()).isIn(Verdict.MISS, Verdict.UNKNOWN);
            sawHit |= verdicts.get(0).verdict() == Verdict.HIT;
            sawUnknown |= verdicts.get(0).verdict() == Verdict.UNKNOWN;
        }
        assertThat(sawHit).as("a round fell in a healthy period").isTrue();
        assertThat(sawUnknown).as("a round fell in a faulty period").isTrue();
    }

    private void assertUnknownOrAbsent(List<ActionVerdict> verdicts, String what) {
        assertThat(verdicts.get(0).verdict()).as("%s: %s", what, verdicts.get(0)).isEqualTo(Verdict.UNKNOWN);
        assertThat(verdicts.get(1).verdict()).as("%s: %s", what, verdicts.get(1)).isEqualTo(Verdict.UNKNOWN);
        // a NOT_FOUND may fit in the bytes that still get through
        assertThat(verdicts.get(2).verdict()).as("%s: %s", what, verdicts.get(2)).isIn(Verdict.MISS, Verdict.UNKNOWN);
        assertThat(verdicts).filteredOn(v -> v.verdict() == Verdict.UNKNOWN)
                .allSatisfy(v -> assertThat(v.reason()).isNotBlank());
    }

    private void connect(Transport transport) throws IOException {
        proxy = FaultProxy.start(transport == Transport.GRPC ? grpcServer.port() : httpPort);
        if (transport == Transport.GRPC) {
            backend = new ReapiBackend(new VouchProperties.Backend("proxied", VouchProperties.BackendType.GRPC,
                    URI.create("grpc://127.0.0.1:" + proxy.port()), null, null, Map.of(), null, null, CALL_TIMEOUT, 4));
        } else {
            backend = new BazelHttpBackendFactory().create(new VouchProperties.Backend("proxied",
                    VouchProperties.BackendType.HTTP, null, URI.create("http://127.0.0.1:" + proxy.port() + "/cache"),
                    null, Map.of(), null, null, CALL_TIMEOUT, 4));
        }
    }

    /** Verdicts for complete, partial and absent, in that order. */
    private List<ActionVerdict> validate(Mode mode) {
        CompletenessValidator validator = new CompletenessValidator(instance -> backend, LIMITS,
                new ValidationMetrics(new SimpleMeterRegistry()));
        List<ActionVerdict> verdicts = validator.validate(new ValidationRequest(Scope.of(""), mode,
                List.of(complete, partial, absent), false)).collectList().block(TIMEOUT);
        assertThat(verdicts).hasSize(3);
        return verdicts.stream().sorted(Comparator.comparingInt(ActionVerdict::index)).toList();
    }

    private static List<Verdict> verdicts(List<ActionVerdict> verdicts) {
        return verdicts.stream().map(ActionVerdict::verdict).toList();
    }

    private void put(String path, byte[] body) {
        WebTestClient.bindToServer().baseUrl("http://127.0.0.1:" + httpPort).responseTimeout(TIMEOUT).build()
                .put().uri(path).bodyValue(body).exchange().expectStatus().isOk();
    }

    private static Digest sha(byte[] bytes) {
        return DigestFunction.SHA256.digestOf(bytes);
    }

    private static Digest sha(String text) {
        return sha(text.getBytes(StandardCharsets.UTF_8));
    }

    private static byte[] randomBytes(int size) {
        byte[] bytes = new byte[size];
        new Random(42).nextBytes(bytes);
        return bytes;
    }

    private static Path createTempDirectory() {
        try {
            return Files.createTempDirectory("vouch-fault-proxy-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
