package dev.vouch.auth;

import dev.vouch.logging.LogSafe;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.security.cert.X509Certificate;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import javax.naming.InvalidNameException;
import javax.naming.ldap.LdapName;
import javax.naming.ldap.Rdn;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.DisposableBean;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.stereotype.Component;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;

/**
 * The one place that decides who a caller is and what it may do, for every API front (REST and gRPC
 * validation here; the cache front calls the same two methods): {@link #authenticate} turns an
 * {@code Authorization} header into an {@link Identity} (or a 401), {@link #check} says whether that
 * identity holds a right on an instance name (or a 403). With {@code vouch.auth.enabled=false} every
 * caller is {@link Identity#ANONYMOUS}, allowed everything, exactly as before auth existed.
 * Transport adapters: {@link AuthWebFilter} (HTTP port), {@link GrpcAuthInterceptor} (gRPC port).
 *
 * <p>Refusals are counted as {@code vouch_auth_refused_total{reason,identity}}: {@code identity} is a
 * static token's name, {@code jwt} or {@code none}; credentials are never logged, tagged or echoed.
 */
@Component

public class Authorizer implements DisposableBean {
    private static final Logger log = LoggerFactory.getLogger(Authorizer.class);
    private static final String BEARER = "bearer ";

    private final AuthProperties properties;
    private final StaticTokens tokens;
    private final JwtIdentities jwts;
    /** mTLS clients by subject CN ({@code vouch.auth.certificates}) */
    private final Map<String, Identity> certificates;
    private final MeterRegistry registry;

    public Authorizer(AuthProperties properties, @Qualifier("ioScheduler") Scheduler io,
            MeterRegistry registry) {
        this.properties = properties;
        this.registry = registry;
        this.tokens = properties.enabled() ? new StaticTokens(properties, io) : null;
        this.jwts = properties.enabled() && properties.jwt() != null ? new JwtIdentities(properties.jwt()) : null;
        this.certificates = properties.certificates().stream().collect(Collectors.toUnmodifiableMap(
                AuthProperties.Certificate::subject,
                c -> new Identity(c.subject(), "certificate", c.instancePatterns().stream().map(Pattern::compile).toList(),
                        c.rights().stream().map(Right::parse).collect(Collectors.toSet()))));
    }

    /** Auth off: every caller is {@link Identity#ANONYMOUS}. For components built by hand in tests. */
    public static Authorizer disabled() {
        return new Authorizer(AuthProperties.disabled(), null, new SimpleMeterRegistry());
    }

    /** Whether requests need an identity ({@code vouch.auth.enabled}). */
    public boolean enabled() {
        return properties.enabled();
    }

    /** What the start-up report says about authentication, without any secret. */
    public String describe() {
        if (!enabled()) {
            return "OFF (vouch.auth.enabled=false): anyone who reaches the ports may validate, read and write";
        }
        StringBuilder text = new StringBuilder("on: ").append(tokens.size()).append(" static tokens");
        if (properties.tokensFile() != null) {
            text.append(" (with ").append(properties.tokensFile()).append(", re-read when it changes)");
        }
        if (!certificates.isEmpty()) {
            text.append(", ").append(certificates.size()).append(" client certificate subjects");
        }
        if (properties.jwt() != null) {
            AuthProperties.Jwt jwt = properties.jwt();
            text.append(", JWTs of issuer ").append(jwt.issuer()).append(" for audience ").append(jwt.audience())
                    .append(" verified with ").append(jwt.jwksUri() != null ? jwt.jwksUri() : jwt.publicKeyFile());
        }
        return text.toString();
    }

    /**
     * The caller behind an {@code Authorization} header value ({@code Bearer <token>}; null when the
     * request has none). Errors with {@link AuthException} (401) when there is none or it does not
     * verify. Never blocks: static tokens are answered at once, JWTs when their keys are at hand.
     */
    public Mono<Identity> authenticate(String authorization) {
        return authenticate(authorization, null);
    }

    /**
     * As {@link #authenticate(String)}, for a request that may also come over mutual TLS: without an
     * {@code Authorization} header, the client certificate (leaf first; null or empty without one)
     * is the identity if its subject CN is listed in {@code vouch.auth.certificates}, else a 401.
     */
    public Mono<Identity> authenticate(String authorization, X509Certificate[] peer) {
        if (!enabled()) {
            return Mono.just(Identity.ANONYMOUS);
        }
        return Mono.defer(() -> {
            if ((authorization == null || authorization.isBlank()) && peer != null && peer.length > 0) {
                String cn = commonName(peer[0]);
                Identity identity = cn == null ? null : certificates.get(cn);
                return identity != null ? Mono.just(identity) : Mono.error(AuthException.unauthenticated("invalid",
                        "the client certificate's subject CN is not listed in vouch.auth.certificates"));
            }
            if (authorization == null || authorization.isBlank()) {
                return Mono.error(AuthException.unauthenticated("missing",
                        "this request needs an identity: send Authorization: Bearer <token>"));
            }
            if (authorization.length() <= BEARER.length()
                    || !authorization.substring(0, BEARER.length()).toLowerCase(Locale.ROOT).equals(BEARER)) {
                return Mono.error(AuthException.unauthenticated("invalid",
                        "the Authorization header is not of the form Bearer <token>"));
            }
            String token = authorization.substring(BEARER.length()).trim();
            Identity identity = tokens.match(token);
            if (identity != null) {
                return Mono.just(identity);
            }
            if (jwts != null && JwtIdentities.looksLikeJwt(token)) {
                return jwts.identify(token);
            }
            return Mono.error(AuthException.unauthenticated("invalid", "the bearer token is not valid here"));
        }).doOnError(AuthException.class, e -> refused(e, "none", null, null));
    }

    /**
     * Lets {@code identity} act with {@code right} on {@code instanceName}, or throws
     * {@link AuthException} (403). A null identity (a request that was never authenticated) is a 401
     * when auth is on: nothing passes by omission.
     */
    public Identity check(Identity identity, String instanceName, Right right) {
        if (!enabled()) {
            return identity == null ? Identity.ANONYMOUS : identity;
        }
        if (identity == null) {
            AuthException e = AuthException.unauthenticated("missing", "this request needs an identity: send "
                    + "Authorization: Bearer <token>");
            refused(e, "none", instanceName, right);
            throw e;
        }
        if (!identity.may(right, instanceName)) {
            AuthException e = AuthException.forbidden(identity.rights().contains(right)
                    ? "'" + identity.name() + "' may not use instance name '" + instanceName + "'"
                    : "'" + identity.name() + "' does not hold the right " + right);
            refused(e, identity.metricName(), instanceName, right);
            log.info("refused {} on instance {} to {} ({})", right, LogSafe.quote(instanceName),
                    LogSafe.quote(identity.name()), identity.source());
            throw e;
        }
        return identity;
    }

    /** The subject's CN (the last one, the most specific, if there are several); null without one. */
    static String commonName(X509Certificate certificate) {
        try {
            String cn = null;
            for (Rdn rdn : new LdapName(certificate.getSubjectX500Principal().getName()).getRdns()) {
                if ("CN".equalsIgnoreCase(rdn.getType())) {
                    cn = String.valueOf(rdn.getValue());
                }
            }
            return cn;
        } catch (InvalidNameException e) {
            return null;
        }
    }

    private void refused(AuthException e, String identity, String instanceName, Right right) {
        Counter.builder("vouch.auth.refused")
                .description("requests refused for their identity: 401/UNAUTHENTICATED and 403/PERMISSION_DENIED")
                .tag("reason", e.reason())
                .tag("identity", identity)
                .register(registry)
                .increment();
        if (!e.forbidden()) {
            log.debug("unauthenticated request refused ({}): {}", e.reason(), e.getMessage());
        }
    }

    @Override
    public void destroy() {
        if (tokens != null) {
            tokens.close();
        }
    }
}
