package dev.vouch.validation;

import java.util.Collection;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

/**
 * The bounded value set of the {@code instance_name} tag. Instance names are chosen by clients, and
 * each distinct tag value is a series kept in the registry for good and scraped every time: left
 * unbounded, 486 requests with distinct 1 MB names filled the heap. Configured names (and the
 * empty, default name) always keep their value, so an operator's dashboards do not depend on what
 * arrived first; after them the first {@code maxSeen} short names seen keep theirs, so a small
 * deployment sees its instance names without configuring them; everything else is {@link #OTHER}.
 * At most {@code configured + maxSeen + 1} values ever exist.
 */
public final class InstanceNameTag {
    public static final String OTHER = "other";
    /** Longer names are never admitted as first seen: each admitted value is kept for the life of the process. */
    public static final int MAX_SEEN_LENGTH = 128;
    // anything a Java regex treats specially; a route pattern without any matches exactly itself
    private static final Pattern REGEX_SYNTAX = Pattern.compile("[\\\\^$.|?*+()\\[\\]{}]");

    private final Set<String> configured;
    private final int maxSeen;
    private final Set<String> seen = ConcurrentHashMap.newKeySet();

    public InstanceNameTag(Collection<String> configured, int maxSeen) {
        Set<String> names = new HashSet<>(configured);
        names.add("");
        this.configured = Set.copyOf(names);
        this.maxSeen = maxSeen;
    }

    /** Only the empty instance name keeps its value: for tests and code that has no configuration. */
    public static InstanceNameTag defaultOnly() {
        return new InstanceNameTag(Set.of(), 0);
    }

    /**
     * Whether a {@code vouch.routes[j].instance-pattern} names one instance name literally (then it
     * is that name), e.g. {@code ci-linux} but not {@code ci/.*}.
     */
    public static boolean isLiteral(String instancePattern) {
        return instancePattern != null && !REGEX_SYNTAX.matcher(instancePattern).find();
    }

    /** The tag value for {@code instanceName}: itself, or {@link #OTHER}. */
    public String of(String instanceName) {
        String name = instanceName == null ? "" : instanceName;
        if (configured.contains(name) || seen.contains(name)) {
            return name;
        }
        if (name.length() > MAX_SEEN_LENGTH || seen.size() >= maxSeen) {
            return OTHER;
        }
        // admission is rare (at most maxSeen times), so a lock here costs nothing on the hot path
        synchronized (seen) {
            if (seen.size() < maxSeen) {
                seen.add(name);
                return name;
            }
        }
        return seen.contains(name) ? name : OTHER;
    }
}
