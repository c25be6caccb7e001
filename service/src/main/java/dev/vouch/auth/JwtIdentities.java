package dev.vouch.auth;

import java.io.IOException;
import java.nio.file.Files;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.X509EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import org.springframework.security.oauth2.core.DelegatingOAuth2TokenValidator;
import org.springframework.security.oauth2.core.OAuth2Error;
import org.springframework.security.oauth2.jwt.BadJwtException;
import org.springframework.security.oauth2.jwt.Jwt;
import org.springframework.security.oauth2.jwt.JwtAudienceValidator;
import org.springframework.security.oauth2.jwt.JwtIssuerValidator;
import org.springframework.security.oauth2.jwt.JwtTimestampValidator;
import org.springframework.security.oauth2.jwt.JwtValidationException;
import org.springframework.security.oauth2.jwt.NimbusReactiveJwtDecoder;
import reactor.core.publisher.Mono;

/**
 * JWT bearer tokens ({@code vouch.auth.jwt.*}) through Spring Security's {@link NimbusReactiveJwtDecoder}:
 * the signature against the JWKS (fetched with the decoder's non-blocking WebClient and cached) or
 * the PEM public key, then {@code exp}/{@code nbf} within the clock skew, {@code iss} and {@code aud}.
 * The identity's instance patterns and rights come from the configured claims.
 */
final class JwtIdentities {
    private final NimbusReactiveJwtDecoder decoder;
    private final AuthProperties.Jwt config;

    JwtIdentities(AuthProperties.Jwt config) {
        this.config = config;
        this.decoder = config.jwksUri() != null
                ? NimbusReactiveJwtDecoder.withJwkSetUri(config.jwksUri().toString()).build()
                : NimbusReactiveJwtDecoder.withPublicKey(publicKey(config)).build();
        decoder.setJwtValidator(new DelegatingOAuth2TokenValidator<>(
                new JwtTimestampValidator(config.clockSkew()),
                new JwtIssuerValidator(config.issuer()),
                new JwtAudienceValidator(config.audience())));
    }

    /** Whether a bearer token has the shape of a JWS (three dot-separated parts) and is worth decoding. */
    static boolean looksLikeJwt(String token) {
        return !token.startsWith(".") && token.chars().filter(c -> c == '.').count() == 2;
    }

    Mono<Identity> identify(String token) {
        return decoder.decode(token)
                .map(this::identity)
                .onErrorMap(e -> !(e instanceof AuthException), JwtIdentities::refusal);
    }

    private Identity identity(Jwt jwt) {
        String subject = jwt.getSubject() == null ? "(no sub)" : jwt.getSubject();
        List<Pattern> patterns = new ArrayList<>();
        for (String p : claimValues(jwt, config.claimsInstancePatterns())) {
            try {
                patterns.add(Pattern.compile(p));
            } catch (PatternSyntaxException e) {
                throw AuthException.unauthenticated("invalid", "the JWT's " + config.claimsInstancePatterns()
                        + " claim holds an invalid regex: " + e.getDescription());
            }
        }
        Set<Right> rights = EnumSet.noneOf(Right.class);
        // unknown rights are ignored: an issuer may grant rights of other services in the same claim
        claimValues(jwt, config.claimsRights()).stream().map(Right::parse).filter(r -> r != null).forEach(rights::add);
        return new Identity(subject, "jwt", patterns, rights);
    }

    /** A claim as a list of strings: a JSON array, or one string of space-separated values (like {@code scope}). */
    private static List<String> claimValues(Jwt jwt, String claim) {
        Object value = jwt.getClaims().get(claim);
        if (value instanceof String s) {
            return List.of(s.trim().split("\\s+")).stream().filter(v -> !v.isEmpty()).toList();
        }
        if (value instanceof java.util.Collection<?> values) {
            return values.stream().map(String::valueOf).toList();
        }
        return List.of();
    }

    /**
     * What the client is told: the failed checks of a token that decoded (expired, issuer, audience),
     * otherwise only that it is not a valid JWT. Nimbus's own messages are not passed on.
     */
    private static AuthException refusal(Throwable error) {
        if (error instanceof JwtValidationException invalid) {
            boolean expired = invalid.getErrors().stream()
                    .map(OAuth2Error::getDescription)
                    .anyMatch(d -> d != null && d.startsWith("Jwt expired"));
            List<String> why = invalid.getErrors().stream().map(OAuth2Error::getDescription).toList();
            return AuthException.unauthenticated(expired ? "expired" : "invalid", "the JWT was refused: " + why);
        }
        if (error instanceof BadJwtException) {
            return AuthException.unauthenticated("invalid", "the bearer token is not a valid JWT for this service "
                    + "(malformed, or its signature does not verify)");
        }
        // the JWKS could not be fetched: the token may be fine, but it cannot be shown to be
        return AuthException.unauthenticated("unverifiable", "the JWT cannot be verified now: the issuer's keys "
                + "(vouch.auth.jwt.jwks-uri) could not be fetched");
    }

    private static RSAPublicKey publicKey(AuthProperties.Jwt config) {
        String key = "vouch.auth.jwt.public-key-file " + config.publicKeyFile();
        String pem;
        try {
            pem = Files.readString(config.publicKeyFile());
        } catch (IOException e) {
            throw new IllegalArgumentException(key + " cannot be read: " + e);
        }
        int begin = pem.indexOf("-----BEGIN PUBLIC KEY-----");
        int end = pem.indexOf("-----END PUBLIC KEY-----");
        if (begin < 0 || end < begin) {
            throw new IllegalArgumentException(key + " holds no PEM public key (-----BEGIN PUBLIC KEY-----)");
        }
        String base64 = pem.substring(begin + "-----BEGIN PUBLIC KEY-----".length(), end).replaceAll("\\s", "");
        try {
            return (RSAPublicKey) KeyFactory.getInstance("RSA")
                    .generatePublic(new X509EncodedKeySpec(Base64.getDecoder().decode(base64)));
        } catch (GeneralSecurityException | IllegalArgumentException | ClassCastException e) {
            throw new IllegalArgumentException(key + " is not an RSA public key: " + e.getMessage());
        }
    }
}
