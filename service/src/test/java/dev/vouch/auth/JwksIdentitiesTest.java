package dev.vouch.auth;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.MapConfigurationPropertySource;
import reactor.core.scheduler.Schedulers;
import reactor.test.StepVerifier;

/**
 * JWTs verified against a JWKS URL served here, fetched by the decoder's non-blocking client (on
 * Netty threads, where BlockHound watches): the key is fetched once and cached, and an issuer whose
 * keys cannot be fetched gives a 401 that says so, never an identity.
 */
class JwksIdentitiesTest {
    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final TestJwts JWTS = new TestJwts();

    private HttpServer issuer;
    private final AtomicInteger fetches = new AtomicInteger();

    @BeforeEach
    void serveKeys() throws IOException {
        issuer = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        byte[] keys = JWTS.jwkSet().getBytes(StandardCharsets.UTF_8);
        issuer.createContext("/jwks", exchange -> {
            fetches.incrementAndGet();
            exchange.getResponseHeaders().add("Content-Type", "application/json");
            exchange.sendResponseHeaders(200, keys.length);
            try (OutputStream body = exchange.getResponseBody()) {
                body.write(keys);
            }
        });
        issuer.start();
    }

    @AfterEach
    void stop() {
        issuer.stop(0);
    }

    @Test
    void validJwtGivesItsClaimsAndTheKeysAreFetchedOnce() {
        Authorizer authorizer = authorizer();
        String jwt = JWTS.valid("ci-bot", List.of("ci/.*"), List.of("validate", "read"));
        for (int i = 0; i < 3; i++) {
            StepVerifier.create(authorizer.authenticate("Bearer " + jwt))
                    .assertNext(identity -> {
                        assertThat(identity.name()).isEqualTo("ci-bot");
                        assertThat(identity.source()).isEqualTo("jwt");
                        assertThat(identity.may(Right.VALIDATE, "ci/main")).isTrue();
                        assertThat(identity.may(Right.READ, "ci/main")).isTrue();
                        assertThat(identity.may(Right.WRITE, "ci/main")).isFalse();
                        assertThat(identity.may(Right.VALIDATE, "release/main")).isFalse();
                    })
                    .expectComplete()
                    .verify(WAIT);
        }
        assertThat(fetches).as("JWKS fetches").hasValue(1);
    }

    @Test
    void expiredAndForeignJwtsAreRefused() {
        Authorizer authorizer = authorizer();
        StepVerifier.create(authorizer.authenticate("Bearer " + JWTS.expired("ci-bot")))
                .expectErrorSatisfies(e -> assertThat(((AuthException) e).reason()).isEqualTo("expired"))
                .verify(WAIT);
        StepVerifier.create(authorizer.authenticate("Bearer " + JWTS.signedByStranger()))
                .expectErrorSatisfies(e -> assertThat(((AuthException) e).reason()).isEqualTo("invalid"))
                .verify(WAIT);
    }

    @Test
    void unreachableKeysGiveUnverifiableNeverAnIdentity() {
        Authorizer authorizer = authorizer();
        issuer.stop(0);
        StepVerifier.create(authorizer.authenticate("Bearer " + JWTS.valid("ci-bot", List.of(".*"), List.of("validate"))))
                .expectErrorSatisfies(e -> {
                    assertThat(e).isInstanceOf(AuthException.class);
                    assertThat(((AuthException) e).reason()).isEqualTo("unverifiable");
                    assertThat(e.getMessage()).contains("could not be fetched");
                })
                .verify(WAIT);
    }

    private Authorizer authorizer() {
        AuthProperties properties = new Binder(new MapConfigurationPropertySource(Map.of(
                "vouch.auth.enabled", "true",
                "vouch.auth.jwt.jwks-uri", "http://127.0.0.1:" + issuer.getAddress().getPort() + "/jwks",
                "vouch.auth.jwt.issuer", TestJwts.ISSUER,
                "vouch.auth.jwt.audience", TestJwts.AUDIENCE)))
                .bindOrCreate("vouch.auth", AuthProperties.class);
        return new Authorizer(properties, Schedulers.immediate(), new SimpleMeterRegistry());
    }
}
