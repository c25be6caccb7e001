package dev.vouch.auth;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vouch.tls.TestCertificates;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import reactor.test.StepVerifier;

/** {@code vouch.auth.certificates}: a client certificate's subject CN as the identity. */
class CertificateIdentitiesTest {
    private static final Duration WAIT = Duration.ofSeconds(5);

    @TempDir
    Path dir;

    private static AuthProperties certificates(AuthProperties.Certificate... entries) {
        return new AuthProperties(true, null, null, null, null, List.of(entries));
    }

    @Test
    void aListedCnIsTheIdentityAndAnUnlistedOneIs401() {
        TestCertificates.Issued ca = TestCertificates.ca(dir, "ca");
        X509Certificate[] runner = {TestCertificates.leaf(dir, "ci-runner", ca).certificate()};
        X509Certificate[] stranger = {TestCertificates.leaf(dir, "stranger", ca).certificate()};
        Authorizer authorizer = new Authorizer(certificates(
                new AuthProperties.Certificate("ci-runner", List.of("ci/.*"), List.of("validate", "read"))),
                null, new SimpleMeterRegistry());
        StepVerifier.create(authorizer.authenticate(null, runner))
                .assertNext(identity -> {
                    assertThat(identity.name()).isEqualTo("ci-runner");
                    assertThat(identity.source()).isEqualTo("certificate");
                    assertThat(identity.may(Right.READ, "ci/main")).isTrue();
                    assertThat(identity.may(Right.WRITE, "ci/main")).isFalse();
                    assertThat(identity.may(Right.READ, "release/main")).isFalse();
                })
                .expectComplete().verify(WAIT);
        StepVerifier.create(authorizer.authenticate(null, stranger))
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(AuthException.class)
                        .hasMessage("the client certificate's subject CN is not listed in vouch.auth.certificates"))
                .verify(WAIT);
        // a bearer token, when sent, is what counts: an invalid one is not rescued by the certificate
        StepVerifier.create(authorizer.authenticate("Bearer not-a-token", runner))
                .expectErrorSatisfies(e -> assertThat(e).hasMessage("the bearer token is not valid here"))
                .verify(WAIT);
    }

    @Test
    void badEntriesAreRefusedNamingTheKey() {
        assertThatThrownBy(() -> certificates(new AuthProperties.Certificate(" ", List.of(".*"), List.of("read"))))
                .hasMessage("vouch.auth.certificates[0].subject is required: the client certificate's subject CN");
        assertThatThrownBy(() -> certificates(new AuthProperties.Certificate("a", List.of(".*"), List.of("admin"))))
                .hasMessage("vouch.auth.certificates[0].rights[0] 'admin' is not a right: validate, read or write");
        assertThatThrownBy(() -> certificates(new AuthProperties.Certificate("a", List.of(), List.of("read"))))
                .hasMessageStartingWith("vouch.auth.certificates[0].instance-patterns is empty");
        assertThat(certificates(new AuthProperties.Certificate("a", List.of(".*"), List.of("read"))).enabled())
                .as("certificates alone are an identity source").isTrue();
    }
}
