package dev.vouch.api.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.vouch.digest.Digest;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.availability.AvailabilityChangeEvent;
import org.springframework.boot.availability.ReadinessState;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.context.TestConfiguration;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.context.ApplicationListener;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Import;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.http.client.reactive.ReactorClientHttpConnector;
import org.springframework.test.annotation.DirtiesContext;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.context.TestExecutionListeners;
import org.springframework.test.context.support.DependencyInjectionTestExecutionListener;
import org.springframework.test.context.support.DirtiesContextTestExecutionListener;
import org.springframework.web.reactive.function.client.WebClient;
import org.springframework.web.reactive.function.client.WebClientResponseException;
import reactor.core.publisher.Mono;
import reactor.netty.http.client.HttpClient;
import tools.jackson.databind.json.JsonMapper;

/**
 * Shutdown in the order Kubernetes needs: readiness turns to refusing traffic first (and the
 * instance keeps serving through the drain delay), then the server stops accepting while a
 * request already in flight still finishes with its real answer, then the context is closed.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
@DirtiesContext
// the test closes its own context; the default listeners would try to use (restart) it afterwards
@TestExecutionListeners(listeners = {DependencyInjectionTestExecutionListener.class,
        DirtiesContextTestExecutionListener.class}, mergeMode = TestExecutionListeners.MergeMode.REPLACE_DEFAULTS)
class GracefulShutdownTest {
    private static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    static Path dataDir;

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry registry) {
        registry.add("vouch.grpc.port", () -> "0");
        registry.add("vouch.data-dir", () -> dataDir.toString());
        registry.add("vouch.shutdown.drain-delay", () -> "1500ms");
    }

    /** What happened, in order: readiness changes and the in-flight request's answer. */
    static final List<String> timeline = new CopyOnWriteArrayList<>();

    @TestConfiguration
    @Import(HeldBackendRouting.class)
    static class Backend {
        @Bean
        ApplicationListener<AvailabilityChangeEvent<ReadinessState>> readinessTimeline() {
            return event -> timeline.add("readiness " + event.getState());
        }
    }

    @Autowired
    ConfigurableApplicationContext context;

    @Autowired
    HeldBackend backend;

    @Autowired
    JsonMapper json;

    @LocalServerPort
    int port;

    @Test
    void readinessFirstThenInFlightRequestsFinish() throws Exception {
        // a fresh connection per request, so no pooled keep-alive connection outlives the server's accepting
        WebClient http = WebClient.builder()
                .clientConnector(new ReactorClientHttpConnector(HttpClient.newConnection()))
                .baseUrl("http://127.0.0.1:" + port)
                .filter(OpenApiContract.shared().filter())
                .build();
        Digest action = backend.hitAction("compile");
        backend.hold();
        AtomicReference<ResponseEntity<String>> answer = new AtomicReference<>();
        http.post().uri("/v1/validate").contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"actions\": [\"" + action.hash() + "/" + action.sizeBytes() + "\"]}")
                .retrieve().toEntity(String.class)
                .subscribe(response -> {
                    timeline.add("answered " + response.getStatusCode().value());
                    answer.set(response);
                });
        await().atMost(WAIT).until(() -> backend.lookupsStarted() == 1);
        timeline.clear();

        CompletableFuture<Void> closed = CompletableFuture.runAsync(context::close);

        // during the drain delay the instance still answers, and says it is going away
        await().atMost(WAIT).until(() -> readiness(http) == 503);
        // then it stops accepting connections, with the request still held
        await().atMost(WAIT).until(() -> readiness(http) == -1);
        assertThat(answer.get()).isNull();
        assertThat(closed).isNotDone();

        backend.release();

        await().atMost(WAIT).until(() -> answer.get() != null);
        assertThat(answer.get().getStatusCode().value()).isEqualTo(200);
        assertThat(json.readTree(answer.get().getBody()).get("results").get(0).get("verdict").asString())
                .isEqualTo("HIT");
        closed.get(WAIT.toSeconds(), TimeUnit.SECONDS);
        assertThat(context.isActive()).isFalse();
        assertThat(timeline).first().isEqualTo("readiness " + ReadinessState.REFUSING_TRAFFIC);
        assertThat(timeline).contains("answered 200");
        assertThat(timeline.indexOf("readiness " + ReadinessState.REFUSING_TRAFFIC))
                .isLessThan(timeline.indexOf("answered 200"));
    }

    /** The readiness probe's status, or -1 when no connection is accepted. */
    private static int readiness(WebClient http) {
        return http.get().uri("/actuator/health/readiness").retrieve().toBodilessEntity()
                .map(response -> response.getStatusCode().value())
                .onErrorResume(WebClientResponseException.class, e -> Mono.just(e.getStatusCode().value()))
                // no connection; a response that breaks the OpenAPI document still fails the test
                .onErrorResume(e -> !(e instanceof OpenApiContract.Violation), e -> Mono.just(-1))
                .block(Duration.ofSeconds(5));
    }
}
