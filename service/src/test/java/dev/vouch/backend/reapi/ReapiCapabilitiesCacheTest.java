package dev.vouch.backend.reapi;

import static dev.vouch.backend.reapi.ReapiTestServer.TIMEOUT;
import static dev.vouch.backend.reapi.ReapiTestServer.config;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vouch.backend.BackendException;
import dev.vouch.backend.Scope;
import io.grpc.Status;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Flux;
import reactor.test.StepVerifier;

/** The grpc backend's capabilities cache is keyed by what clients send, so it must stay bounded. */
class ReapiCapabilitiesCacheTest {
    private static final int BOUND = 1_000;

    private final ReapiTestServer server = ReapiTestServer.start(64 * 1024);
    private final ReapiBackend backend = new ReapiBackend(config(server.target()));

    @AfterEach
    void close() throws InterruptedException {
        backend.close();
        server.close();
    }

    @Test
    void tenThousandInstanceNamesLeaveAtMostTheBoundCached() {
        long answered = Flux.range(0, 10_000)
                .flatMap(i -> backend.capabilities(Scope.of("tenant-" + i)), 64)
                .count()
                .block(TIMEOUT.multipliedBy(4));

        assertThat(answered).isEqualTo(10_000);
        assertThat(server.calls("GetCapabilities")).isEqualTo(10_000);
        assertThat(backend.cachedCapabilities()).as("instance names cached").isLessThanOrEqualTo(BOUND);
    }

    @Test
    void failedCapabilitiesAreAskedAgain() {
        server.failNext("GetCapabilities", Status.UNAVAILABLE.withDescription("restarting"), 1);

        StepVerifier.create(backend.capabilities(Scope.of("")))
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(BackendException.class).hasMessageContaining("restarting"))
                .verify(TIMEOUT);
        StepVerifier.create(backend.capabilities(Scope.of("")))
                .assertNext(caps -> assertThat(caps.maxBatchTotalSizeBytes()).isEqualTo(64 * 1024))
                .verifyComplete();
        StepVerifier.create(backend.capabilities(Scope.of(""))).expectNextCount(1).expectComplete().verify(TIMEOUT);

        // the failure was not kept; the answer after it was
        assertThat(server.calls("GetCapabilities")).isEqualTo(2);
    }
}
