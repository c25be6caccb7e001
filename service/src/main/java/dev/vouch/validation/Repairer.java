package dev.vouch.validation;

import dev.vouch.backend.CacheBackend;
import dev.vouch.backend.Scope;
import dev.vouch.digest.Digest;
import dev.vouch.digest.VerifiedStream;
import dev.vouch.logging.LogSafe;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * Repair from a second tier ({@code vouch.front.repair-from}): the blobs a PARTIAL verdict names
 * missing that the repair backend has are copied into the backend that lacks them, streamed and
 * hash-verified on the way ({@link VerifiedStream}: a damaged copy is never stored). The cache
 * front's Action Cache reads and validation requests with {@code repair} share it.
 */
public final class Repairer {
    private static final Logger log = LoggerFactory.getLogger(Repairer.class);
    // blobs copied at once for one action
    static final int CONCURRENCY = 4;

    private final CacheBackend from;
    private final ValidationMetrics metrics;

    public Repairer(CacheBackend from, ValidationMetrics metrics) {
        this.from = from;
        this.metrics = metrics;
    }

    /** The backend blobs are repaired from. */
    public String from() {
        return from.name();
    }

    /**
     * {@code verdict} after copying what can be copied into {@code into} (the backend it was decided
     * on): HIT with the copied blobs in {@code repaired} when all were and none hid others (a missing
     * Tree or Directory hid what lies under it from the check: the next check sees the rest), else
     * still PARTIAL with what is left. Other verdicts, corrupt blobs (present under their digest, so a
     * copy cannot replace them) and repairs into the repair backend itself pass unchanged. Never fails.
     */
    public Mono<ActionVerdict> repair(Scope scope, ActionVerdict verdict, CacheBackend into) {
        if (verdict.verdict() != Verdict.PARTIAL || !verdict.corrupt().isEmpty() || verdict.missing().isEmpty()
                || from.name().equals(into.name())) {
            return Mono.just(verdict);
        }
        return Flux.fromIterable(verdict.missing())
                .flatMapSequential(problem -> copy(scope, problem.digest(), into)
                        .thenReturn(problem)
                        .onErrorResume(e -> {
                            log.info("blob {} of action {} not repaired from backend {}: {}", problem.digest(),
                                    verdict.action(), from.name(), LogSafe.escape(String.valueOf(e.getMessage())));
                            return Mono.empty();
                        }), CONCURRENCY)
                .collectList()
                .map(copied -> {
                    if (!copied.isEmpty()) {
                        metrics.blobsRepaired(into.name(), copied.size());
                    }
                    boolean hidden = verdict.missing().stream().anyMatch(p -> p.kind() == BlobKind.OUTPUT_DIRECTORY_TREE
                            || p.kind() == BlobKind.DIRECTORY);
                    log.info("repaired {} of {} missing blobs of action {} from backend {} into backend {}",
                            copied.size(), verdict.missing().size(), verdict.action(), from.name(), into.name());
                    return verdict.repaired(copied, copied.size() == verdict.missing().size() && !hidden);
                });
    }

    private Mono<Void> copy(Scope scope, Digest digest, CacheBackend into) {
        return into.writeBlob(scope, digest, VerifiedStream.of(digest, scope.digestFunction(), from.readBlob(scope, digest)));
    }
}
