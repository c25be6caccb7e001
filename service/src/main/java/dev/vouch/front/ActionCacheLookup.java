package dev.vouch.front;

import dev.vouch.backend.BackendRouter;
import dev.vouch.backend.CacheBackend;
import dev.vouch.backend.Scope;
import dev.vouch.config.VouchProperties.FrontCheck;
import dev.vouch.digest.Digest;
import dev.vouch.logging.LogSafe;
import dev.vouch.validation.ActionVerdict;
import dev.vouch.validation.BlobProblem;
import dev.vouch.validation.CacheValidator;
import dev.vouch.validation.Mode;
import dev.vouch.validation.Repairer;
import dev.vouch.validation.Source;
import dev.vouch.validation.ValidationRequest;
import dev.vouch.validation.Verdict;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;

/**
 * An Action Cache read at the cache front (SPEC "The cache front"): the entry is answered only when
 * the engine's verdict for that one action, in mode {@code vouch.front.check}, is HIT; MISS and
 * PARTIAL are {@link Lookup.NotFound}, UNKNOWN is {@link Lookup.Unavailable}, so no error path
 * serves a stale entry. The engine reads the entry with {@code includeActionResult}, so the entry
 * served is the one it checked, and counts the verdict with {@code source="front"}. Blobs it saw
 * present a moment ago are trusted (the engine's {@code PresenceWindow}). With {@code NONE} the
 * backend's entry is served as it is, and no verdict is counted: none was decided.
 *
 * <p>A PARTIAL is logged once, at WARN, with the action and the paths of its missing (and corrupt)
 * blobs, so an operator can see which outputs the cache lost.
 */
public final class ActionCacheLookup {
    private static final Logger log = LoggerFactory.getLogger(ActionCacheLookup.class);
    // blobs named in the WARN line of one PARTIAL; the rest are counted
    static final int BLOBS_LOGGED = 10;

    private final BackendRouter router;
    private final CacheValidator validator;
    private final FrontCheck check;
    // vouch.front.repair-from, or null
    private final Repairer repairer;

    public ActionCacheLookup(BackendRouter router, CacheValidator validator, FrontCheck check) {
        this(router, validator, check, null);
    }

    /** @param repairer the second tier ({@code vouch.front.repair-from}) PARTIAL entries are mended from; null for none */
    public ActionCacheLookup(BackendRouter router, CacheValidator validator, FrontCheck check, Repairer repairer) {
        this.router = router;
        this.validator = validator;
        this.check = check;
        this.repairer = repairer;
    }

    /** What to answer for {@code action}; never fails (a failure is {@link Lookup.Unavailable}). */
    public Mono<Lookup> lookUp(Scope scope, Digest action) {
        if (check == FrontCheck.NONE) {
            return unchecked(scope, action);
        }
        Mode mode = check == FrontCheck.FETCH ? Mode.FETCH : Mode.EXISTENCE;
        return validator.validate(new ValidationRequest(scope, mode, List.of(action), true, Source.FRONT, true))
                .next()
                .flatMap(verdict -> verdict.verdict() == Verdict.PARTIAL && repairer != null && verdict.actionResult() != null
                        ? repair(scope, verdict)
                        : Mono.just(answer(scope, verdict)))
                .switchIfEmpty(Mono.fromSupplier(() -> new Lookup.Unavailable("no verdict for action " + action)))
                .onErrorResume(e -> Mono.just(new Lookup.Unavailable("checking action " + action + " failed: " + e)));
    }

    private Mono<Lookup> unchecked(Scope scope, Digest action) {
        return Mono.defer(() -> {
                    CacheBackend backend = router.route(scope.instanceName());
                    return backend.getActionResult(scope, action)
                            .<Lookup>map(Lookup.Served::new)
                            .defaultIfEmpty(new Lookup.NotFound("no Action Cache entry for " + action + " in backend "
                                    + backend.name()));
                })
                .onErrorResume(e -> Mono.just(new Lookup.Unavailable("Action Cache lookup of " + action + " failed: "
                        + (e.getMessage() != null ? e.getMessage() : e.toString()))));
    }

    private Lookup answer(Scope scope, ActionVerdict verdict) {
        return switch (verdict.verdict()) {
            case HIT -> verdict.actionResult() != null
                    ? new Lookup.Served(verdict.actionResult())
                    // cannot happen with includeActionResult; if it did, there is nothing checked to serve
                    : new Lookup.Unavailable("verdict HIT for " + verdict.action() + " came without its entry");
            case MISS -> new Lookup.NotFound("no Action Cache entry for " + verdict.action() + " in backend "
                    + verdict.backend());
            case PARTIAL -> {
                logPartial(scope, verdict);
                yield new Lookup.NotFound("the Action Cache entry for " + verdict.action() + " in backend "
                        + verdict.backend() + " is incomplete: " + verdict.missing().size() + " blobs missing, "
                        + verdict.corrupt().size() + " corrupt (vouch.front.check " + check + ")");
            }
            case UNKNOWN -> new Lookup.Unavailable("cannot tell whether the Action Cache entry for " + verdict.action()
                    + " is complete: " + verdict.reason());
        };
    }

    /** The PARTIAL logged, then mended from the second tier ({@link Repairer}): served if it is now complete. */
    private Mono<Lookup> repair(Scope scope, ActionVerdict verdict) {
        logPartial(scope, verdict);
        return repairer.repair(scope, verdict, router.route(scope.instanceName()))
                .map(mended -> mended.verdict() == Verdict.HIT
                        ? new Lookup.Served(verdict.actionResult())
                        : new Lookup.NotFound("the Action Cache entry for " + verdict.action() + " in backend "
                                + verdict.backend() + " is incomplete: " + verdict.missing().size() + " blobs missing, "
                                + mended.repaired().size() + " repaired from backend " + repairer.from()));
    }

    private void logPartial(Scope scope, ActionVerdict verdict) {
        List<String> lost = new ArrayList<>();
        describe(verdict.missing(), "missing", lost);
        describe(verdict.corrupt(), "corrupt", lost);
        int total = verdict.missing().size() + verdict.corrupt().size();
        String shown = String.join("; ", lost.subList(0, Math.min(BLOBS_LOGGED, lost.size())))
                + (total > BLOBS_LOGGED ? "; and " + (total - BLOBS_LOGGED) + " more" : "");
        // the paths come from the backend's entry and the instance name from the client: both escaped
        log.warn("front: action {} (instance {}) on backend {} is PARTIAL, answered as a miss; {} of {} blobs lost: {}",
                verdict.action(), LogSafe.quote(scope.instanceName()), verdict.backend(), total, verdict.blobsReferenced(),
                LogSafe.escape(shown));
    }

    private static void describe(List<BlobProblem> problems, String state, List<String> into) {
        for (BlobProblem problem : problems) {
            into.add(state + " " + problem.kind() + " " + problem.digest() + " " + problem.paths());
        }
    }
}
