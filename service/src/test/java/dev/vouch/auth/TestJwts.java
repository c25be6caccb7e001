package dev.vouch.auth;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.RSASSASigner;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.NoSuchAlgorithmException;
import java.security.interfaces.RSAPrivateKey;
import java.security.interfaces.RSAPublicKey;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Date;
import java.util.List;
import java.util.function.UnaryOperator;

/** An RSA key pair made for one test run, and JWTs signed with it (or with another key). */
public final class TestJwts {
    public static final String ISSUER = "https://issuer.test";
    public static final String AUDIENCE = "vouch";

    private final KeyPair keys = generate();
    private final KeyPair stranger = generate();

    /** The public key as the PEM file {@code vouch.auth.jwt.public-key-file} names. */
    public Path writePublicKey(Path file) {
        String pem = "-----BEGIN PUBLIC KEY-----\n"
                + Base64.getMimeEncoder(64, "\n".getBytes()).encodeToString(keys.getPublic().getEncoded())
                + "\n-----END PUBLIC KEY-----\n";
        try {
            return Files.writeString(file, pem);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The public key as a JWK set, as an issuer serves it at its {@code jwks_uri}. */
    String jwkSet() {
        return new JWKSet(new RSAKey.Builder((RSAPublicKey) keys.getPublic()).keyID("test-key").build()).toString();
    }

    /** A valid token for {@code subject}: issuer, audience, an hour left, these patterns and rights. */
    public String valid(String subject, List<String> patterns, List<String> rights) {
        return sign(keys, claims -> claims.subject(subject)
                .claim("vouch_instance_patterns", patterns)
                .claim("vouch_rights", String.join(" ", rights)));
    }

    public String expired(String subject) {
        Instant past = Instant.now().minus(Duration.ofHours(2));
        return sign(keys, claims -> claims.subject(subject).issueTime(Date.from(past.minusSeconds(60)))
                .expirationTime(Date.from(past)).claim("vouch_instance_patterns", List.of(".*"))
                .claim("vouch_rights", "validate"));
    }

    String withIssuer(String issuer) {
        return sign(keys, claims -> claims.subject("other-issuer").issuer(issuer)
                .claim("vouch_instance_patterns", List.of(".*")).claim("vouch_rights", "validate"));
    }

    String withAudience(String audience) {
        return sign(keys, claims -> claims.subject("other-audience").audience(audience)
                .claim("vouch_instance_patterns", List.of(".*")).claim("vouch_rights", "validate"));
    }

    /** Right claims, signed by a key Vouch does not know. */
    String signedByStranger() {
        return sign(stranger, claims -> claims.subject("stranger")
                .claim("vouch_instance_patterns", List.of(".*")).claim("vouch_rights", "validate"));
    }

    private static String sign(KeyPair key, UnaryOperator<JWTClaimsSet.Builder> claims) {
        Instant now = Instant.now();
        JWTClaimsSet.Builder builder = new JWTClaimsSet.Builder()
                .issuer(ISSUER)
                .audience(AUDIENCE)
                .issueTime(Date.from(now))
                .expirationTime(Date.from(now.plus(Duration.ofHours(1))));
        SignedJWT jwt = new SignedJWT(new JWSHeader(JWSAlgorithm.RS256), claims.apply(builder).build());
        try {
            jwt.sign(new RSASSASigner((RSAPrivateKey) key.getPrivate()));
        } catch (JOSEException e) {
            throw new IllegalStateException(e);
        }
        return jwt.serialize();
    }

    private static KeyPair generate() {
        try {
            KeyPairGenerator generator = KeyPairGenerator.getInstance("RSA");
            generator.initialize(2048);
            return generator.generateKeyPair();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
