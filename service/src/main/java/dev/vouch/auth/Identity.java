package dev.vouch.auth;

import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Who a request comes from, and what it may do: the instance names its patterns match (whole
 * match), with the rights it holds. Built from a static token or a JWT; never holds the credential.
 *
 * @param name the token's configured name, or the JWT's {@code sub}: for logs
 * @param source {@code token}, {@code jwt}, {@code certificate} (mTLS) or {@code anonymous} (auth off)
 * @param instancePatterns the instance names it may act on
 * @param rights what it may do there
 */
public record Identity(String name, String source, List<Pattern> instancePatterns, Set<Right> rights) {

    /** Everyone when auth is off: every right on every instance name, as before auth existed. */
    public static final Identity ANONYMOUS = new Identity("anonymous", "anonymous", List.of(Pattern.compile(".*")),
            EnumSet.allOf(Right.class));

    public Identity {
        instancePatterns = List.copyOf(instancePatterns);
        rights = rights.isEmpty() ? Set.of() : Set.copyOf(EnumSet.copyOf(rights));
    }

    /** Whether it holds {@code right} on {@code instanceName}. */
    public boolean may(Right right, String instanceName) {
        String instance = instanceName == null ? "" : instanceName;
        return rights.contains(right) && instancePatterns.stream().anyMatch(p -> p.matcher(instance).matches());
    }

    /**
     * The name for a metric tag: a static token's configured name (a bounded set), but only
     * {@code jwt} for JWT identities, whose subjects are as many as the issuer makes.
     */
    public String metricName() {
        return "token".equals(source) || "certificate".equals(source) ? name : source;
    }
}
