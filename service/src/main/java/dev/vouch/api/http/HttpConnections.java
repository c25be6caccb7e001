package dev.vouch.api.http;

import io.netty.channel.Channel;
import java.util.Iterator;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The connections of one HTTP server, bounded by {@code vouch.http.max-connections}. A connection
 * past the bound makes room by closing an idle one (no request in progress), so that a burst of idle
 * or slowloris connections cannot shut out a liveness probe; only when every connection is working
 * on a request is the newcomer closed at once.
 */
final class HttpConnections {
    // how many idle connections one admission looks at to find the longest-idle: enough to prefer old
    // idlers, bounded so that a connection storm does not scan thousands of entries per accept
    private static final int EVICTION_SAMPLE = 16;

    private final int max;
    private final AtomicInteger open = new AtomicInteger();
    private final ConcurrentHashMap<Channel, HttpConnectionGuard> guards = new ConcurrentHashMap<>();

    HttpConnections(int max) {
        this.max = max;
    }

    /** Registers a new connection; false when it must be closed at once because nothing could make room. */
    boolean admit(Channel channel, HttpConnectionGuard guard) {
        if (open.incrementAndGet() > max && !evictIdle()) {
            open.decrementAndGet();
            return false;
        }
        guards.put(channel, guard);
        channel.closeFuture().addListener(f -> {
            guards.remove(channel);
            open.decrementAndGet();
        });
        return true;
    }

    int open() {
        return open.get();
    }

    private boolean evictIdle() {
        HttpConnectionGuard oldest = null;
        int seen = 0;
        for (Iterator<HttpConnectionGuard> it = guards.values().iterator(); it.hasNext() && seen < EVICTION_SAMPLE; ) {
            HttpConnectionGuard candidate = it.next();
            if (candidate.isIdle()) {
                seen++;
                if (oldest == null || candidate.idleSince() < oldest.idleSince()) {
                    oldest = candidate;
                }
            }
        }
        // another admission may have taken it first: then any idle one that can still be taken
        if (oldest != null && oldest.evict()) {
            return true;
        }
        for (HttpConnectionGuard candidate : guards.values()) {
            if (candidate.isIdle() && candidate.evict()) {
                return true;
            }
        }
        return false;
    }
}
