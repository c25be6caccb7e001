package dev.vouch.scenarios;

import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.ActionCacheGrpc;
import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.BatchUpdateBlobsRequest;
import build.bazel.remote.execution.v2.BatchUpdateBlobsResponse;
import build.bazel.remote.execution.v2.ContentAddressableStorageGrpc;
import build.bazel.remote.execution.v2.Directory;
import build.bazel.remote.execution.v2.DirectoryNode;
import build.bazel.remote.execution.v2.FileNode;
import build.bazel.remote.execution.v2.OutputDirectory;
import build.bazel.remote.execution.v2.OutputFile;
import build.bazel.remote.execution.v2.Tree;
import build.bazel.remote.execution.v2.UpdateActionResultRequest;
import com.google.protobuf.ByteString;
import dev.vouch.backend.CacheBackend;
import dev.vouch.backend.Scope;
import dev.vouch.backend.bazelhttp.BazelHttpBackendFactory;
import dev.vouch.backend.reapi.ReapiBackend;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.validation.ActionVerdict;
import dev.vouch.validation.BlobKind;
import dev.vouch.validation.BlobProblem;
import dev.vouch.validation.CompletenessValidator;
import dev.vouch.validation.Mode;
import dev.vouch.validation.ValidationMetrics;
import dev.vouch.validation.ValidationRequest;
import dev.vouch.validation.Verdict;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The verdict scenarios every real cache must give the same answers to, whoever serves it: seeded
 * over REAPI gRPC exactly as a build client would, then judged through Vouch's {@code grpc} and
 * {@code http} backends over real sockets. Subclasses say where the cache listens.
 */
abstract class CacheScenarios {
    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    private static final VouchProperties.Limits LIMITS =
            VouchProperties.Limits.defaults();

    /** host:port of the cache's REAPI gRPC endpoint. */
    protected abstract String grpcAuthority();

    /** Base URL of the cache's Bazel HTTP protocol ({@code <url>/ac/<hash>}, {@code <url>/cas/<hash>}). */
    protected abstract URI httpUrl();

    @Test
    void grpcBackendVerdicts() throws Exception {
        Seeded seeded = seed();
        try (ReapiBackend backend = new ReapiBackend(config(VouchProperties.BackendType.GRPC,
                URI.create("grpc://" + grpcAuthority()), null))) {
            seeded.assertVerdicts(validate(backend, seeded));
        }
    }

    @Test
    void httpBackendVerdicts() throws Exception {
        Seeded seeded = seed();
        CacheBackend backend = new BazelHttpBackendFactory().create(config(VouchProperties.BackendType.HTTP, null, httpUrl()));
        try {
            seeded.assertVerdicts(validate(backend, seeded));
        } finally {
            ((AutoCloseable) backend).close();
        }
    }

    private static List<ActionVerdict> validate(CacheBackend backend, Seeded seeded) {
        CompletenessValidator validator = new CompletenessValidator(instance -> backend, LIMITS,
                new ValidationMetrics(new SimpleMeterRegistry()));
        return validator.validate(new ValidationRequest(Scope.of(""), Mode.EXISTENCE,
                        List.of(seeded.complete(), seeded.partial(), seeded.absent(), seeded.complete()), false))
                .collectList().block(TIMEOUT).stream()
                .sorted(Comparator.comparingInt(ActionVerdict::index)).toList();
    }

    private static VouchProperties.Backend config(VouchProperties.BackendType type, URI target, URI url) {
        return new VouchProperties.Backend("scenario", type, target, url, null, Map.of(), null, null,
                Duration.ofSeconds(10), 8);
    }

    /**
     * Two stored actions and one that never ran. Blobs are unique per run (a random salt), so a
     * long-lived cache container can serve several runs.
     */
    private Seeded seed() throws InterruptedException {
        String salt = UUID.randomUUID().toString();
        ManagedChannel channel = NettyChannelBuilder.forTarget(grpcAuthority()).usePlaintext().build();
        try {
            var cas = ContentAddressableStorageGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
            var ac = ActionCacheGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
            BatchUpdateBlobsRequest.Builder upload = BatchUpdateBlobsRequest.newBuilder();

            byte[] shared = bytes("shared " + salt);
            byte[] leaf = bytes("leaf " + salt);
            byte[] stdout = bytes("compiled " + salt);
            byte[] kept = bytes("kept " + salt);
            byte[] lost = bytes("lost " + salt);
            Directory sub = Directory.newBuilder().addFiles(file("leaf.txt", digest(leaf))).build();
            Tree tree = Tree.newBuilder()
                    .setRoot(Directory.newBuilder().addFiles(file("shared.txt", digest(shared)))
                            .addDirectories(DirectoryNode.newBuilder().setName("sub").setDigest(digest(sub.toByteArray()).toProto())))
                    .addChildren(sub).build();
            for (byte[] blob : List.of(shared, leaf, stdout, kept, tree.toByteArray())) {
                upload.addRequests(BatchUpdateBlobsRequest.Request.newBuilder()
                        .setDigest(digest(blob).toProto()).setData(ByteString.copyFrom(blob)));
            }
            BatchUpdateBlobsResponse uploaded = cas.batchUpdateBlobs(upload.build());
            assertThat(uploaded.getResponsesList()).allSatisfy(r -> assertThat(r.getStatus().getCode()).isZero());

            Digest complete = digest(bytes("complete action " + salt));
            ac.updateActionResult(UpdateActionResultRequest.newBuilder().setActionDigest(complete.toProto())
                    .setActionResult(ActionResult.newBuilder()
                            .addOutputFiles(OutputFile.newBuilder().setPath("out/shared.txt").setDigest(digest(shared).toProto()))
                            .addOutputDirectories(OutputDirectory.newBuilder().setPath("out/dir")
                                    .setTreeDigest(digest(tree.toByteArray()).toProto()))
                            .setStdoutDigest(digest(stdout).toProto()))
                    .build());
            // the lost blob is never uploaded: the cache holds an AC entry whose closure is incomplete
            Digest partial = digest(bytes("partial action " + salt));
            ac.updateActionResult(UpdateActionResultRequest.newBuilder().setActionDigest(partial.toProto())
                    .setActionResult(ActionResult.newBuilder()
                            .addOutputFiles(OutputFile.newBuilder().setPath("out/shared-too.txt").setDigest(digest(shared).toProto()))
                            .addOutputFiles(OutputFile.newBuilder().setPath("out/kept.txt").setDigest(digest(kept).toProto()))
                            .addOutputFiles(OutputFile.newBuilder().setPath("out/lost.txt").setDigest(digest(lost).toProto())))
                    .build());
            return new Seeded(complete, partial, digest(bytes("never ran " + salt)), digest(lost));
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    private record Seeded(Digest complete, Digest partial, Digest absent, Digest lost) {
        void assertVerdicts(List<ActionVerdict> verdicts) {
            assertThat(verdicts).extracting(ActionVerdict::verdict)
                    .containsExactly(Verdict.HIT, Verdict.PARTIAL, Verdict.MISS, Verdict.HIT);
            // shared.txt, the tree, leaf.txt, stdout
            assertThat(verdicts.get(0).blobsReferenced()).isEqualTo(4);
            assertThat(verdicts.get(1).missing()).containsExactly(
                    new BlobProblem(lost, BlobKind.OUTPUT_FILE, List.of("out/lost.txt")));
            assertThat(verdicts.get(2).reason()).isNull();
        }
    }

    private static FileNode file(String name, Digest digest) {
        return FileNode.newBuilder().setName(name).setDigest(digest.toProto()).build();
    }

    private static Digest digest(byte[] data) {
        return DigestFunction.SHA256.digestOf(data);
    }

    private static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }
}
