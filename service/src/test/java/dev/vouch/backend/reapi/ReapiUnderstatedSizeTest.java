package dev.vouch.backend.reapi;

import static dev.vouch.backend.reapi.ReapiTestServer.TIMEOUT;
import static dev.vouch.backend.reapi.ReapiTestServer.config;
import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.Directory;
import build.bazel.remote.execution.v2.FileNode;
import build.bazel.remote.execution.v2.OutputDirectory;
import build.bazel.remote.execution.v2.OutputFile;
import build.bazel.remote.execution.v2.Tree;
import dev.vouch.backend.Scope;
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
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A server that answers a blob far longer than its digest says, over loopback: the {@code grpc}
 * backend stops reading at the digest's size (a BatchReadBlobs answer too large is refused before
 * it is buffered, ByteStream.Read is cancelled after the first chunk past it) and the blob is
 * corrupt: PARTIAL, never UNKNOWN or HIT.
 */
class ReapiUnderstatedSizeTest {
    private static final long MAX_BATCH = 64 * 1024;
    private static final int LIE_BYTES = 16 << 20;

    private final ReapiTestServer server = ReapiTestServer.start(MAX_BATCH);
    private final ReapiBackend backend = new ReapiBackend(config(server.target()));

    @AfterEach
    void close() throws Exception {
        backend.close();
        server.close();
    }

    @Test
    void batchReadOfUnderstatedBlobIsCorrupt() {
        Digest understated = new Digest(sha256("the real blob").hash(), 10);
        server.lie(understated, new byte[LIE_BYTES]);
        Digest action = server.putAction("batch", ActionResult.newBuilder()
                .addOutputFiles(OutputFile.newBuilder().setPath("out/a").setDigest(understated.toProto())).build());

        ActionVerdict verdict = validate(Mode.FETCH, action);

        assertThat(verdict.verdict()).as(verdict.toString()).isEqualTo(Verdict.PARTIAL);
        assertThat(verdict.corrupt()).containsExactly(new BlobProblem(understated, BlobKind.OUTPUT_FILE, List.of("out/a")));
        assertThat(verdict.missing()).isEmpty();
        assertThat(server.calls("BatchReadBlobs")).isEqualTo(1);
    }

    @Test
    void streamedReadOfUnderstatedBlobStopsAtTheDigestSize() {
        // above the batch limit, so it is streamed
        Digest understated = new Digest(sha256("the real large blob").hash(), 2 * MAX_BATCH);
        server.lie(understated, new byte[LIE_BYTES]);
        Digest action = server.putAction("stream", ActionResult.newBuilder()
                .addOutputFiles(OutputFile.newBuilder().setPath("out/big").setDigest(understated.toProto())).build());

        ActionVerdict verdict = validate(Mode.FETCH, action);

        assertThat(verdict.verdict()).as(verdict.toString()).isEqualTo(Verdict.PARTIAL);
        assertThat(verdict.corrupt()).extracting(BlobProblem::digest).containsExactly(understated);
        // what HTTP/2 lets a server send unasked (a 1 MiB window), not the 16 MiB it had
        assertThat(server.sentBytes("Read")).isLessThan(2 << 20);
    }

    @Test
    void understatedTreeIsCorruptInExistenceMode() {
        Digest file = server.put("a file".getBytes(StandardCharsets.UTF_8));
        byte[] tree = Tree.newBuilder().setRoot(Directory.newBuilder()
                .addFiles(FileNode.newBuilder().setName("f").setDigest(file.toProto()))).build().toByteArray();
        Digest understated = new Digest(sha256(tree).hash(), 2 * MAX_BATCH);
        byte[] lie = Arrays.copyOf(tree, LIE_BYTES);
        server.lie(understated, lie);
        Digest action = server.putAction("tree", ActionResult.newBuilder()
                .addOutputDirectories(OutputDirectory.newBuilder().setPath("out/dir").setTreeDigest(understated.toProto()))
                .build());

        ActionVerdict verdict = validate(Mode.EXISTENCE, action);

        assertThat(verdict.verdict()).as(verdict.toString()).isEqualTo(Verdict.PARTIAL);
        assertThat(verdict.corrupt())
                .containsExactly(new BlobProblem(understated, BlobKind.OUTPUT_DIRECTORY_TREE, List.of("out/dir")));
        assertThat(server.sentBytes("Read")).isLessThan(2 << 20);
    }

    private ActionVerdict validate(Mode mode, Digest action) {
        CompletenessValidator validator = new CompletenessValidator(instance -> backend,
                VouchProperties.Limits.defaults(), new ValidationMetrics(new SimpleMeterRegistry()));
        List<ActionVerdict> verdicts = validator.validate(new ValidationRequest(Scope.of(""), mode, List.of(action),
                false)).collectList().block(TIMEOUT);
        assertThat(verdicts).hasSize(1);
        return verdicts.get(0);
    }

    private static Digest sha256(String text) {
        return sha256(text.getBytes(StandardCharsets.UTF_8));
    }

    private static Digest sha256(byte[] bytes) {
        return DigestFunction.SHA256.digestOf(bytes);
    }
}
