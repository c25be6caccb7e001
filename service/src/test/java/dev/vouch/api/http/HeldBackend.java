package dev.vouch.api.http;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.OutputFile;
import dev.vouch.backend.BackendCapabilities;
import dev.vouch.backend.BlobNotFoundException;
import dev.vouch.backend.CacheBackend;
import dev.vouch.backend.Scope;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.digest.DigestSet;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;

/**
 * An in-memory cache whose Action Cache lookups a test can hold open until it releases them, or
 * make hang for good; it counts the lookups started and the ones their caller gave up on.
 */
public final class HeldBackend implements CacheBackend {
    private final Map<Digest, ActionResult> actionCache = new ConcurrentHashMap<>();
    private final Map<Digest, byte[]> cas = new ConcurrentHashMap<>();
    private final Set<Digest> hanging = ConcurrentHashMap.newKeySet();
    private final AtomicInteger lookups = new AtomicInteger();
    private final AtomicInteger cancelled = new AtomicInteger();
    private volatile Sinks.Empty<Void> gate;

    public void reset() {
        release();
        actionCache.clear();
        cas.clear();
        hanging.clear();
        lookups.set(0);
        cancelled.set(0);
    }

    /** An action whose single output is in the CAS. */
    public Digest hitAction(String name) {
        byte[] output = ("output of " + name).getBytes(StandardCharsets.UTF_8);
        Digest blob = DigestFunction.SHA256.digestOf(output);
        cas.put(blob, output);
        Digest action = actionDigest(name);
        actionCache.put(action, ActionResult.newBuilder()
                .addOutputFiles(OutputFile.newBuilder().setPath("out/" + name).setDigest(blob.toProto()))
                .build());
        return action;
    }

    /** An action whose Action Cache lookup is accepted and never answered. */
    public Digest hangingAction(String name) {
        Digest action = hitAction(name);
        hanging.add(action);
        return action;
    }

    public static Digest actionDigest(String name) {
        return DigestFunction.SHA256.digestOf(("action " + name).getBytes(StandardCharsets.UTF_8));
    }

    /** From now on, lookups wait until {@link #release}. */
    public void hold() {
        gate = Sinks.empty();
    }

    public void release() {
        Sinks.Empty<Void> held = gate;
        gate = null;
        if (held != null) {
            held.tryEmitEmpty();
        }
    }

    public int lookupsStarted() {
        return lookups.get();
    }

    public int cancelled() {
        return cancelled.get();
    }

    @Override
    public String name() {
        return "held";
    }

    @Override
    public Mono<BackendCapabilities> capabilities(Scope scope) {
        return Mono.just(new BackendCapabilities(Set.of(DigestFunction.SHA256), 0));
    }

    @Override
    public Mono<ActionResult> getActionResult(Scope scope, Digest action) {
        return Mono.defer(() -> {
            lookups.incrementAndGet();
            if (hanging.contains(action)) {
                return Mono.<ActionResult>never().doOnCancel(cancelled::incrementAndGet);
            }
            Mono<ActionResult> answer = Mono.justOrEmpty(actionCache.get(action));
            Sinks.Empty<Void> held = gate;
            return held == null ? answer : held.asMono().then(answer).doOnCancel(cancelled::incrementAndGet);
        });
    }

    @Override
    public Mono<DigestSet> findMissing(Scope scope, DigestSet digests) {
        return Mono.fromSupplier(() -> digests.filter(d -> !cas.containsKey(d)));
    }

    @Override
    public Flux<ByteBuffer> readBlob(Scope scope, Digest digest) {
        return Flux.defer(() -> {
            byte[] bytes = cas.get(digest);
            return bytes == null ? Flux.error(new BlobNotFoundException(digest)) : Flux.just(ByteBuffer.wrap(bytes));
        });
    }
}
