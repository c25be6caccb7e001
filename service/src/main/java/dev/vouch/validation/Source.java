package dev.vouch.validation;

import java.util.Locale;

/** Who asked for a verdict: the {@code source} tag of {@code vouch_verdicts_total} (SPEC "Metrics"). */
public enum Source {
    /** The validation APIs, REST and gRPC. */
    API,
    /** Action Cache reads at the cache front. */
    FRONT;

    /** The tag value: {@code api} or {@code front}. */
    public String tag() {
        return name().toLowerCase(Locale.ROOT);
    }
}
