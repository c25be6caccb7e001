package dev.vouch.backend.reapi;

import static dev.vouch.backend.reapi.ReapiTestServer.TIMEOUT;
import static dev.vouch.backend.reapi.ReapiTestServer.config;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vouch.backend.BackendCapabilities;
import dev.vouch.backend.CacheBackend;
import dev.vouch.backend.Scope;
import dev.vouch.backend.embedded.EmbeddedBackend;
import dev.vouch.backend.embedded.InMemoryBlobStore;
import dev.vouch.backend.metrics.MetricsBackend;
import dev.vouch.digest.DigestFunction;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Mono;

/**
 * Every validation asks its backend's capabilities first (to refuse a digest function the backend
 * lacks), but a backend mostly answers that without a call. {@code vouch_backend_call_seconds}
 * counts backend calls, so only a real call may show up there: before, the embedded store showed
 * one {@code capabilities} call per request, and a gRPC backend one per request after its first.
 */
class CapabilitiesCallMetricsTest {
    private static final Scope SCOPE = Scope.of("");

    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private ReapiTestServer server;
    private ReapiBackend remote;

    @AfterEach
    void close() throws InterruptedException {
        if (remote != null) {
            remote.close();
        }
        if (server != null) {
            server.close();
        }
    }

    @Test
    void theEmbeddedStoreAnswersWithoutACallAndNoneIsCounted() {
        CacheBackend backend = new MetricsBackend(new EmbeddedBackend("embedded", new InMemoryBlobStore(), 4 << 20), registry);

        for (int i = 0; i < 5; i++) {
            assertThat(ask(backend).digestFunctions()).containsExactly(DigestFunction.SHA256);
        }

        assertThat(callsCounted("embedded")).isZero();
    }

    @Test
    void aGrpcBackendIsCountedOnceForTheCallItMakesAndNotForTheAnswersItHolds() {
        server = ReapiTestServer.start(64 * 1024);
        remote = new ReapiBackend(config(server.target()));
        CacheBackend backend = new MetricsBackend(remote, registry);

        for (int i = 0; i < 5; i++) {
            assertThat(ask(backend).maxBatchTotalSizeBytes()).isEqualTo(64 * 1024);
        }

        assertThat(server.calls("GetCapabilities")).isEqualTo(1);
        // a call's timer stops just after its answer reached the asker, on the call's thread
        Awaitility.await().atMost(TIMEOUT).until(() -> callsCounted("remote") >= 1);
        assertThat(callsCounted("remote")).isEqualTo(1);
    }

    @Test
    void aFailedAskIsCountedAndSoIsTheAskAfterIt() throws InterruptedException {
        server = ReapiTestServer.start(64 * 1024);
        int port = server.port();
        server.close();
        server = null;
        remote = new ReapiBackend(config("grpc://127.0.0.1:" + port));
        CacheBackend backend = new MetricsBackend(remote, registry);

        for (int i = 0; i < 2; i++) {
            backend.capabilities(SCOPE).onErrorResume(e -> Mono.empty()).block(TIMEOUT);
        }

        // nothing was answered, so nothing is held: each ask was a call, and each is counted
        Awaitility.await().atMost(TIMEOUT).until(() -> callsCounted("remote") >= 2);
        assertThat(callsCounted("remote")).isEqualTo(2);
        assertThat(registry.find(MetricsBackend.METER).tags("operation", "capabilities", "outcome", "success").timer())
                .isNull();
    }

    private static BackendCapabilities ask(CacheBackend backend) {
        return backend.capabilities(SCOPE).block(TIMEOUT);
    }

    private long callsCounted(String backend) {
        return registry.find(MetricsBackend.METER).tags("backend", backend, "operation", "capabilities").timers().stream()
                .mapToLong(Timer::count)
                .sum();
    }
}
