package dev.vouch.jmh;

import build.bazel.remote.execution.v2.ActionResult;
import dev.vouch.backend.BackendCapabilities;
import dev.vouch.backend.BlobNotFoundException;
import dev.vouch.backend.CacheBackend;
import dev.vouch.backend.Scope;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.digest.DigestSet;
import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * A {@link Workload} held in memory as a backend, answering on the caller's thread: what a
 * benchmark over it measures is the validator's own work, with no I/O and no thread hops. It holds
 * every blob but the PARTIAL actions' absent ones and an AC entry for every action but the MISSes;
 * only Trees can be read (mode EXISTENCE reads nothing else). ActionResults are kept serialized
 * and parsed by each lookup, as a real backend's are. Immutable once built, so benchmark
 * threads may share it. Unlike the tests' FakeCacheBackend it records no calls, which would grow
 * without bound over a benchmark run.
 */
public final class WorkloadBackend implements CacheBackend {
    private static final BackendCapabilities CAPABILITIES =
            new BackendCapabilities(Set.of(DigestFunction.SHA256), 0);

    // serialized, as a store or the wire has them: each lookup parses its own copy
    private final Map<Digest, byte[]> actionCache = new HashMap<>();
    private final Map<Digest, byte[]> trees = new HashMap<>();
    private final Set<Digest> present = new HashSet<>();

    public WorkloadBackend(Workload workload) {
        for (Workload.Action action : workload.actions()) {
            if (action.inActionCache()) {
                actionCache.put(action.digest(), action.result().toByteArray());
            }
            trees.put(action.tree(), action.treeBytes());
            present.add(action.tree());
            present.addAll(action.files());
        }
        for (Workload.Action action : workload.actions()) {
            if (action.absent() != null) {
                present.remove(action.absent());
            }
        }
    }

    @Override
    public String name() {
        return "workload";
    }

    @Override
    public Mono<BackendCapabilities> capabilities(Scope scope) {
        return Mono.just(CAPABILITIES);
    }

    @Override
    public Mono<ActionResult> getActionResult(Scope scope, Digest action) {
        byte[] bytes = actionCache.get(action);
        return bytes == null ? Mono.empty() : Mono.fromCallable(() -> ActionResult.parseFrom(bytes));
    }

    @Override
    public Mono<DigestSet> findMissing(Scope scope, DigestSet digests) {
        return Mono.fromSupplier(() -> digests.filter(d -> !present.contains(d)));
    }

    @Override
    public Flux<ByteBuffer> readBlob(Scope scope, Digest digest) {
        byte[] bytes = trees.get(digest);
        if (bytes != null) {
            return Flux.just(ByteBuffer.wrap(bytes));
        }
        return present.contains(digest)
                ? Flux.error(new IllegalStateException("the workload holds no bytes for file blob " + digest))
                : Flux.error(new BlobNotFoundException(digest));
    }
}
