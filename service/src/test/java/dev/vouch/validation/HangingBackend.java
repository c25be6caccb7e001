package dev.vouch.validation;

import build.bazel.remote.execution.v2.ActionResult;
import dev.vouch.backend.BackendCapabilities;
import dev.vouch.backend.CacheBackend;
import dev.vouch.backend.Scope;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestSet;
import java.nio.ByteBuffer;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * Wraps a backend so that chosen calls never answer, as a cache that accepted the request and went
 * silent would; counts the hanging calls that were cancelled, to show the work was given up.
 */
public final class HangingBackend implements CacheBackend {
    private final CacheBackend delegate;
    private final Set<Digest> hangingLookups = ConcurrentHashMap.newKeySet();
    private volatile boolean hangAllLookups;
    private volatile boolean hangFindMissing;
    private volatile boolean hangReads;
    private final AtomicInteger cancelled = new AtomicInteger();

    public HangingBackend(CacheBackend delegate) {
        this.delegate = delegate;
    }

    HangingBackend hangLookupOf(Digest action) {
        hangingLookups.add(action);
        return this;
    }

    HangingBackend hangAllLookups() {
        hangAllLookups = true;
        return this;
    }

    public HangingBackend hangFindMissing() {
        hangFindMissing = true;
        return this;
    }

    HangingBackend hangReads() {
        hangReads = true;
        return this;
    }

    /** Every call answers again, as the wrapped backend does. */
    public void answerAll() {
        hangingLookups.clear();
        hangAllLookups = false;
        hangFindMissing = false;
        hangReads = false;
    }

    /** Hanging calls whose subscriber gave up on them. */
    int cancelled() {
        return cancelled.get();
    }

    @Override
    public String name() {
        return delegate.name();
    }

    @Override
    public Mono<BackendCapabilities> capabilities(Scope scope) {
        return delegate.capabilities(scope);
    }

    @Override
    public Mono<ActionResult> getActionResult(Scope scope, Digest action) {
        return hangAllLookups || hangingLookups.contains(action) ? never() : delegate.getActionResult(scope, action);
    }

    @Override
    public Mono<DigestSet> findMissing(Scope scope, DigestSet digests) {
        return hangFindMissing ? never() : delegate.findMissing(scope, digests);
    }

    @Override
    public Flux<ByteBuffer> readBlob(Scope scope, Digest digest) {
        return hangReads ? this.<ByteBuffer>never().flux() : delegate.readBlob(scope, digest);
    }

    private <T> Mono<T> never() {
        return Mono.<T>never().doOnCancel(cancelled::incrementAndGet);
    }
}
