package dev.vouch.validation;

import com.github.benmanes.caffeine.cache.Ticker;
import dev.vouch.backend.Scope;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import java.time.Duration;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Blobs a lookup confirmed present in the last few seconds, so that lookups soon after need not
 * ask the backend again: the cache front's answer to a build that looks up the same actions from
 * many agents at once ({@code vouch.front.presence-ttl}), and, when an operator turns it on, the
 * validation APIs' ({@code vouch.limits.presence-ttl}). Each source has its own window length
 * over one shared store of confirmations: a confirmation counts for a request only while it is
 * younger than the request's source's window, and only requests of a source with a window
 * record any. Keyed by backend,
 * instance name, digest function, digest and caller (the {@link dev.vouch.backend.CallerCredentials#fingerprint}
 * of the client's {@code authorization}): a backend that forwards credentials may let one caller see
 * a blob and refuse another, so a presence confirmed with one caller's credentials never answers
 * another's lookup; callers that send the same credentials (or none) share it. Bounded in entries
 * ({@code vouch.front.presence-max-entries}).
 *
 * <p>Only presence is kept: absence and failures are never remembered, so a missing blob is asked
 * about again by the next lookup, and a backend that fails is not hidden. A blob confirmed by mode
 * FETCH (read back and hash-verified) counts for both modes; one confirmed by EXISTENCE only for
 * EXISTENCE. The window trades a few seconds of staleness for fewer calls: a blob evicted within it
 * may still be vouched for, which is why it is short and why only requests that ask for it
 * ({@link ValidationRequest#trustRecentPresence()}) use it.
 *
 * <p><b>Why two generations and not a cache library.</b> Every blob of every request that uses
 * the window is looked up in it, so a lookup must cost a map read: confirmations go into the
 * current generation, lookups read it and then the previous one, and when the current one is as
 * old as the longest window (or holds half of {@code maxEntries}) it becomes the previous and the
 * previous is dropped whole. Nothing is evicted one entry at a time, nothing is counted per read,
 * and at most {@code maxEntries} confirmations are held. A lookup still checks each
 * confirmation's own age against its source's window, so expiry is exact.
 */
public final class PresenceWindow {
    /** A window that remembers nothing. */
    public static final PresenceWindow NONE = new PresenceWindow(Duration.ZERO, Duration.ZERO, 0, Ticker.systemTicker());

    private final Ticker ticker;
    private final long frontTtlNanos;
    private final long apiTtlNanos;
    private final long generationNanos;
    private final long generationEntries;
    private volatile Generation current;
    private volatile Generation previous;

    /** A window for the cache front only. */
    public PresenceWindow(Duration frontTtl, long maxEntries) {
        this(frontTtl, Duration.ZERO, maxEntries);
    }

    public PresenceWindow(Duration frontTtl, Duration apiTtl, long maxEntries) {
        this(frontTtl, apiTtl, maxEntries, Ticker.systemTicker());
    }

    /** @param ticker the monotonic clock the window is measured on (tests move it by hand) */
    PresenceWindow(Duration frontTtl, Duration apiTtl, long maxEntries, Ticker ticker) {
        this.ticker = ticker;
        // two generations of at most half each: never more than maxEntries in all
        this.generationEntries = maxEntries / 2;
        this.frontTtlNanos = generationEntries > 0 ? frontTtl.toNanos() : 0;
        this.apiTtlNanos = generationEntries > 0 ? apiTtl.toNanos() : 0;
        this.generationNanos = Math.max(frontTtlNanos, apiTtlNanos);
        this.current = new Generation(ticker.read());
        this.previous = new Generation(ticker.read());
    }

    /** Confirmations since {@link #startedAt}. */
    private static final class Generation {
        final ConcurrentHashMap<Key, Seen> seen = new ConcurrentHashMap<>();
        final AtomicLong entries = new AtomicLong();
        final long startedAt;

        Generation(long startedAt) {
            this.startedAt = startedAt;
        }
    }

    /** A confirmation: how strongly, and when on {@link #ticker}. */
    private record Seen(Mode mode, long at) {
    }

    private long ttlNanos(Source source) {
        return source == Source.FRONT ? frontTtlNanos : apiTtlNanos;
    }

    /** Whether requests of {@code source} have a window, and so consult and fill it. */
    boolean keeps(Source source) {
        return ttlNanos(source) > 0;
    }

    /**
     * Whether {@code digest} was confirmed present within {@code source}'s window for {@code caller}, as strongly
     * as {@code mode} asks.
     *
     * @param caller the fingerprint of the lookup's caller's credentials, "" for none
     */
    boolean isPresent(Source source, String backend, Scope scope, String caller, Digest digest, Mode mode) {
        long ttl = ttlNanos(source);
        if (ttl <= 0) {
            return false;
        }
        Key key = new Key(backend, scope.instanceName(), scope.digestFunction(), caller, digest);
        Seen seen = current.seen.get(key);
        if (seen == null) {
            seen = previous.seen.get(key);
        }
        return seen != null && ticker.read() - seen.at() < ttl && (seen.mode() == Mode.FETCH || mode == Mode.EXISTENCE);
    }

    /** Records that {@code digests} were confirmed present just now, by {@code mode}, for a request of {@code source}. */
    void confirmed(Source source, String backend, Scope scope, String caller, Iterable<Digest> digests, Mode mode) {
        if (!keeps(source)) {
            return;
        }
        long now = ticker.read();
        Seen seen = new Seen(mode, now);
        Generation into = generationFor(now);
        for (Digest digest : digests) {
            // a later, weaker confirmation replaces a stronger one: the window never outlives what it saw
            if (into.seen.put(new Key(backend, scope.instanceName(), scope.digestFunction(), caller, digest), seen) == null
                    && into.entries.incrementAndGet() >= generationEntries) {
                into = generationFor(now);
            }
        }
    }

    /** The generation to record into at {@code now}: the current one, unless it is full or as old as the longest window. */
    private Generation generationFor(long now) {
        Generation generation = current;
        if (now - generation.startedAt < generationNanos && generation.entries.get() < generationEntries) {
            return generation;
        }
        synchronized (this) {
            if (current == generation) {
                previous = generation;
                current = new Generation(now);
            }
            return current;
        }
    }

    private record Key(String backend, String instanceName, DigestFunction digestFunction, String caller, Digest digest) {
    }
}
