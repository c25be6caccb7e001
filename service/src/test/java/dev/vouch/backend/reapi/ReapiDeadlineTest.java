package dev.vouch.backend.reapi;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vouch.backend.BackendException;
import dev.vouch.backend.Deadline;
import dev.vouch.backend.Scope;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.digest.DigestSet;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import reactor.test.StepVerifier;

/** The request's deadline shortens the gRPC deadline of every call; the call timeout still caps it. */
class ReapiDeadlineTest {
    private static final Scope SCOPE = Scope.of("");
    private static final Duration TIMEOUT = Duration.ofSeconds(20);
    private static final Digest ACTION = DigestFunction.SHA256.digestOf("compile".getBytes(StandardCharsets.UTF_8));

    private final ReapiTestServer server = ReapiTestServer.start(64 * 1024);
    private final ReapiBackend backend = new ReapiBackend(new VouchProperties.Backend("remote",
            VouchProperties.BackendType.GRPC, URI.create(server.target()), null, null, Map.of(), null, null,
            Duration.ofSeconds(30), 16));

    @AfterEach
    void close() throws InterruptedException {
        backend.close();
        server.close();
    }

    @Test
    void requestDeadlineShorterThanCallTimeout() {
        server.hang("GetActionResult");

        long start = System.nanoTime();
        StepVerifier.create(backend.getActionResult(SCOPE, ACTION)
                        .contextWrite(context -> Deadline.in(Duration.ofMillis(300)).addTo(context)))
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(BackendException.class)
                        .hasMessageContaining("DEADLINE_EXCEEDED"))
                .verify(TIMEOUT);

        // 30 s of call timeout were not waited for
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isBetween(Duration.ofMillis(250), Duration.ofSeconds(5));
    }

    @Test
    void existenceCheckWithinTheDeadline() {
        server.hang("FindMissingBlobs");
        Digest blob = DigestFunction.SHA256.digestOf("an output".getBytes(StandardCharsets.UTF_8));

        long start = System.nanoTime();
        StepVerifier.create(backend.findMissing(SCOPE, DigestSet.of(blob))
                        .contextWrite(context -> Deadline.in(Duration.ofMillis(300)).addTo(context)))
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(BackendException.class)
                        .hasMessageContaining("DEADLINE_EXCEEDED"))
                .verify(TIMEOUT);

        assertThat(Duration.ofNanos(System.nanoTime() - start)).isBetween(Duration.ofMillis(250), Duration.ofSeconds(5));
    }
}
