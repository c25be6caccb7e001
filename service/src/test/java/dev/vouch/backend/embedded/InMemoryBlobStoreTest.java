package dev.vouch.backend.embedded;

import java.nio.charset.StandardCharsets;
import dev.vouch.digest.Digest;
import org.junit.jupiter.api.Test;
import reactor.test.StepVerifier;

class InMemoryBlobStoreTest extends BlobStoreContractTest {
    private final InMemoryBlobStore store = new InMemoryBlobStore();

    @Override
    BlobStore store() {
        return store;
    }

    @Test
    void evictedBlobIsMissing() {
        byte[] blob = "evict me".getBytes(StandardCharsets.UTF_8);
        Digest digest = digestOf(blob);
        store.write(digest, blob).block(TIMEOUT);

        store.evictBlob(digest);

        StepVerifier.create(store.contains(digest)).expectNext(false).verifyComplete();
    }
}
