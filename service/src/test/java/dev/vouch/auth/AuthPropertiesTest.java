package dev.vouch.auth;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.assertj.core.api.AbstractThrowableAssert;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.MapConfigurationPropertySource;
import reactor.core.scheduler.Schedulers;
import reactor.test.StepVerifier;

/** {@code vouch.auth.*} as bound at start-up: defaults, and every bad value refused with its key named. */
class AuthPropertiesTest {
    private static final String HASH = "a".repeat(64);

    @TempDir
    Path dir;

    @Test
    void offByDefaultAndEveryoneIsAnonymous() {
        AuthProperties properties = bind(Map.of());
        assertThat(properties.enabled()).isFalse();
        assertThat(properties.tokens()).isEmpty();
        assertThat(properties.tokensFileCheckInterval()).isEqualTo(Duration.ofSeconds(5));
        Authorizer off = Authorizer.disabled();
        StepVerifier.create(off.authenticate(null)).expectNext(Identity.ANONYMOUS).expectComplete().verify(Duration.ofSeconds(5));
        assertThat(off.check(null, "any/instance", Right.WRITE)).isEqualTo(Identity.ANONYMOUS);
    }

    @Test
    void shaThatIsNotLowercaseHexNamesTheKeyAndNotTheValue() {
        String pasted = "my-secret-token-pasted-by-mistake";
        refused(token(Map.of("sha256", pasted)))
                .hasMessageContaining("vouch.auth.tokens[0].sha256 must be 64 lowercase hex digits")
                .hasMessageNotContaining(pasted);
        refused(token(Map.of("sha256", HASH.toUpperCase())))
                .hasMessageContaining("vouch.auth.tokens[0].sha256 must be 64 lowercase hex digits");
    }

    @Test
    void unknownRightBadRegexMissingNameAreNamed() {
        refused(token(Map.of("rights[1]", "delete")))
                .hasMessageContaining("vouch.auth.tokens[0].rights[1] 'delete' is not a right: validate, read or write");
        refused(token(Map.of("instance-patterns[0]", "ci/(")))
                .hasMessageContaining("vouch.auth.tokens[0].instance-patterns[0] is not a valid regex");
        refused(token(Map.of("name", "")))
                .hasMessageContaining("vouch.auth.tokens[0].name is required");
    }

    @Test
    void enabledWithoutAnyIdentitySourceIsRefused() {
        refused(Map.of("vouch.auth.enabled", "true"))
                .hasMessageContaining("vouch.auth.enabled is true but no identity can pass");
    }

    @Test
    void jwtNeedsOneKeySourceIssuerAndAudience() {
        refused(Map.of("vouch.auth.jwt.issuer", "https://i", "vouch.auth.jwt.audience", "vouch"))
                .hasMessageContaining("exactly one of vouch.auth.jwt.jwks-uri and vouch.auth.jwt.public-key-file");
        refused(Map.of("vouch.auth.jwt.jwks-uri", "https://i/jwks", "vouch.auth.jwt.issuer", "https://i"))
                .hasMessageContaining("vouch.auth.jwt.audience is required");
    }

    @Test
    void missingTokensFileStopsStartUp() {
        Path missing = dir.resolve("tokens.yaml");
        AuthProperties properties = bind(Map.of("vouch.auth.enabled", "true", "vouch.auth.tokens-file", missing.toString()));
        assertThatThrownBy(() -> authorizer(properties))
                .hasMessage("vouch.auth.tokens-file " + missing + " does not exist");
    }

    @Test
    void badTokensFileNamesTheFileAndTheEntry() throws IOException {
        Path file = Files.writeString(dir.resolve("tokens.yaml"), "tokens:\n  - name: ci\n    sha256: " + HASH
                + "\n    instance-patterns: ['.*']\n    rights: [validate, admin]\n");
        AuthProperties properties = bind(Map.of("vouch.auth.enabled", "true", "vouch.auth.tokens-file", file.toString()));
        assertThatThrownBy(() -> authorizer(properties))
                .hasMessage("vouch.auth.tokens-file " + file + ": tokens[0].rights[1] 'admin' is not a right: "
                        + "validate, read or write");
    }

    private static Authorizer authorizer(AuthProperties properties) {
        return new Authorizer(properties, Schedulers.immediate(), new SimpleMeterRegistry());
    }

    private static Map<String, String> token(Map<String, String> overrides) {
        Map<String, String> values = new HashMap<>(Map.of(
                "vouch.auth.tokens[0].name", "ci",
                "vouch.auth.tokens[0].sha256", HASH,
                "vouch.auth.tokens[0].instance-patterns[0]", "ci/.*",
                "vouch.auth.tokens[0].rights[0]", "validate"));
        overrides.forEach((k, v) -> values.put("vouch.auth.tokens[0]." + k, v));
        return values;
    }

    private static AbstractThrowableAssert<?, ? extends Throwable> refused(Map<String, String> values) {
        return assertThatThrownBy(() -> bind(values)).rootCause();
    }

    private static AuthProperties bind(Map<String, String> values) {
        return new Binder(new MapConfigurationPropertySource(values)).bindOrCreate("vouch.auth", AuthProperties.class);
    }
}
