package dev.vouch.validation;

import build.bazel.remote.execution.v2.ActionResult;
import com.google.protobuf.Message;
import dev.vouch.backend.BackendCapabilities;
import dev.vouch.backend.BlobNotFoundException;
import dev.vouch.backend.CacheBackend;
import dev.vouch.backend.Scope;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.digest.DigestSet;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Collections;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

/**
 * An in-memory AC and CAS that records every call and can be told to fail any operation. Blobs are
 * served as their real bytes, optionally in small chunks, and can be damaged after they are stored.
 */
final class FakeCacheBackend implements CacheBackend {
    enum Operation { CAPABILITIES, GET_ACTION_RESULT, FIND_MISSING, READ }

    final List<Digest> actionLookups = new CopyOnWriteArrayList<>();
    final List<DigestSet> findMissingCalls = new CopyOnWriteArrayList<>();
    final List<Digest> reads = new CopyOnWriteArrayList<>();

    private final Map<Digest, ActionResult> actionCache = new ConcurrentHashMap<>();
    private final Map<Digest, byte[]> cas = new ConcurrentHashMap<>();
    private final Map<Operation, RuntimeException> failures = Collections.synchronizedMap(new EnumMap<>(Operation.class));
    private final Set<DigestFunction> digestFunctions = EnumSet.of(DigestFunction.SHA256);
    private Function<DigestSet, Mono<DigestSet>> findMissingOverride;
    private final Map<Digest, RuntimeException> readFailures = new ConcurrentHashMap<>();
    private final AtomicInteger readsInFlight = new AtomicInteger();
    private final AtomicInteger maxReadsInFlight = new AtomicInteger();
    private final java.util.concurrent.atomic.AtomicLong bytesDelivered = new java.util.concurrent.atomic.AtomicLong();
    private Scheduler deliverOn = Schedulers.immediate();
    private int chunkSize = Integer.MAX_VALUE;

    @Override
    public String name() {
        return "fake";
    }

    // --- test setup

    /** A digest of {@code content} that the CAS holds. */
    Digest putBlob(String content) {
        return putBytes(content.getBytes(StandardCharsets.UTF_8));
    }

    /** A digest of {@code content} that the CAS does not hold. */
    Digest absentBlob(String content) {
        return DigestFunction.SHA256.digestOf(content.getBytes(StandardCharsets.UTF_8));
    }

    Digest putMessage(Message message) {
        return putBytes(message.toByteArray());
    }

    Digest absentMessage(Message message) {
        return DigestFunction.SHA256.digestOf(message.toByteArray());
    }

    Digest putBytes(byte[] bytes) {
        return putBytes(DigestFunction.SHA256, bytes);
    }

    /** Stores {@code bytes} addressed by {@code function}, for requests that name that digest function. */
    Digest putBytes(DigestFunction function, byte[] bytes) {
        Digest digest = function.digestOf(bytes);
        cas.put(digest, bytes);
        return digest;
    }

    Digest putMessage(DigestFunction function, Message message) {
        return putBytes(function, message.toByteArray());
    }

    /** Flips the bits of one byte in the middle of a stored blob, keeping its length. */
    void corruptOneByte(Digest digest) {
        byte[] damaged = cas.get(digest).clone();
        damaged[damaged.length / 2] ^= (byte) 0xff;
        cas.put(digest, damaged);
    }

    /** Keeps only the first {@code length} bytes of a stored blob. */
    void truncate(Digest digest, int length) {
        cas.put(digest, Arrays.copyOf(cas.get(digest), length));
    }

    /** Appends {@code extra} bytes to a stored blob. */
    void extend(Digest digest, int extra) {
        byte[] bytes = cas.get(digest);
        cas.put(digest, Arrays.copyOf(bytes, bytes.length + extra));
    }

    /** Fails reads of one blob only. */
    void failReadOf(Digest digest, RuntimeException failure) {
        readFailures.put(digest, failure);
    }

    /** Serves blobs in chunks of at most {@code size} bytes, as a streaming transport would. */
    void deliverInChunksOf(int size) {
        chunkSize = size;
    }

    /** The most blob reads that were in progress at once. */
    int maxReadsInFlight() {
        return maxReadsInFlight.get();
    }

    /** Bytes of blobs handed to readers so far, over all reads: chunks are made only as they are requested. */
    long bytesDelivered() {
        return bytesDelivered.get();
    }

    long readsOf(Digest digest) {
        return reads.stream().filter(digest::equals).count();
    }

    /** Removes a stored blob, as an eviction would. */
    void evict(Digest digest) {
        cas.remove(digest);
    }

    /** Stores {@code bytes} under {@code digest} whether or not they match. */
    void putUnder(Digest digest, byte[] bytes) {
        cas.put(digest, bytes);
    }

    /** An AC entry for an action named {@code name}; returns the action digest. */
    Digest putAction(String name, ActionResult result) {
        Digest action = actionDigest(name);
        actionCache.put(action, result);
        return action;
    }

    Digest actionDigest(String name) {
        return DigestFunction.SHA256.digestOf(("action " + name).getBytes(StandardCharsets.UTF_8));
    }

    /** An AC entry under an action digest of {@code function}. */
    Digest putAction(DigestFunction function, String name, ActionResult result) {
        Digest action = function.digestOf(("action " + name).getBytes(StandardCharsets.UTF_8));
        actionCache.put(action, result);
        return action;
    }

    void fail(Operation operation, RuntimeException failure) {
        failures.put(operation, failure);
    }

    void supportOnly(DigestFunction... functions) {
        digestFunctions.clear();
        digestFunctions.addAll(List.of(functions));
    }

    /** Delivers every answer on {@code scheduler}, as a network client would on its event loop. */
    void deliverOn(Scheduler scheduler) {
        deliverOn = scheduler;
    }

    void answerFindMissingWith(Function<DigestSet, Mono<DigestSet>> answer) {
        findMissingOverride = answer;
    }

    /** Every digest sent to findMissing, over all calls. */
    List<Digest> allQueried() {
        return findMissingCalls.stream().flatMap(set -> set.toList().stream()).toList();
    }

    // --- CacheBackend

    @Override
    public Mono<BackendCapabilities> capabilities(Scope scope) {
        return failOr(Operation.CAPABILITIES, () -> Mono.just(new BackendCapabilities(digestFunctions, 0)));
    }

    @Override
    public Mono<ActionResult> getActionResult(Scope scope, Digest action) {
        actionLookups.add(action);
        return failOr(Operation.GET_ACTION_RESULT, () -> Mono.justOrEmpty(actionCache.get(action)));
    }

    @Override
    public Mono<DigestSet> findMissing(Scope scope, DigestSet digests) {
        findMissingCalls.add(digests);
        if (findMissingOverride != null) {
            return findMissingOverride.apply(digests);
        }
        return failOr(Operation.FIND_MISSING, () -> Mono.just(digests.filter(d -> !cas.containsKey(d))));
    }

    @Override
    public Flux<ByteBuffer> readBlob(Scope scope, Digest digest) {
        reads.add(digest);
        RuntimeException failure = failures.getOrDefault(Operation.READ, readFailures.get(digest));
        if (failure != null) {
            return Flux.error(failure);
        }
        byte[] bytes = cas.get(digest);
        return (bytes == null ? Flux.<ByteBuffer>error(new BlobNotFoundException(digest)) : chunks(bytes))
                .publishOn(deliverOn)
                .doOnSubscribe(s -> maxReadsInFlight.accumulateAndGet(readsInFlight.incrementAndGet(), Math::max))
                // before the completion travels on, since a reader may start its next read from it
                .doOnTerminate(readsInFlight::decrementAndGet)
                .doOnCancel(readsInFlight::decrementAndGet);
    }

    private Flux<ByteBuffer> chunks(byte[] bytes) {
        int count = (int) Math.max(1, (bytes.length + (long) chunkSize - 1) / chunkSize);
        return Flux.range(0, count).map(i -> {
            int offset = i * chunkSize;
            int length = Math.min(chunkSize, bytes.length - offset);
            bytesDelivered.addAndGet(length);
            return ByteBuffer.wrap(bytes, offset, length).slice();
        });
    }

    private <T> Mono<T> failOr(Operation operation, java.util.function.Supplier<Mono<T>> answer) {
        RuntimeException failure = failures.get(operation);
        return (failure != null ? Mono.<T>error(failure) : answer.get()).publishOn(deliverOn);
    }
}
