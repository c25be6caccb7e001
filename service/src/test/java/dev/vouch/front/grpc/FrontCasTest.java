package dev.vouch.front.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import build.bazel.remote.execution.v2.Directory;
import build.bazel.remote.execution.v2.DirectoryNode;
import build.bazel.remote.execution.v2.FileNode;
import build.bazel.remote.execution.v2.GetTreeRequest;
import build.bazel.remote.execution.v2.GetTreeResponse;
import dev.vouch.backend.embedded.BlobStore;
import dev.vouch.backend.embedded.EmbeddedBackend;
import dev.vouch.backend.embedded.InMemoryBlobStore;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.digest.DigestSet;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/** {@link FrontCas} over the embedded store, called directly, with a store that counts what GetTree reads. */
class FrontCasTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    private final InMemoryBlobStore blobs = new InMemoryBlobStore();
    private final AtomicInteger reads = new AtomicInteger();
    private final FrontCas cas = TestFronts.over(new EmbeddedBackend(EmbeddedBackend.DEFAULT_NAME, new CountingReads(), 1 << 20),
            VouchProperties.FrontCheck.NONE, 1 << 20, 1L << 30, new SimpleMeterRegistry()).cas();

    private Digest put(Directory directory) {
        byte[] bytes = directory.toByteArray();
        Digest digest = DigestFunction.SHA256.digestOf(bytes);
        blobs.write(digest, bytes).block(TIMEOUT);
        return digest;
    }

    /**
     * A client that takes one page per call (as a client with a small message limit might) must not
     * make each call walk the whole tree: the first page of 10 of a 501-directory tree reads about
     * a page, and a call resumed at the last page reads up to it, not past.
     */
    @Test
    void onePageCostsAboutAPageOfReads() {
        Directory.Builder root = Directory.newBuilder();
        for (int i = 0; i < 500; i++) {
            Directory child = Directory.newBuilder()
                    .addFiles(FileNode.newBuilder().setName("f").setDigest(DigestFunction.SHA256
                            .digestOf(("file " + i).getBytes(StandardCharsets.UTF_8)).toProto()))
                    .build();
            root.addDirectories(DirectoryNode.newBuilder().setName("d" + i).setDigest(put(child).toProto()));
        }
        Digest rootDigest = put(root.build());
        GetTreeRequest request = GetTreeRequest.newBuilder().setRootDigest(rootDigest.toProto()).setPageSize(10).build();

        GetTreeResponse first = cas.getTree(request).blockFirst(TIMEOUT);

        assertThat(first.getDirectoriesCount()).isEqualTo(10);
        assertThat(first.getNextPageToken()).isNotEmpty();
        assertThat(reads.get()).as("directories read for the first page").isLessThanOrEqualTo(2 * 10 + 1);

        List<GetTreeResponse> all = cas.getTree(request).collectList().block(TIMEOUT);
        assertThat(all).hasSize(51);
        reads.set(0);
        GetTreeResponse last = cas.getTree(request.toBuilder().setPageToken(all.get(49).getNextPageToken()).build())
                .blockFirst(TIMEOUT);
        assertThat(last.getDirectoriesList()).isEqualTo(all.get(50).getDirectoriesList());
        assertThat(last.getNextPageToken()).isEmpty();
        assertThat(reads.get()).as("directories read to resume at the last page").isLessThanOrEqualTo(501);
    }

    /** A token names a position and the directory there: if the tree changed, resuming fails instead of skipping or repeating. */
    @Test
    void resumingAfterTheTreeChangedIsFailedPreconditionAndAForgedTokenInvalid() {
        Directory.Builder root = Directory.newBuilder();
        List<Digest> children = new java.util.ArrayList<>();
        for (int i = 0; i < 30; i++) {
            Directory child = Directory.newBuilder()
                    .addFiles(FileNode.newBuilder().setName("f").setDigest(DigestFunction.SHA256
                            .digestOf(("other " + i).getBytes(StandardCharsets.UTF_8)).toProto()))
                    .build();
            children.add(put(child));
            root.addDirectories(DirectoryNode.newBuilder().setName("d" + i).setDigest(children.get(i).toProto()));
        }
        GetTreeRequest request = GetTreeRequest.newBuilder().setRootDigest(put(root.build()).toProto()).setPageSize(10).build();
        List<GetTreeResponse> pages = cas.getTree(request).collectList().block(TIMEOUT);
        assertThat(pages).hasSize(4);

        // the fifth child, listed on the first page, is evicted: every later position shifts by one
        blobs.evictBlob(children.get(4));

        assertThat(catchThrowable(() -> cas.getTree(request.toBuilder().setPageToken(pages.get(1).getNextPageToken()).build())
                .collectList().block(TIMEOUT)))
                .isInstanceOfSatisfying(io.grpc.StatusRuntimeException.class, e -> {
                    assertThat(e.getStatus().getCode()).isEqualTo(io.grpc.Status.Code.FAILED_PRECONDITION);
                    assertThat(e.getStatus().getDescription()).contains("no longer matches the tree");
                });
        assertThat(catchThrowable(() -> cas.getTree(request.toBuilder().setPageToken("20").build()).collectList().block(TIMEOUT)))
                .isInstanceOfSatisfying(io.grpc.StatusRuntimeException.class, e -> {
                    assertThat(e.getStatus().getCode()).isEqualTo(io.grpc.Status.Code.INVALID_ARGUMENT);
                    assertThat(e.getStatus().getDescription()).contains("page_token \"20\" was not issued by this server");
                });
    }

    /** The in-memory store, counting blob reads. */
    private final class CountingReads implements BlobStore {
        @Override
        public Mono<byte[]> getActionResult(Digest action) {
            return blobs.getActionResult(action);
        }

        @Override
        public Mono<Void> putActionResult(Digest action, byte[] serializedResult) {
            return blobs.putActionResult(action, serializedResult);
        }

        @Override
        public Mono<Boolean> contains(Digest digest) {
            return blobs.contains(digest);
        }

        @Override
        public Mono<Long> blobSize(String hash) {
            return blobs.blobSize(hash);
        }

        @Override
        public Mono<DigestSet> findMissing(DigestSet digests) {
            return blobs.findMissing(digests);
        }

        @Override
        public Flux<ByteBuffer> read(Digest digest, long offset, long limit) {
            return blobs.read(digest, offset, limit).doOnSubscribe(s -> reads.incrementAndGet());
        }

        @Override
        public Mono<Void> write(Digest digest, Flux<ByteBuffer> data) {
            return blobs.write(digest, data);
        }
    }
}
