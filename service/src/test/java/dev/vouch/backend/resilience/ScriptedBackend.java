package dev.vouch.backend.resilience;

import build.bazel.remote.execution.v2.ActionResult;
import dev.vouch.backend.BackendCapabilities;
import dev.vouch.backend.BlobNotFoundException;
import dev.vouch.backend.CacheBackend;
import dev.vouch.backend.CallGuard;
import dev.vouch.backend.Scope;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.digest.DigestSet;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Deque;
import java.util.EnumMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * An in-memory AC and CAS whose every call is counted and can be scripted: fail the next calls of
 * an operation, fail all of them, or never answer. Answers come synchronously, so with virtual time
 * the only waits in a test are the ones the resilience layer adds. Like a remote backend whose every
 * operation is one wire call, it puts its guard (none until {@link #guardedBy}) around each call.
 */
final class ScriptedBackend implements CacheBackend, AutoCloseable {
    enum Op { CAPABILITIES, GET_ACTION_RESULT, FIND_MISSING, READ_BLOB }

    private final String name;
    private final Map<Digest, ActionResult> actionCache = new ConcurrentHashMap<>();
    private final Map<Digest, byte[]> cas = new ConcurrentHashMap<>();
    private final Map<Op, AtomicInteger> calls = new EnumMap<>(Op.class);
    private final Map<Op, Deque<RuntimeException>> nextFailures = new EnumMap<>(Op.class);
    private final Map<Op, RuntimeException> alwaysFailures = new ConcurrentHashMap<>();
    private final Set<Digest> hanging = ConcurrentHashMap.newKeySet();
    private final AtomicBoolean closed = new AtomicBoolean();
    private RuntimeException failAfterFirstChunk;
    private CallGuard guard = CallGuard.NONE;

    ScriptedBackend(String name) {
        this.name = name;
        for (Op op : Op.values()) {
            calls.put(op, new AtomicInteger());
            nextFailures.put(op, new ConcurrentLinkedDeque<>());
        }
    }

    /** Puts {@code guard} around every later call; closed with this backend. */
    ScriptedBackend guardedBy(CallGuard guard) {
        this.guard = guard;
        return this;
    }

    Digest putBlob(String content) {
        byte[] bytes = content.getBytes(StandardCharsets.UTF_8);
        Digest digest = DigestFunction.SHA256.digestOf(bytes);
        cas.put(digest, bytes);
        return digest;
    }

    Digest absentBlob(String content) {
        return DigestFunction.SHA256.digestOf(content.getBytes(StandardCharsets.UTF_8));
    }

    Digest putAction(String name, ActionResult result) {
        Digest action = absentBlob("action " + name);
        actionCache.put(action, result);
        return action;
    }

    /** The next {@code times} calls of {@code op} fail with {@code failure}, later ones answer. */
    void failNext(Op op, int times, RuntimeException failure) {
        for (int i = 0; i < times; i++) {
            nextFailures.get(op).add(failure);
        }
    }

    /** Every call of {@code op} fails with {@code failure} until {@link #recover()}. */
    void failAlways(Op op, RuntimeException failure) {
        alwaysFailures.put(op, failure);
    }

    void recover() {
        alwaysFailures.clear();
        nextFailures.values().forEach(Deque::clear);
    }

    /** Lookups of {@code action} are accepted and never answered. */
    void hang(Digest action) {
        hanging.add(action);
    }

    /** Blob reads send their first chunk, then fail with {@code failure}. */
    void failReadsAfterFirstChunk(RuntimeException failure) {
        failAfterFirstChunk = failure;
    }

    int calls(Op op) {
        return calls.get(op).get();
    }

    int totalCalls() {
        return calls.values().stream().mapToInt(AtomicInteger::get).sum();
    }

    boolean closed() {
        return closed.get();
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public Mono<BackendCapabilities> capabilities(Scope scope) {
        return guard.unary("capabilities", () -> Mono.defer(() ->
                scripted(Op.CAPABILITIES, Mono.just(new BackendCapabilities(Set.of(DigestFunction.SHA256), 0)))));
    }

    @Override
    public Mono<ActionResult> getActionResult(Scope scope, Digest action) {
        return guard.unary("getActionResult " + action, () -> Mono.defer(() -> hanging.contains(action)
                ? count(Op.GET_ACTION_RESULT, Mono.<ActionResult>never())
                : scripted(Op.GET_ACTION_RESULT, Mono.justOrEmpty(actionCache.get(action)))));
    }

    @Override
    public Mono<DigestSet> findMissing(Scope scope, DigestSet digests) {
        return guard.unary("findMissing of " + digests.size() + " digests", () -> Mono.defer(() ->
                scripted(Op.FIND_MISSING, Mono.just(digests.filter(d -> !cas.containsKey(d))))));
    }

    @Override
    public Flux<ByteBuffer> readBlob(Scope scope, Digest digest) {
        return guard.stream("readBlob " + digest, () -> Flux.defer(() -> {
            byte[] bytes = cas.get(digest);
            Flux<ByteBuffer> answer = bytes == null
                    ? Flux.error(new BlobNotFoundException(digest))
                    : failAfterFirstChunk != null
                            ? Flux.just(ByteBuffer.wrap(bytes, 0, 1)).concatWith(Flux.error(failAfterFirstChunk))
                            : Flux.just(ByteBuffer.wrap(bytes));
            return scripted(Op.READ_BLOB, answer);
        }));
    }

    private <T, P extends org.reactivestreams.Publisher<T>> P count(Op op, P answer) {
        calls.get(op).incrementAndGet();
        return answer;
    }

    @SuppressWarnings("unchecked")
    private <T, P extends org.reactivestreams.Publisher<T>> P scripted(Op op, P answer) {
        calls.get(op).incrementAndGet();
        RuntimeException failure = nextFailures.get(op).poll();
        if (failure == null) {
            failure = alwaysFailures.get(op);
        }
        if (failure == null) {
            return answer;
        }
        return (P) (answer instanceof Mono<?> ? Mono.error(failure) : Flux.error(failure));
    }

    @Override
    public void close() {
        guard.close();
        closed.set(true);
    }
}
