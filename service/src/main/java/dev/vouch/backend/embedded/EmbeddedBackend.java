package dev.vouch.backend.embedded;

import build.bazel.remote.execution.v2.ActionResult;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.vouch.backend.BackendCapabilities;
import dev.vouch.backend.BackendException;
import dev.vouch.backend.BlobNotFoundException;
import dev.vouch.backend.CacheBackend;
import dev.vouch.backend.Scope;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.digest.DigestSet;
import java.nio.ByteBuffer;
import java.util.Set;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * The in-process cache as a {@link CacheBackend}. One namespace: the instance name is ignored.
 * Only SHA-256 is stored; other digest functions fail rather than report everything missing.
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
        return Mono.defer(() -> {
            requireSha256(scope);
            return Mono.just(capabilities);
        });
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

    /** Absence and our own errors pass through; anything else (I/O) means the store could not answer. */
    private boolean isStoreFailure(Throwable e) {
        return !(e instanceof BlobNotFoundException || e instanceof BackendException);
    }

    private BackendException wrap(Throwable e) {
        return new BackendException(name, "embedded store failed: " + e.getMessage(), e);
    }
}
