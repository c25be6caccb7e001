package dev.vouch.front;

import build.bazel.remote.execution.v2.ActionResult;

/** The cache front's answer to an Action Cache read: the entry, none, or no answer at all. */
public sealed interface Lookup {

    /** The entry, complete by {@code vouch.front.check} (or unchecked, with {@code NONE}). */
    record Served(ActionResult result) implements Lookup {
    }

    /** No entry worth serving: none in the backend (MISS), or one whose closure is incomplete (PARTIAL). */
    record NotFound(String why) implements Lookup {
    }

    /** Undecidable (UNKNOWN: the backend failing, a limit, a deadline): the client must not get the entry. */
    record Unavailable(String why) implements Lookup {
    }
}
