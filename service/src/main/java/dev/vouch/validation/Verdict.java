package dev.vouch.validation;

/** The answer for one action (SPEC "Verdicts"). */
public enum Verdict {
    HIT, MISS, PARTIAL, UNKNOWN
}
