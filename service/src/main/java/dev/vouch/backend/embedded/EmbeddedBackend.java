package dev.vouch.backend.embedded;

import build.bazel.remote.execution.v2.ActionResult;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.vouch.backend.BackendCapabilities;
import dev.vouch.backend.BackendException;
import dev.vouch.backend.BlobNotFoundException;
import dev.vouch.backend.CacheBackend;
import dev.vouch.backend.Scope;
import dev.vouch.backend.StoreFullException;
import dev.vouch.backend.UploadStalledException;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.digest.DigestMismatchException;
import dev.vouch.digest.DigestSet;
import java.nio.ByteBuffer;
import java.util.Optional;
import java.util.Set;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.util.context.ContextView;

/**
 * The in-process cache as a {@link CacheBackend}, one backend among others: the validator reads it
 * and the cache front reads and writes it as it does any other. One namespace: the instance name
 * is ignored. Only SHA-256 is stored; other digest functions fail rather than report everything
 * missing. Action Cache entries are keyed by the action's hash alone (the Bazel HTTP cache
 * protocol knows no size), so a lookup ignores the size it is given.
 */
public final class EmbeddedBackend implements CacheBackend {
    public static final String DEFAULT_NAME = "embedded";

    private final String name;
    private final BlobStore store;
    private final BackendCapabilities capabilities;
    private final int maxActionResultBytes;

    public EmbeddedBackend(String name, BlobStore store, long maxBatchTotalSizeBytes) {
        this(name, store, maxBatchTotalSizeBytes, VouchProperties.Limits.defaults().maxActionResultBytes());
    }

    /** @param maxActionResultBytes vouch.limits.max-action-result-bytes: a larger entry is not parsed */
    public EmbeddedBackend(String name, BlobStore store, long maxBatchTotalSizeBytes, int maxActionResultBytes) {
        this.name = name;
        this.store = store;
        this.capabilities = new BackendCapabilities(Set.of(DigestFunction.SHA256), maxBatchTotalSizeBytes);
        this.maxActionResultBytes = maxActionResultBytes;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public Mono<BackendCapabilities> capabilities(Scope scope) {
        // an answer for every scope: saying SHA-256 only is how callers learn to refuse the others
        return Mono.just(capabilities);
    }

    @Override
    public Optional<BackendCapabilities> knownCapabilities(Scope scope, ContextView context) {
        return Optional.of(capabilities);
    }

    @Override
    public Mono<ActionResult> getActionResult(Scope scope, Digest action) {
        return Mono.defer(() -> {
            requireSha256(scope);
            return store.getActionResult(action).map(bytes -> parse(action, bytes));
        }).onErrorMap(this::isStoreFailure, this::wrap);
    }

    @Override
    public Mono<DigestSet> findMissing(Scope scope, DigestSet digests) {
        return Mono.defer(() -> {
            requireSha256(scope);
            return store.findMissing(digests);
        }).onErrorMap(this::isStoreFailure, this::wrap);
    }

    @Override
    public Flux<ByteBuffer> readBlob(Scope scope, Digest digest) {
        return Flux.defer(() -> {
            requireSha256(scope);
            return store.read(digest);
        }).onErrorMap(this::isStoreFailure, this::wrap);
    }

    @Override
    public Flux<ByteBuffer> readBlob(Scope scope, Digest digest, long offset, long limit) {
        return Flux.defer(() -> {
            requireSha256(scope);
            return store.read(digest, offset, limit);
        }).onErrorMap(this::isStoreFailure, this::wrap);
    }

    @Override
    public Mono<Long> blobSize(Scope scope, String hash) {
        return Mono.defer(() -> {
            requireSha256(scope);
            return store.blobSize(hash);
        }).onErrorMap(this::isStoreFailure, this::wrap);
    }

    @Override
    public Mono<Void> updateActionResult(Scope scope, Digest action, ActionResult result) {
        return Mono.defer(() -> {
            requireSha256(scope);
            if (result.getSerializedSize() > maxActionResultBytes) {
                // Vouch would refuse to read it back, so storing it would only make every lookup UNKNOWN
                throw new BackendException(name, "Action Cache entry " + action + " has " + result.getSerializedSize()
                        + " bytes, more than " + maxActionResultBytes + " (vouch.limits.max-action-result-bytes)");
            }
            return store.putActionResult(action, result.toByteArray());
        }).onErrorMap(this::isStoreFailure, this::wrap);
    }

    /** The store checks the bytes against the digest itself, so a wrong blob is refused here too. */
    @Override
    public Mono<Void> writeBlob(Scope scope, Digest digest, Flux<ByteBuffer> data) {
        return Mono.defer(() -> {
            requireSha256(scope);
            return store.write(digest, data);
        }).onErrorMap(this::isStoreFailure, this::wrap);
    }

    private void requireSha256(Scope scope) {
        if (scope.digestFunction() != DigestFunction.SHA256) {
            throw new BackendException(name, "the embedded cache supports SHA256 only, not " + scope.digestFunction());
        }
    }

    private ActionResult parse(Digest action, byte[] bytes) {
        if (bytes.length > maxActionResultBytes) {
            // parsed, it would take several times its size of heap
            throw new BackendException(name, "Action Cache entry " + action + " has " + bytes.length
                    + " bytes, more than " + maxActionResultBytes + " (vouch.limits.max-action-result-bytes)");
        }
        try {
            return ActionResult.parseFrom(bytes);
        } catch (InvalidProtocolBufferException e) {
            // a damaged entry is not a miss: it must surface as an error, never as MISS or HIT
            throw new BackendException(name, "Action Cache entry " + action + " is not a valid ActionResult", e);
        }
    }

    /**
     * Absence, our own errors and the store's answers to a writer (a wrong blob, no room, a stalled
     * upload) pass through; anything else (I/O) means the store could not answer.
     */
    private boolean isStoreFailure(Throwable e) {
        return !(e instanceof BlobNotFoundException || e instanceof BackendException
                || e instanceof DigestMismatchException || e instanceof StoreFullException
                || e instanceof UploadStalledException);
    }

    private BackendException wrap(Throwable e) {
        return new BackendException(name, "embedded store failed: " + e.getMessage(), e);
    }
}
