package dev.vouch.backend.embedded;

import dev.vouch.backend.BlobNotFoundException;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * The {@link BlobStore} contract in memory, unbounded, for tests: no disk, no scheduler. Tests
 * simulate eviction with {@link #evictBlob} and {@link #evictActionResult}.
 */
public final class InMemoryBlobStore implements BlobStore {
    private final Map<String, byte[]> actionResults = new ConcurrentHashMap<>();
    private final Map<Digest, byte[]> blobs = new ConcurrentHashMap<>();

    @Override
    public Mono<byte[]> getActionResult(Digest action) {
        return Mono.fromSupplier(() -> actionResults.get(action.hash()));
    }

    @Override
    public Mono<Void> putActionResult(Digest action, byte[] serializedResult) {
        return Mono.fromRunnable(() -> {
            action.checkFor(DigestFunction.SHA256);
            actionResults.put(action.hash(), serializedResult.clone());
        });
    }

    @Override
    public Mono<Boolean> contains(Digest digest) {
        return Mono.fromSupplier(() -> digest.isEmptyBlob(DigestFunction.SHA256) || blobs.containsKey(digest));
    }

    @Override
    public Mono<Long> blobSize(String hash) {
        return Mono.fromSupplier(() -> {
            if (hash.equals(DiskBlobStore.EMPTY_SHA256)) {
                return 0L;
            }
            return blobs.keySet().stream().filter(d -> d.hash().equals(hash)).map(Digest::sizeBytes).findFirst().orElse(null);
        });
    }

    @Override
    public Flux<ByteBuffer> read(Digest digest, long offset, long limit) {
        return Flux.defer(() -> {
            if (digest.isEmptyBlob(DigestFunction.SHA256)) {
                return Flux.empty();
            }
            byte[] blob = blobs.get(digest);
            if (blob == null) {
                return Flux.error(new BlobNotFoundException(digest));
            }
            long end = limit > 0 ? Math.min(blob.length, offset + limit) : blob.length;
            return Flux.range(0, (int) Math.max(0, (end - offset + DiskBlobStore.CHUNK_SIZE - 1) / DiskBlobStore.CHUNK_SIZE))
                    .map(i -> {
                        int from = (int) (offset + (long) i * DiskBlobStore.CHUNK_SIZE);
                        int length = (int) Math.min(DiskBlobStore.CHUNK_SIZE, end - from);
                        byte[] chunk = new byte[length];
                        System.arraycopy(blob, from, chunk, 0, length);
                        return ByteBuffer.wrap(chunk);
                    });
        });
    }

    @Override
    public Mono<Void> write(Digest digest, Flux<ByteBuffer> data) {
        return Mono.defer(() -> {
            digest.checkFor(DigestFunction.SHA256);
            if (digest.isEmptyBlob(DigestFunction.SHA256) || !blobs.containsKey(digest)) {
                DigestCheck check = new DigestCheck(digest);
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                return data.doOnNext(chunk -> {
                            check.update(chunk);
                            ByteBuffer copy = chunk.duplicate();
                            byte[] bytes = new byte[copy.remaining()];
                            copy.get(bytes);
                            out.writeBytes(bytes);
                        })
                        .then(Mono.fromRunnable(() -> {
                            check.finish();
                            if (!digest.isEmptyBlob(DigestFunction.SHA256)) {
                                blobs.put(digest, out.toByteArray());
                            }
                        }));
            }
            return data.then();
        });
    }

    /** Removes a blob, as a cache's eviction would. */
    public void evictBlob(Digest digest) {
        blobs.remove(digest);
    }

    /** Removes an Action Cache entry, as a cache's eviction would. */
    public void evictActionResult(Digest action) {
        actionResults.remove(action.hash());
    }

    /** Replaces a stored blob's bytes without checking them, to simulate corruption. */
    public void corruptBlob(Digest digest, byte[] bytes) {
        blobs.put(digest, bytes.clone());
    }
}
