package dev.vouch.auth;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.validation.annotation.Validated;

/**
 * Who may call Vouch ({@code vouch.auth.*}, SPEC "Authentication and TLS"). Off by default, for the
 * one-command local set-up; when on, every endpoint but the liveness and readiness probes and
 * {@code /actuator/prometheus} needs an identity: a static bearer token or a JWT.
 *
 * @param enabled whether requests need an identity ({@code vouch.auth.enabled}); {@code false} by default
 * @param tokens static bearer tokens, each configured only as its SHA-256 ({@code vouch.auth.tokens[i].*})
 * @param tokensFile a YAML file holding a {@code tokens:} list of the same shape, re-read when it changes
 *     (a mounted Kubernetes Secret); its tokens count beside {@code tokens}
 * @param tokensFileCheckInterval how often {@code tokens-file} is looked at for a change
 * @param jwt JWT bearer tokens, verified against a JWKS URL or a PEM public key
 * @param certificates identities of mutual-TLS clients ({@code vouch.auth.certificates[i].*}): a client
 *     certificate accepted by {@code vouch.tls.client-ca-file} whose subject CN is an entry's {@code subject}
 *     gets its patterns and rights; a request with a bearer token is judged by the token instead
 */
@Validated
@ConfigurationProperties("vouch.auth")
public record AuthProperties(
        @DefaultValue("false") boolean enabled,
        List<Token> tokens,
        Path tokensFile,
        @DefaultValue("5s") Duration tokensFileCheckInterval,
        Jwt jwt,
        List<Certificate> certificates) {

    public AuthProperties {
        certificates = certificates == null ? List.of() : List.copyOf(certificates);
        checkCertificates(certificates);
        tokens = tokens == null ? List.of() : List.copyOf(tokens);
        tokensFileCheckInterval = tokensFileCheckInterval == null ? Duration.ofSeconds(5) : tokensFileCheckInterval;
        if (tokensFileCheckInterval.isNegative() || tokensFileCheckInterval.isZero()) {
            throw new IllegalArgumentException("vouch.auth.tokens-file-check-interval must be positive, was "
                    + tokensFileCheckInterval);
        }
        checkTokens(tokens, "vouch.auth.tokens");
        if (jwt != null && jwt.configured()) {
            jwt.check();
        } else {
            jwt = null;
        }
        if (enabled && tokens.isEmpty() && tokensFile == null && jwt == null && certificates.isEmpty()) {
            throw new IllegalArgumentException("vouch.auth.enabled is true but no identity can pass: configure "
                    + "vouch.auth.tokens, vouch.auth.tokens-file, vouch.auth.jwt or vouch.auth.certificates");
        }
    }

    /** Everything at its default: auth off. */
    public static AuthProperties disabled() {
        return new AuthProperties(false, null, null, null, null, null);
    }

    /**
     * Names, hashes, patterns and rights of a token list, with messages naming the key ({@code where}
     * is {@code vouch.auth.tokens} or the tokens file) so a bad entry says exactly what to fix.
     */
    static void checkTokens(List<Token> tokens, String where) {
        Set<String> names = new HashSet<>();
        Set<String> hashes = new HashSet<>();
        for (int i = 0; i < tokens.size(); i++) {
            Token t = tokens.get(i);
            String key = where + "[" + i + "]";
            if (t.name() == null || t.name().isBlank()) {
                throw new IllegalArgumentException(key + ".name is required");
            }
            if (!names.add(t.name())) {
                throw new IllegalArgumentException(key + ".name '" + t.name() + "' is used by another token");
            }
            if (t.sha256() == null || !t.sha256().matches("[0-9a-f]{64}")) {
                // the value is a hash, not a secret, but a pasted token may land here by mistake: never echo it
                throw new IllegalArgumentException(key + ".sha256 must be 64 lowercase hex digits (printf %s \"$TOKEN\" "
                        + "| sha256sum), " + (t.sha256() == null ? "was not set" : "has " + t.sha256().length() + " characters"));
            }
            if (!hashes.add(t.sha256())) {
                throw new IllegalArgumentException(key + ".sha256 is the hash of another token's secret");
            }
            checkPatterns(t.instancePatterns(), key + ".instance-patterns");
            if (t.rights().isEmpty()) {
                throw new IllegalArgumentException(key + ".rights is empty: list validate, read and/or write");
            }
            for (int r = 0; r < t.rights().size(); r++) {
                if (Right.parse(t.rights().get(r)) == null) {
                    throw new IllegalArgumentException(key + ".rights[" + r + "] '" + t.rights().get(r)
                            + "' is not a right: validate, read or write");
                }
            }
        }
    }

    private static void checkCertificates(List<Certificate> certificates) {
        Set<String> subjects = new HashSet<>();
        for (int i = 0; i < certificates.size(); i++) {
            Certificate c = certificates.get(i);
            String key = "vouch.auth.certificates[" + i + "]";
            if (c.subject() == null || c.subject().isBlank()) {
                throw new IllegalArgumentException(key + ".subject is required: the client certificate's subject CN");
            }
            if (!subjects.add(c.subject())) {
                throw new IllegalArgumentException(key + ".subject '" + c.subject() + "' is listed twice");
            }
            checkPatterns(c.instancePatterns(), key + ".instance-patterns");
            checkRights(c.rights(), key);
        }
    }

    private static void checkRights(List<String> rights, String key) {
        if (rights.isEmpty()) {
            throw new IllegalArgumentException(key + ".rights is empty: list validate, read and/or write");
        }
        for (int r = 0; r < rights.size(); r++) {
            if (Right.parse(rights.get(r)) == null) {
                throw new IllegalArgumentException(key + ".rights[" + r + "] '" + rights.get(r)
                        + "' is not a right: validate, read or write");
            }
        }
    }

    static void checkPatterns(List<String> patterns, String key) {
        if (patterns.isEmpty()) {
            throw new IllegalArgumentException(key + " is empty: list the instance names it may use as regexes "
                    + "(\".*\" for every one)");
        }
        for (int p = 0; p < patterns.size(); p++) {
            try {
                Pattern.compile(patterns.get(p));
            } catch (PatternSyntaxException e) {
                throw new IllegalArgumentException(key + "[" + p + "] is not a valid regex: " + e.getDescription());
            }
        }
    }

    /**
     * One static bearer token.
     *
     * @param name the identity's name in logs and metrics (never the token)
     * @param sha256 lowercase hex SHA-256 of the token; the token itself is never configured
     * @param instancePatterns Java regexes, each matching whole instance names this token may use
     * @param rights {@code validate} (the validation APIs), {@code read} (AC and CAS reads at the cache
     *     front), {@code write} (UpdateActionResult and CAS writes)
     */
    public record Token(String name, String sha256, List<String> instancePatterns, List<String> rights) {
        public Token {
            instancePatterns = instancePatterns == null ? List.of() : List.copyOf(instancePatterns);
            rights = rights == null ? List.of() : List.copyOf(rights);
        }
    }

    /**
     * One mutual-TLS client, known by its certificate's subject CN.
     *
     * @param subject the subject CN of the client certificate (which {@code vouch.tls.client-ca-file} must have signed)
     * @param instancePatterns Java regexes, each matching whole instance names this client may use
     * @param rights {@code validate}, {@code read} and/or {@code write}, as for tokens
     */
    public record Certificate(String subject, List<String> instancePatterns, List<String> rights) {
        public Certificate {
            instancePatterns = instancePatterns == null ? List.of() : List.copyOf(instancePatterns);
            rights = rights == null ? List.of() : List.copyOf(rights);
        }
    }

    /**
     * JWT bearer tokens ({@code vouch.auth.jwt.*}), verified with Spring Security's reactive Nimbus
     * decoder: signature, {@code exp} and {@code nbf} (with {@code clock-skew}), {@code iss}, {@code aud}.
     *
     * @param jwksUri the JWKS URL of the issuer's signing keys (fetched and cached, without blocking)
     * @param publicKeyFile a PEM RSA public key ({@code -----BEGIN PUBLIC KEY-----}), instead of {@code jwks-uri}
     * @param issuer the {@code iss} every token must carry
     * @param audience a value the token's {@code aud} must contain
     * @param clockSkew how far {@code exp} and {@code nbf} may be off Vouch's clock
     * @param claimsInstancePatterns the claim holding the token's instance-name regexes (a list, or one
     *     string of space-separated regexes)
     * @param claimsRights the claim holding the token's rights (a list, or one space-separated string)
     */
    public record Jwt(
            URI jwksUri,
            Path publicKeyFile,
            String issuer,
            String audience,
            @DefaultValue("60s") Duration clockSkew,
            @DefaultValue("vouch_instance_patterns") String claimsInstancePatterns,
            @DefaultValue("vouch_rights") String claimsRights) {

        public Jwt {
            clockSkew = clockSkew == null ? Duration.ofSeconds(60) : clockSkew;
            claimsInstancePatterns = claimsInstancePatterns == null ? "vouch_instance_patterns" : claimsInstancePatterns;
            claimsRights = claimsRights == null ? "vouch_rights" : claimsRights;
        }

        boolean configured() {
            return jwksUri != null || publicKeyFile != null || issuer != null || audience != null;
        }

        void check() {
            if ((jwksUri == null) == (publicKeyFile == null)) {
                throw new IllegalArgumentException("vouch.auth.jwt needs exactly one of vouch.auth.jwt.jwks-uri and "
                        + "vouch.auth.jwt.public-key-file");
            }
            if (jwksUri != null && !"https".equals(jwksUri.getScheme()) && !"http".equals(jwksUri.getScheme())) {
                throw new IllegalArgumentException("vouch.auth.jwt.jwks-uri must be an https:// (or http://) URL, was '" + jwksUri + "'");
            }
            if (issuer == null || issuer.isBlank()) {
                throw new IllegalArgumentException("vouch.auth.jwt.issuer is required: the iss every token must carry");
            }
            if (audience == null || audience.isBlank()) {
                throw new IllegalArgumentException("vouch.auth.jwt.audience is required: without it a token issued "
                        + "for another service would pass");
            }
            if (clockSkew.isNegative()) {
                throw new IllegalArgumentException("vouch.auth.jwt.clock-skew must not be negative, was " + clockSkew);
            }
            if (claimsInstancePatterns.isBlank() || claimsRights.isBlank()) {
                throw new IllegalArgumentException("vouch.auth.jwt.claims-instance-patterns and "
                        + "vouch.auth.jwt.claims-rights must name claims");
            }
        }
    }
}
