package dev.vouch.backend.reapi;

import static dev.vouch.backend.reapi.ReapiTestServer.TIMEOUT;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vouch.backend.BackendException;
import dev.vouch.backend.CallerCredentials;
import dev.vouch.backend.Scope;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestSet;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Mono;
import reactor.test.StepVerifier;

/**
 * A {@code grpc} backend with {@code forward-credentials} against a server that checks tokens: each
 * call carries the caller's {@code authorization} (from the Reactor context) and never the configured
 * one; the capabilities it caches are the asking caller's, never another's.
 */
class ReapiForwardCredentialsTest {
    private static final Scope SCOPE = Scope.of("");
    private static final String GOOD = "Bearer good";
    private static final String OWN = "Bearer vouch-own";

    private final List<AutoCloseable> open = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : open) {
            c.close();
        }
    }

    private ReapiTestServer server(String... accepted) {
        ReapiTestServer server = ReapiTestServer.start(64 * 1024);
        Map<String, Set<String>> allowed = new java.util.HashMap<>();
        for (String token : accepted) {
            allowed.put(token, Set.of("*"));
        }
        server.requireAuthorization(allowed);
        open.add(server);
        return server;
    }

    private ReapiBackend backend(ReapiTestServer server, boolean forward) {
        ReapiBackend backend = new ReapiBackend(ReapiTestServer.config(server.target(), null,
                Map.of("authorization", OWN), null, Duration.ofSeconds(10)).withForwardCredentials(forward));
        open.add(0, backend);
        return backend;
    }

    private static <T> Mono<T> as(String authorization, Mono<T> call) {
        return call.contextWrite(context -> CallerCredentials.put(context, authorization));
    }

    @Test
    void capabilitiesAnsweredToOneCallerAreNotAnotherCallersAnswer() {
        ReapiTestServer server = server(GOOD);
        ReapiBackend backend = backend(server, true);

        StepVerifier.create(as(GOOD, backend.capabilities(SCOPE))).expectNextCount(1).expectComplete().verify(TIMEOUT);
        StepVerifier.create(as("Bearer bad", backend.capabilities(SCOPE)))
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(BackendException.class)
                        .hasMessageContaining("UNAUTHENTICATED"))
                .verify(TIMEOUT);
        StepVerifier.create(backend.capabilities(SCOPE)).expectError(BackendException.class).verify(TIMEOUT);

        assertThat(server.authorizations("GetCapabilities")).containsExactly(GOOD, "Bearer bad", "<none>");
    }

    @Test
    void everyCallCarriesTheCallersTokenAndNeverTheConfiguredOne() {
        ReapiTestServer server = server(GOOD, OWN);
        Digest blob = server.put("forwarded".getBytes(StandardCharsets.UTF_8));
        ReapiBackend backend = backend(server, true);

        StepVerifier.create(as(GOOD, backend.findMissing(SCOPE, DigestSet.of(List.of(blob)))))
                .expectNext(DigestSet.empty()).expectComplete().verify(TIMEOUT);
        StepVerifier.create(as(GOOD, backend.readBlob(SCOPE, blob).collectList()))
                .expectNextCount(1).expectComplete().verify(TIMEOUT);
        // Vouch's own work, for no client: without credentials, not with Vouch's own
        StepVerifier.create(backend.findMissing(SCOPE, DigestSet.of(List.of(blob))))
                .expectError(BackendException.class).verify(TIMEOUT);

        assertThat(server.authorizations(null)).doesNotContain(OWN).containsOnly(GOOD, "<none>")
                .endsWith("<none>");
    }

    @Test
    void withoutForwardingTheConfiguredHeaderIsSentWhateverTheCallerSent() {
        ReapiTestServer server = server(OWN);
        Digest blob = server.put("own credentials".getBytes(StandardCharsets.UTF_8));
        ReapiBackend backend = backend(server, false);

        StepVerifier.create(as(GOOD, backend.findMissing(SCOPE, DigestSet.of(List.of(blob)))))
                .expectNext(DigestSet.empty()).expectComplete().verify(TIMEOUT);

        assertThat(server.authorizations(null)).containsOnly(OWN);
    }
}
