package dev.vouch.backend.embedded;

import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.OutputFile;
import dev.vouch.backend.BackendException;
import dev.vouch.backend.BlobNotFoundException;
import dev.vouch.backend.Scope;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.digest.DigestSet;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;
import reactor.test.StepVerifier;

class EmbeddedBackendTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(10);
    private static final Scope SCOPE = Scope.of("any/instance");

    @TempDir
    Path data;

    private Scheduler io;
    private DiskBlobStore store;
    private EmbeddedBackend backend;

    @BeforeEach
    void open() {
        io = Schedulers.newBoundedElastic(4, 1000, "test-io");
        store = new DiskBlobStore(data, 1L << 30, io);
        backend = new EmbeddedBackend("embedded", store, 4 << 20);
    }

    @AfterEach
    void close() {
        io.dispose();
    }

    private static Digest digestOf(String text) {
        return DigestFunction.SHA256.digestOf(text.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void actionResultPresent() {
        Digest action = digestOf("compile a.c");
        ActionResult result = ActionResult.newBuilder()
                .addOutputFiles(OutputFile.newBuilder().setPath("a.o").setDigest(digestOf("object").toProto()))
                .build();
        store.putActionResult(action, result.toByteArray()).block(TIMEOUT);

        StepVerifier.create(backend.getActionResult(Scope.of("other/instance"), action))
                .expectNext(result)
                .verifyComplete();
    }

    @Test
    void actionResultAbsentIsEmpty() {
        StepVerifier.create(backend.getActionResult(SCOPE, digestOf("never run"))).verifyComplete();
    }

    @Test
    void damagedActionResultIsAnErrorNotAMiss() throws Exception {
        Digest action = digestOf("damaged");
        store.putActionResult(action, ActionResult.getDefaultInstance().toByteArray()).block(TIMEOUT);
        Files.write(store.acPath(action.hash()), new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff});

        StepVerifier.create(backend.getActionResult(SCOPE, action))
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(BackendException.class)
                        .hasMessageContaining("not a valid ActionResult"))
                .verify(TIMEOUT);
    }

    @Test
    void findMissingAfterFileDeletedByHand() throws Exception {
        byte[] kept = "kept".getBytes(StandardCharsets.UTF_8);
        byte[] evicted = "evicted".getBytes(StandardCharsets.UTF_8);
        Digest keptDigest = DigestFunction.SHA256.digestOf(kept);
        Digest evictedDigest = DigestFunction.SHA256.digestOf(evicted);
        store.write(keptDigest, kept).block(TIMEOUT);
        store.write(evictedDigest, evicted).block(TIMEOUT);
        DigestSet both = DigestSet.of(keptDigest, evictedDigest);
        StepVerifier.create(backend.findMissing(SCOPE, both)).expectNext(DigestSet.empty()).verifyComplete();

        Files.delete(data.resolve("cas").resolve(evictedDigest.hash().substring(0, 2)).resolve(evictedDigest.hash()));

        StepVerifier.create(backend.findMissing(SCOPE, both)).expectNext(DigestSet.of(evictedDigest)).verifyComplete();
    }

    @Test
    void readBlobAbsentIsBlobNotFound() {
        Digest absent = digestOf("absent");

        StepVerifier.create(backend.readBlob(SCOPE, absent))
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(BlobNotFoundException.class)
                        .extracting(x -> ((BlobNotFoundException) x).digest()).isEqualTo(absent))
                .verify(TIMEOUT);
    }

    /** The validator asks by (hash, size): a stored blob of another length is absent, whichever way it differs. */
    @Test
    void readBlobOfAnotherSizeIsBlobNotFound() {
        byte[] blob = "1000 bytes, more or less".repeat(40).getBytes(StandardCharsets.UTF_8);
        Digest stored = DigestFunction.SHA256.digestOf(blob);
        store.write(stored, blob).block(TIMEOUT);

        for (long wrongSize : new long[] {1, blob.length + 1}) {
            Digest claimed = new Digest(stored.hash(), wrongSize);
            StepVerifier.create(backend.readBlob(SCOPE, claimed))
                    .expectErrorSatisfies(e -> assertThat(e).as("readBlob " + claimed).isInstanceOf(BlobNotFoundException.class)
                            .extracting(x -> ((BlobNotFoundException) x).digest()).isEqualTo(claimed))
                    .verify(TIMEOUT);
            StepVerifier.create(backend.readSmallBlob(SCOPE, claimed)).expectError(BlobNotFoundException.class).verify(TIMEOUT);
            StepVerifier.create(backend.findMissing(SCOPE, DigestSet.of(stored, claimed)))
                    .expectNext(DigestSet.of(claimed))
                    .verifyComplete();
        }
    }

    @Test
    void readSmallBlobRoundTrip() {
        byte[] blob = "directory bytes".getBytes(StandardCharsets.UTF_8);
        Digest digest = DigestFunction.SHA256.digestOf(blob);
        store.write(digest, blob).block(TIMEOUT);

        StepVerifier.create(backend.readSmallBlob(SCOPE, digest))
                .assertNext(bytes -> assertThat(bytes).isEqualTo(blob))
                .verifyComplete();
    }

    @Test
    void nonSha256ScopeIsABackendFailure() {
        Scope sha1 = new Scope("", DigestFunction.SHA1);
        Digest sha1Digest = new Digest("a".repeat(40), 1);

        StepVerifier.create(backend.findMissing(sha1, DigestSet.of(sha1Digest)))
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(BackendException.class)
                        .hasMessageContaining("SHA256 only")
                        .extracting(x -> ((BackendException) x).backend()).isEqualTo("embedded"))
                .verify(TIMEOUT);
        StepVerifier.create(backend.getActionResult(sha1, sha1Digest)).expectError(BackendException.class).verify(TIMEOUT);
        StepVerifier.create(backend.readBlob(sha1, sha1Digest)).expectError(BackendException.class).verify(TIMEOUT);
        // capabilities answer, so that callers can refuse the digest function by name
        StepVerifier.create(backend.capabilities(sha1))
                .assertNext(caps -> assertThat(caps.supports(DigestFunction.SHA1)).isFalse())
                .verifyComplete();
    }

    @Test
    void capabilitiesAdvertiseSha256AndBatchLimit() {
        StepVerifier.create(backend.capabilities(SCOPE))
                .assertNext(caps -> {
                    assertThat(caps.digestFunctions()).containsExactly(DigestFunction.SHA256);
                    assertThat(caps.maxBatchTotalSizeBytes()).isEqualTo(4 << 20);
                })
                .verifyComplete();
    }
}
