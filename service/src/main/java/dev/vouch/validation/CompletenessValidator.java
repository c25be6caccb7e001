package dev.vouch.validation;

import build.bazel.remote.execution.v2.ActionResult;
import dev.vouch.backend.BackendRouter;
import dev.vouch.backend.CacheBackend;
import dev.vouch.backend.CallMetadata;
import dev.vouch.backend.CallerCredentials;
import dev.vouch.backend.Deadline;
import dev.vouch.backend.MalformedBlobException;
import dev.vouch.backend.Scope;
import dev.vouch.config.Durations;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestSet;
import dev.vouch.logging.LogSafe;
import java.time.Duration;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;

/**
 * A completeness checker (bb-storage's completeness checking, but keeping every missing digest):
 * look each distinct action up in the AC, walk the closures of the results found, then confirm
 * the union of all closures, so a digest shared by many actions is confirmed once. Mode EXISTENCE
 * confirms by existence checks in batches; mode FETCH reads every blob back, hashing it as it
 * streams, a bounded number at a time. MISS and UNKNOWN from the lookup phase are emitted as soon
 * as they are known. Fails closed: every error path ends in UNKNOWN, never in HIT.
 */
public class CompletenessValidator implements CacheValidator {
    private static final Logger log = LoggerFactory.getLogger(CompletenessValidator.class);
    // existence queries of one request in flight at once; each carries up to findMissingBatchSize digests
    private static final int FIND_MISSING_CONCURRENCY = 4;
    static final String DEADLINE_EXCEEDED = "deadline exceeded";
    // distinct UNKNOWN reasons named in a request's one WARN line
    private static final int REASONS_LOGGED = 3;
    // share of the time left that the lookup phase may use; the rest is for checking the closures
    private static final int LOOKUP_SHARE_PERCENT = 75;

    private final BackendRouter router;
    private final VouchProperties.Limits limits;
    private final ValidationMetrics metrics;
    private final LongSupplier nanoClock;
    private final Scheduler hashing;
    // one for the process: every request's closures, Trees and results are charged to it while held
    private final MemoryBudget memory;
    // blobs confirmed present a moment ago, for the requests that trust them (the cache front's)
    private final PresenceWindow presence;

    public CompletenessValidator(BackendRouter router, VouchProperties.Limits limits, ValidationMetrics metrics) {
        this(router, limits, metrics, PresenceWindow.NONE);
    }

    /** @param presence what requests with {@link ValidationRequest#trustRecentPresence()} consult and fill */
    public CompletenessValidator(BackendRouter router, VouchProperties.Limits limits, ValidationMetrics metrics,
            PresenceWindow presence) {
        this(router, limits, metrics, System::nanoTime, BlobFetcher.defaultHashing(), presence);
    }

    /** @param nanoClock a monotonic nanosecond clock, for elapsedMillis */
    public CompletenessValidator(BackendRouter router, VouchProperties.Limits limits, ValidationMetrics metrics,
            LongSupplier nanoClock) {
        this(router, limits, metrics, nanoClock, BlobFetcher.defaultHashing());
    }

    /** @param hashing where FETCH hashes what it reads (tests that run in virtual time hash in place) */
    CompletenessValidator(BackendRouter router, VouchProperties.Limits limits, ValidationMetrics metrics,
            LongSupplier nanoClock, Scheduler hashing) {
        this(router, limits, metrics, nanoClock, hashing, PresenceWindow.NONE);
    }

    CompletenessValidator(BackendRouter router, VouchProperties.Limits limits, ValidationMetrics metrics,
            LongSupplier nanoClock, Scheduler hashing, PresenceWindow presence) {
        this.router = router;
        this.limits = limits;
        this.metrics = metrics;
        this.nanoClock = nanoClock;
        this.hashing = hashing;
        this.presence = presence;
        this.memory = new MemoryBudget(limits.validationHeapBytes());
    }

    @Override
    public Flux<ActionVerdict> validate(ValidationRequest request) {
        // one tool_invocation_id for every backend call of this request (a client's forwarded metadata stays)
        return Flux.defer(() -> new Run(request).verdicts()).contextWrite(CallMetadata::newInvocation);
    }

    /** The state of one request. */
    private final class Run {
        private final ValidationRequest request;
        private final Scope scope;
        private final long start = nanoClock.getAsLong();
        // each distinct action with every position it was requested at
        private final Map<Digest, List<Integer>> positions = new LinkedHashMap<>();
        private final BitSet emitted = new BitSet();
        private final RequestBudget budget = new RequestBudget(limits, memory);
        private Optional<Deadline> deadline = Optional.empty();
        // whose credentials the backend calls carry: the presence window is kept per caller
        private String caller = "";
        private volatile boolean expired;
        private volatile boolean lookupsCut;
        private final Map<Verdict, Integer> tally = new EnumMap<>(Verdict.class);
        // UNKNOWN verdicts by reason: one WARN line per request, not one per action
        private final Map<String, Integer> unknownReasons = new LinkedHashMap<>();
        private String backendName = "none";
        /** Whether this request uses the presence window: it trusts it, and its source has one (off by default for the APIs). */
        private final boolean windowed;

        Run(ValidationRequest request) {
            this.request = request;
            this.scope = request.scope();
            this.windowed = request.trustRecentPresence() && presence.keeps(request.source());
            List<Digest> actions = request.actions();
            for (int i = 0; i < actions.size(); i++) {
                positions.computeIfAbsent(actions.get(i), a -> new ArrayList<>(1)).add(i);
            }
        }

        Flux<ActionVerdict> verdicts() {
            return Flux.deferContextual(context -> {
                        deadline = Deadline.from(context);
                        caller = CallerCredentials.from(context).fingerprint();
                        return withinDeadline(decide().concatMapIterable(this::atEveryPosition));
                    })
                    .doOnNext(v -> emitted.set(v.index()))
                    // whatever escaped the per-action handling: the positions not yet answered are UNKNOWN
                    .onErrorResume(e -> {
                        log.error("validation of {} actions on backend {} failed unexpectedly", request.actions().size(),
                                backendName, e);
                        return Flux.fromIterable(unanswered("internal error: " + ClosureWalker.describe(e)));
                    })
                    .concatWith(Flux.defer(this::afterDeadline))
                    .doOnNext(v -> {
                        metrics.verdict(v, request.mode(), scope.instanceName(), request.source());
                        tally.merge(v.verdict(), 1, Integer::sum);
                        if (v.verdict() == Verdict.UNKNOWN) {
                            unknownReasons.merge(v.reason(), 1, Integer::sum);
                        }
                    })
                    // whatever way the request ends, what it held is given back to the process's budget
                    .doFinally(signal -> {
                        budget.close();
                        logUnknowns();
                    })
                    .doOnComplete(() -> log.debug("validated {} actions ({} distinct) on backend {}, mode {}: {}",
                            request.actions().size(), positions.size(), backendName, request.mode(), tally));
        }

        /**
         * One line for the request's UNKNOWN verdicts, grouped by reason, most frequent first: a
         * circuit open for a 1,000-action request is one WARN, not 1,000 (each is at DEBUG).
         */
        private void logUnknowns() {
            int unknown = unknownReasons.values().stream().mapToInt(Integer::intValue).sum();
            if (unknown == 0) {
                return;
            }
            List<Map.Entry<String, Integer>> byCount = new ArrayList<>(unknownReasons.entrySet());
            byCount.sort(Map.Entry.<String, Integer>comparingByValue().reversed());
            StringBuilder reasons = new StringBuilder();
            for (int i = 0; i < Math.min(REASONS_LOGGED, byCount.size()); i++) {
                reasons.append(i == 0 ? "" : "; ").append(byCount.get(i).getValue()).append(' ').append(byCount.get(i).getKey());
            }
            if (byCount.size() > REASONS_LOGGED) {
                reasons.append("; and ").append(byCount.size() - REASONS_LOGGED).append(" other reasons");
            }
            log.warn("{} of {} actions UNKNOWN on backend {}: {}", unknown, request.actions().size(), backendName,
                    LogSafe.escape(reasons.toString()));
        }

        /**
         * Cuts the verdicts off when the request's deadline passes, cancelling the backend work
         * still in flight; {@link #verdicts} then answers every position not yet emitted. The
         * timer runs on Reactor's parallel clock, the one {@link Deadline} reads.
         */
        private Flux<ActionVerdict> withinDeadline(Flux<ActionVerdict> decided) {
            if (deadline.isEmpty()) {
                return decided;
            }
            Mono<Long> expiry = Mono.delay(deadline.get().remaining()).doOnNext(tick -> expired = true);
            // takeUntilOther serializes its signals, so no verdict slips through after the cut
            return decided.takeUntilOther(expiry);
        }

        private Flux<ActionVerdict> afterDeadline() {
            List<ActionVerdict> late = expired || lookupsCut ? unanswered(DEADLINE_EXCEEDED) : List.of();
            if (late.isEmpty()) {
                return Flux.empty();
            }
            log.debug("deadline exceeded on backend {}: {} of {} requested actions undecided", backendName, late.size(),
                    request.actions().size());
            return Flux.fromIterable(late);
        }

        private Flux<ActionVerdict> decide() {
            if (positions.isEmpty()) {
                return Flux.empty();
            }
            CacheBackend backend;
            try {
                backend = router.route(scope.instanceName());
                backendName = backend.name();
            } catch (RuntimeException e) {
                log.warn("no backend for instance name {}: {}", LogSafe.quote(scope.instanceName()),
                        LogSafe.escape(e.toString()));
                return allUnknown("no backend for instance name '" + scope.instanceName() + "': "
                        + ClosureWalker.describe(e));
            }
            return unsupportedDigestFunction(backend).flatMapMany(problem -> problem.isPresent()
                    ? allUnknown(problem.get())
                    : request.mode() == Mode.FETCH ? fetch(backend) : existence(backend));
        }

        private Mono<Optional<String>> unsupportedDigestFunction(CacheBackend backend) {
            return Mono.defer(() -> backend.capabilities(scope))
                    .map(caps -> caps.supports(scope.digestFunction())
                            ? Optional.<String>empty()
                            : Optional.of("backend " + backendName + " does not support digest function "
                                    + scope.digestFunction()
                                    + (caps.digestFunctionsNote() == null ? "" : ": " + caps.digestFunctionsNote())))
                    .switchIfEmpty(Mono.fromSupplier(
                            () -> Optional.of("backend " + backendName + " returned no capabilities")))
                    .onErrorResume(e -> {
                        log.warn("capabilities of backend {} unavailable: {}", backendName, LogSafe.escape(e.toString()));
                        return Mono.just(Optional.of("capabilities of backend " + backendName + " unavailable: "
                                + ClosureWalker.describe(e)));
                    });
        }

        private Flux<ActionVerdict> existence(CacheBackend backend) {
            ClosureWalker walker = new ClosureWalker(backend, scope, limits, budget);
            return lookUpAll(backend, walker, walked -> checkClosures(backend, walker, walked));
        }

        private Flux<ActionVerdict> fetch(CacheBackend backend) {
            BlobFetcher fetcher = new BlobFetcher(backend, scope, hashing);
            ClosureWalker walker = new ClosureWalker(backend, scope, limits, budget, fetcher);
            return lookUpAll(backend, walker, walked -> fetchClosures(fetcher, walker, walked));
        }

        /** Looks every action up, emitting decided verdicts at once and handing the walked ones to {@code confirm}. */
        private Flux<ActionVerdict> lookUpAll(CacheBackend backend, ClosureWalker walker,
                Function<List<Outcome>, Flux<ActionVerdict>> confirm) {
            return Flux.fromIterable(positions.keySet())
                    .flatMap(action -> lookUp(backend, walker, action), limits.actionConcurrency())
                    .transform(this::lookupsWithinDeadline)
                    .publish(outcomes -> Flux.merge(
                            outcomes.filter(o -> o.verdict() != null).map(Outcome::verdict),
                            outcomes.filter(o -> o.closure() != null)
                                    .collectList()
                                    .flatMapMany(confirm)));
        }

        /**
         * Ends the lookup phase early enough to confirm what was walked: the closures of the
         * actions looked up in time are checked together once every lookup is done, so one
         * hanging lookup would otherwise hold every other action's verdict until the deadline.
         * Lookups still running at the cut are cancelled and answered "deadline exceeded".
         */
        private Flux<Outcome> lookupsWithinDeadline(Flux<Outcome> outcomes) {
            if (deadline.isEmpty()) {
                return outcomes;
            }
            Duration cut = deadline.get().remaining().multipliedBy(LOOKUP_SHARE_PERCENT).dividedBy(100);
            return outcomes.takeUntilOther(Mono.delay(cut).doOnNext(tick -> {
                lookupsCut = true;
                log.warn("action cache lookups on backend {} not finished within {} of the deadline, checking the "
                        + "actions looked up so far", backendName, Durations.format(cut));
            }));
        }

        /** The AC lookup and closure walk of one action: a verdict, or a closure still to be checked. */
        private Mono<Outcome> lookUp(CacheBackend backend, ClosureWalker walker, Digest action) {
            return Mono.defer(() -> backend.getActionResult(scope, action))
                    .flatMap(result -> Mono.defer(() -> {
                                long held = budget.chargeResult(result.getSerializedSize());
                                // the closure keeps what it needs of the result; the rest is garbage unless asked for
                                return walker.walk(result)
                                        .doFinally(signal -> {
                                            if (!request.includeActionResult()) {
                                                budget.releaseHeap(held);
                                            }
                                        });
                            })
                            .map(closure -> new Outcome(action, request.includeActionResult() ? result : null, closure,
                                    null))
                            .onErrorResume(e -> {
                                String reason = e instanceof Undecidable
                                        ? e.getMessage()
                                        : "internal error: " + ClosureWalker.describe(e);
                                log.debug("action {}: {}", action, LogSafe.escape(reason));
                                return Mono.just(decided(unknown(action, result, reason)));
                            }))
                    .switchIfEmpty(Mono.fromSupplier(() -> decided(
                            verdict(action, Verdict.MISS, 0, 0, List.of(), List.of(), null, null))))
                    .onErrorResume(e -> {
                        log.debug("action {}: action cache lookup on backend {} failed: {}", action, backendName,
                                LogSafe.escape(e.toString()));
                        // the backend answered, with an entry that is not an ActionResult
                        String reason = e instanceof MalformedBlobException
                                ? "malformed ActionResult: " + e.getMessage()
                                : "action cache lookup failed: " + ClosureWalker.describe(e);
                        return Mono.just(decided(unknown(action, null, reason)));
                    });
        }

        private Flux<ActionVerdict> checkClosures(CacheBackend backend, ClosureWalker walker, List<Outcome> walked) {
            if (walked.isEmpty()) {
                return Flux.empty();
            }
            Set<Digest> known = new LinkedHashSet<>();
            for (Outcome outcome : walked) {
                known.addAll(outcome.closure().digests());
            }
            Set<Digest> present = walker.confirmedPresent();
            Set<Digest> absent = walker.confirmedAbsent();
            Set<Digest> corruptTrees = walker.confirmedCorrupt();
            // not asked: the empty blob, what the walk already decided, and what the presence window saw present a moment ago
            known.removeIf(d -> d.isEmptyBlob(scope.digestFunction()) || present.contains(d) || absent.contains(d)
                    || corruptTrees.contains(d) || recentlyPresent(d, Mode.EXISTENCE));
            remember(present, Mode.EXISTENCE);
            List<DigestSet> parts = known.isEmpty()
                    ? List.of()
                    : DigestSet.of(known).partition(limits.findMissingBatchSize());
            return Flux.fromIterable(parts)
                    .flatMap(part -> findMissing(backend, part), FIND_MISSING_CONCURRENCY)
                    .collectList()
                    .flatMapMany(answers -> {
                        Set<Digest> missing = new LinkedHashSet<>(absent);
                        Map<Digest, String> undecided = new HashMap<>();
                        for (PartAnswer answer : answers) {
                            if (answer.failure() == null) {
                                answer.missing().forEach(missing::add);
                                if (windowed) {
                                    remember(answer.part().minus(answer.missing()), Mode.EXISTENCE);
                                }
                            } else {
                                String reason = "existence check failed: " + answer.failure();
                                answer.part().forEach(d -> undecided.put(d, reason));
                            }
                        }
                        metrics.blobsMissing(backendName, byKind(walked, missing));
                        // Tree blobs are hash-checked when read, in EXISTENCE too
                        metrics.blobsCorrupt(backendName, byKind(walked, corruptTrees));
                        return Flux.fromIterable(walked).map(outcome -> judge(outcome, missing, corruptTrees, undecided));
                    });
        }

        private Mono<PartAnswer> findMissing(CacheBackend backend, DigestSet part) {
            metrics.blobsChecked(backendName, part.size());
            return Mono.defer(() -> backend.findMissing(scope, part))
                    // a digest the backend names without being asked about is no answer about our closure
                    .map(missing -> new PartAnswer(part, missing.filter(part::contains), null))
                    .switchIfEmpty(Mono.fromSupplier(() -> new PartAnswer(part, null,
                            "backend " + backendName + " returned no answer")))
                    .onErrorResume(e -> {
                        log.warn("existence check of {} digests on backend {} failed: {}", part.size(), backendName,
                                LogSafe.escape(e.toString()));
                        return Mono.just(new PartAnswer(part, null, ClosureWalker.describe(e)));
                    });
        }

        /**
         * Reads every blob of the walked closures that the walk has not already verified, each
         * distinct blob once, at most {@code fetchConcurrency} at a time.
         */
        private Flux<ActionVerdict> fetchClosures(BlobFetcher fetcher, ClosureWalker walker, List<Outcome> walked) {
            Set<Digest> toRead = new LinkedHashSet<>();
            for (Outcome outcome : walked) {
                toRead.addAll(outcome.closure().digests());
            }
            Set<Digest> verified = walker.confirmedPresent();
            Set<Digest> absent = walker.confirmedAbsent();
            Set<Digest> corruptTrees = walker.confirmedCorrupt();
            // not read: the empty blob, what the walk already decided, and what the presence window saw verified a moment ago
            toRead.removeIf(d -> d.isEmptyBlob(scope.digestFunction()) || verified.contains(d) || absent.contains(d)
                    || corruptTrees.contains(d) || recentlyPresent(d, Mode.FETCH));
            remember(verified, Mode.FETCH);
            return Flux.fromIterable(toRead)
                    .flatMap(digest -> fetcher.verify(digest).map(fetched -> Map.entry(digest, fetched)),
                            limits.fetchConcurrency())
                    .collectList()
                    .flatMapMany(reads -> {
                        Set<Digest> missing = new LinkedHashSet<>(absent);
                        Set<Digest> corrupt = new LinkedHashSet<>(corruptTrees);
                        Map<Digest, String> undecided = new HashMap<>();
                        for (Map.Entry<Digest, BlobFetcher.Fetched> read : reads) {
                            Digest digest = read.getKey();
                            if (read.getValue() instanceof BlobFetcher.Fetched.Verified) {
                                remember(List.of(digest), Mode.FETCH);
                            } else if (read.getValue() instanceof BlobFetcher.Fetched.Absent) {
                                missing.add(digest);
                            } else if (read.getValue() instanceof BlobFetcher.Fetched.Corrupt bad) {
                                log.warn("blob {} on backend {} is corrupt: {}", digest, backendName, bad.detail());
                                corrupt.add(digest);
                            } else if (read.getValue() instanceof BlobFetcher.Fetched.Failed failed) {
                                log.debug("reading blob {} from backend {} failed: {}", digest, backendName,
                                        LogSafe.escape(failed.failure().toString()));
                                undecided.put(digest, "reading blob " + digest + " failed: "
                                        + ClosureWalker.describe(failed.failure()));
                            }
                        }
                        metrics.blobsChecked(backendName, fetcher.reads());
                        metrics.blobsMissing(backendName, byKind(walked, missing));
                        metrics.blobsCorrupt(backendName, byKind(walked, corrupt));
                        return Flux.fromIterable(walked).map(outcome -> judge(outcome, missing, corrupt, undecided));
                    });
        }

        /** Whether this request uses the presence window, and it saw {@code digest} present as {@code mode} asks. */
        private boolean recentlyPresent(Digest digest, Mode mode) {
            return windowed && presence.isPresent(request.source(), backendName, scope, caller, digest, mode);
        }

        /**
         * Confirmed present just now: remembered for later requests of a source with a window (only theirs
         * fill it). Callers whose argument costs a set's copy check {@link #windowed} first.
         */
        private void remember(Iterable<Digest> digests, Mode mode) {
            if (windowed) {
                presence.confirmed(request.source(), backendName, scope, caller, digests, mode);
            }
        }

        /**
         * How many of {@code blobs} there are of each kind, each blob counted once under the kind
         * the first walked closure holding it met it as (as its result lists it).
         */
        private static Map<BlobKind, Long> byKind(List<Outcome> walked, Set<Digest> blobs) {
            Map<BlobKind, Long> counts = new EnumMap<>(BlobKind.class);
            for (Digest digest : blobs) {
                for (Outcome outcome : walked) {
                    BlobKind kind = outcome.closure().kindOf(digest);
                    if (kind != null) {
                        counts.merge(kind, 1L, Long::sum);
                        break;
                    }
                }
            }
            return counts;
        }

        /** @param undecided blobs whose state is unknown, each with the reason */
        private ActionVerdict judge(Outcome outcome, Set<Digest> missing, Set<Digest> corrupt,
                Map<Digest, String> undecided) {
            Closure closure = outcome.closure();
            for (Digest digest : closure.digests()) {
                String reason = undecided.get(digest);
                if (reason != null) {
                    // some blobs are undecided, so even a PARTIAL could not name every missing one
                    log.debug("action {}: {}", outcome.action(), LogSafe.escape(reason));
                    return verdict(outcome.action(), Verdict.UNKNOWN, closure.blobCount(), closure.byteCount(),
                            List.of(), List.of(), reason, outcome.result());
                }
            }
            List<BlobProblem> missingBlobs = closure.problems(missing::contains);
            List<BlobProblem> corruptBlobs = closure.problems(corrupt::contains);
            Verdict verdict = missingBlobs.isEmpty() && corruptBlobs.isEmpty() ? Verdict.HIT : Verdict.PARTIAL;
            return verdict(outcome.action(), verdict, closure.blobCount(), closure.byteCount(), missingBlobs,
                    corruptBlobs, null, outcome.result());
        }

        private Flux<ActionVerdict> allUnknown(String reason) {
            return Flux.fromIterable(positions.keySet()).map(action -> unknown(action, null, reason));
        }

        private List<ActionVerdict> unanswered(String reason) {
            List<ActionVerdict> verdicts = new ArrayList<>();
            positions.forEach((action, at) -> {
                ActionVerdict verdict = unknown(action, null, reason);
                for (int index : at) {
                    if (!emitted.get(index)) {
                        verdicts.add(verdict.atIndex(index));
                    }
                }
            });
            return verdicts;
        }

        private List<ActionVerdict> atEveryPosition(ActionVerdict verdict) {
            List<Integer> at = positions.get(verdict.action());
            List<ActionVerdict> all = new ArrayList<>(at.size());
            for (int index : at) {
                all.add(verdict.atIndex(index));
            }
            return all;
        }

        private ActionVerdict unknown(Digest action, ActionResult result, String reason) {
            return verdict(action, Verdict.UNKNOWN, 0, 0, List.of(), List.of(), reason, result);
        }

        private ActionVerdict verdict(Digest action, Verdict verdict, long blobs, long bytes, List<BlobProblem> missing,
                List<BlobProblem> corrupt, String reason, ActionResult result) {
            double elapsedMillis = (nanoClock.getAsLong() - start) / 1_000_000d;
            return new ActionVerdict(-1, action, verdict, backendName, blobs, bytes, missing, corrupt, reason,
                    elapsedMillis, request.includeActionResult() ? result : null);
        }

        private Outcome decided(ActionVerdict verdict) {
            return new Outcome(verdict.action(), null, null, verdict);
        }
    }

    /** After the lookup phase: either a {@code verdict}, or a {@code closure} to check for existence. */
    private record Outcome(Digest action, ActionResult result, Closure closure, ActionVerdict verdict) {
    }

    /** One existence query: the missing subset of {@code part}, or why there is none. */
    private record PartAnswer(DigestSet part, DigestSet missing, String failure) {
    }
}
