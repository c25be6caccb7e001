package dev.vouch.front;

import dev.vouch.backend.BackendRouter;
import dev.vouch.backend.CacheBackend;
import dev.vouch.backend.Scope;
import dev.vouch.config.VouchProperties.FrontCheck;
import dev.vouch.digest.Digest;
import dev.vouch.digest.VerifiedStream;
import dev.vouch.logging.LogSafe;
import dev.vouch.validation.ActionVerdict;
import dev.vouch.validation.BlobKind;
import dev.vouch.validation.BlobProblem;
import dev.vouch.validation.CacheValidator;
import dev.vouch.validation.Mode;
import dev.vouch.validation.Source;
import dev.vouch.validation.ValidationMetrics;
import dev.vouch.validation.ValidationRequest;
import dev.vouch.validation.Verdict;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Flux;
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

    // blobs copied at once from the repair backend for one lookup
    static final int REPAIR_CONCURRENCY = 4;

    private final BackendRouter router;
    private final CacheValidator validator;
    private final FrontCheck check;
    // vouch.front.repair-from, or null
    private final CacheBackend repairFrom;
    private final ValidationMetrics metrics;

    public ActionCacheLookup(BackendRouter router, CacheValidator validator, FrontCheck check) {
        this(router, validator, check, null, null);
    }

    /**
     * @param repairFrom the second tier ({@code vouch.front.repair-from}) missing blobs are copied from; null for none
     * @param metrics where repaired blobs are counted; needed with {@code repairFrom}
     */
    public ActionCacheLookup(BackendRouter router, CacheValidator validator, FrontCheck check, CacheBackend repairFrom,
            ValidationMetrics metrics) {
        this.router = router;
        this.validator = validator;
        this.check = check;
        this.repairFrom = repairFrom;
        this.metrics = metrics;
    }

    /** What to answer for {@code action}; never fails (a failure is {@link Lookup.Unavailable}). */
    public Mono<Lookup> lookUp(Scope scope, Digest action) {
        if (check == FrontCheck.NONE) {
            return unchecked(scope, action);
        }
        Mode mode = check == FrontCheck.FETCH ? Mode.FETCH : Mode.EXISTENCE;
        return validator.validate(new ValidationRequest(scope, mode, List.of(action), true, Source.FRONT, true))
                .next()
                .flatMap(verdict -> verdict.verdict() == Verdict.PARTIAL && repairable(scope, verdict)
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

    /**
     * Whether a PARTIAL can be mended from the second tier: one is configured and is not the served
     * backend, nothing is corrupt (a corrupt blob is present under its digest: copying cannot replace
     * it), and the entry came with the verdict, so it can be served once mended.
     */
    private boolean repairable(Scope scope, ActionVerdict verdict) {
        return repairFrom != null && !repairFrom.name().equals(verdict.backend()) && verdict.corrupt().isEmpty()
                && verdict.actionResult() != null && !verdict.missing().isEmpty();
    }

    /**
     * Copies the missing blobs the repair backend has into the served backend, streamed and
     * hash-verified ({@link VerifiedStream}: a wrong blob is never stored), then serves the entry if
     * every one was copied. A missing Tree or Directory hid what lies under it from the check, so such
     * an entry is not served this time, though what could be copied was: the next lookup sees the rest.
     */
    private Mono<Lookup> repair(Scope scope, ActionVerdict verdict) {
        logPartial(scope, verdict);
        CacheBackend served = router.route(scope.instanceName());
        return Flux.fromIterable(verdict.missing())
                .flatMap(problem -> copy(scope, problem.digest(), served)
                        .thenReturn(problem)
                        .onErrorResume(e -> {
                            log.info("front: blob {} of action {} not repaired from backend {}: {}", problem.digest(),
                                    verdict.action(), repairFrom.name(), LogSafe.escape(String.valueOf(e.getMessage())));
                            return Mono.empty();
                        }), REPAIR_CONCURRENCY)
                .collectList()
                .map(repaired -> {
                    if (!repaired.isEmpty()) {
                        metrics.blobsRepaired(served.name(), repaired.size());
                    }
                    boolean hidden = verdict.missing().stream().anyMatch(p -> p.kind() == BlobKind.OUTPUT_DIRECTORY_TREE
                            || p.kind() == BlobKind.DIRECTORY);
                    log.info("front: repaired {} of {} missing blobs of action {} from backend {} into backend {}",
                            repaired.size(), verdict.missing().size(), verdict.action(), repairFrom.name(), served.name());
                    if (repaired.size() == verdict.missing().size() && !hidden) {
                        return (Lookup) new Lookup.Served(verdict.actionResult());
                    }
                    return new Lookup.NotFound("the Action Cache entry for " + verdict.action() + " in backend "
                            + verdict.backend() + " is incomplete: " + verdict.missing().size() + " blobs missing, "
                            + repaired.size() + " repaired from backend " + repairFrom.name()
                            + (hidden ? " (a missing tree hid what lies under it)" : ""));
                });
    }

    private Mono<Void> copy(Scope scope, Digest digest, CacheBackend into) {
        return into.writeBlob(scope, digest, VerifiedStream.of(digest, scope.digestFunction(), repairFrom.readBlob(scope, digest)));
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
