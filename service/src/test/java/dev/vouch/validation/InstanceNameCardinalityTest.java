package dev.vouch.validation;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vouch.api.grpc.GrpcServer;
import dev.vouch.api.http.OpenApiContract;
import dev.vouch.backend.Scope;
import dev.vouch.digest.Digest;
import dev.vouch.v1.ValidateRequest;
import dev.vouch.v1.ValidationServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.http.MediaType;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.web.reactive.function.client.WebClient;
import reactor.core.publisher.Flux;
import tools.jackson.databind.json.JsonMapper;

/**
 * Issue 7 item 3: the verdict counter's instance name tag must stay bounded whatever instance names
 * clients send, or a few hundred requests with long distinct names fill the heap for good and the
 * Prometheus scrape grows without end. Against the running app over REST and gRPC.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
class InstanceNameCardinalityTest {
    private static final int DISTINCT_NAMES = 10_000;
    private static final int SEEN_NAMES = 100;
    private static final String ACTION = "a".repeat(64) + "/10";

    @TempDir
    static Path dataDir;

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry registry) {
        registry.add("vouch.grpc.port", () -> "0");
        registry.add("vouch.data-dir", () -> dataDir.toString());
        registry.add("vouch.metrics.instance-names[0]", () -> "ci/pinned");
    }

    @LocalServerPort
    int port;

    @Autowired
    GrpcServer grpcServer;

    @Autowired
    MeterRegistry registry;

    @Autowired
    CacheValidator validator;

    private final JsonMapper json = JsonMapper.builder().build();

    @Test
    void tenThousandDistinctInstanceNamesLeaveABoundedTagAndASmallScrape() throws Exception {
        // the engine in-process for the many (REST adds nothing to the tag but time), REST for the long ones
        Digest action = Digest.parse(ACTION);
        Long decided = Flux.range(0, DISTINCT_NAMES)
                .flatMap(i -> validator.validate(new ValidationRequest(Scope.of("tenant-" + i), Mode.EXISTENCE,
                        List.of(action), false)), 16)
                .filter(verdict -> verdict.verdict() == Verdict.MISS)
                .count()
                .block(Duration.ofSeconds(60));
        assertThat(decided).isEqualTo(DISTINCT_NAMES);

        WebClient web = WebClient.builder().baseUrl("http://127.0.0.1:" + port)
                .filter(OpenApiContract.shared().filter())
                .codecs(c -> c.defaultCodecs().maxInMemorySize(64 << 20)).build();
        String megabyte = "x".repeat(1 << 20);
        Flux<String> names = Flux.concat(Flux.range(0, 5).map(i -> megabyte + i), Flux.just("ci/pinned"));
        Long answered = names
                .concatMap(name -> web.post().uri("/v1/validate").contentType(MediaType.APPLICATION_JSON)
                        .bodyValue(json.writeValueAsString(Map.of("instanceName", name, "actions", new String[] {ACTION})))
                        .retrieve().bodyToMono(String.class))
                .filter(body -> body.contains("\"MISS\":1"))
                .count()
                .block(Duration.ofSeconds(60));
        assertThat(answered).isEqualTo(6L);

        ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", grpcServer.port()).usePlaintext().build();
        try {
            for (String name : new String[] {"grpc-a", "grpc-b", megabyte}) {
                ValidationServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
                        .validate(ValidateRequest.newBuilder().setInstanceName(name)
                                .addActions(build.bazel.remote.execution.v2.Digest.newBuilder()
                                        .setHash("a".repeat(64)).setSizeBytes(10))
                                .build());
            }
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }

        String scrape = web.get().uri("/actuator/prometheus").retrieve().bodyToMono(String.class)
                .block(Duration.ofSeconds(30));
        // the JVM's and Spring's own meters are most of it; 10,000 names would be far more on their own
        assertThat(scrape.length()).as("scrape size in characters").isLessThan(256 * 1024);

        Map<String, Double> byName = new TreeMap<>();
        for (Counter counter : registry.find("vouch.verdicts").counters()) {
            String tag = counter.getId().getTag("instance_name");
            byName.merge(tag == null ? "<no instance_name tag>" : tag, counter.count(), Double::sum);
        }
        // every verdict is counted, each instance name under its own value or "other"
        assertThat(byName.values().stream().mapToDouble(Double::doubleValue).sum()).isEqualTo(DISTINCT_NAMES + 9d);
        // the configured name, the first SEEN_NAMES distinct ones, and "other" for the rest and every long one
        assertThat(byName).hasSize(SEEN_NAMES + 2)
                .containsEntry("ci/pinned", 1d)
                .containsEntry("other", (double) DISTINCT_NAMES - SEEN_NAMES + 5 + 3);
        assertThat(byName.keySet().stream().filter(name -> name.startsWith("tenant-"))).hasSize(SEEN_NAMES);
        assertThat(byName.keySet()).allMatch(name -> name.length() <= 128);
        Set<String> sources = registry.find("vouch.verdicts").counters().stream()
                .map(c -> String.valueOf(c.getId().getTag("source"))).collect(Collectors.toSet());
        assertThat(sources).containsExactly("api");

        assertThat(scrape).contains("vouch_verdicts_total{backend=\"embedded\",instance_name=\"other\",mode=\"EXISTENCE\","
                + "source=\"api\",verdict=\"MISS\"} " + (DISTINCT_NAMES - SEEN_NAMES + 8) + ".0");
    }
}
