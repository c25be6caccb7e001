package dev.vouch.backend.bazelhttp;

import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.Directory;
import build.bazel.remote.execution.v2.DirectoryNode;
import build.bazel.remote.execution.v2.FileNode;
import build.bazel.remote.execution.v2.OutputDirectory;
import build.bazel.remote.execution.v2.OutputFile;
import build.bazel.remote.execution.v2.Tree;
import dev.vouch.backend.BlobNotFoundException;
import dev.vouch.backend.Scope;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.digest.DigestSet;
import dev.vouch.validation.ActionVerdict;
import dev.vouch.validation.BlobKind;
import dev.vouch.validation.BlobProblem;
import dev.vouch.validation.CompletenessValidator;
import dev.vouch.validation.Mode;
import dev.vouch.validation.ValidationMetrics;
import dev.vouch.validation.ValidationRequest;
import dev.vouch.validation.Verdict;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;
import reactor.test.StepVerifier;

/**
 * The {@code http} backend against the embedded cache's Bazel HTTP protocol over real loopback,
 * judged by the real engine: the verdicts of the embedded backend's scenarios, and the files an
 * operator deletes from the embedded store.
 */
// the embedded front stands in for a plain HTTP cache, which serves entries whatever they reference
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {"vouch.grpc.port=0", "vouch.front.check=NONE"})
class BazelHttpBackendTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(20);
    private static final Scope SCOPE = Scope.of("");
    private static final Path DATA = createTempDirectory().resolve("data");

    @DynamicPropertySource
    static void dataDir(DynamicPropertyRegistry registry) {
        registry.add("vouch.data-dir", DATA::toString);
    }

    @LocalServerPort
    int port;

    @Autowired
    VouchProperties properties;

    private BazelHttpBackend backend;
    private CompletenessValidator validator;

    // one action with every kind of reference: two files, stdout, and a directory output (as a Tree)
    private final Digest action = sha("action " + System.nanoTime());
    private final byte[] objectBytes = bytes("object " + System.nanoTime());
    private final byte[] headerBytes = bytes("header " + System.nanoTime());
    private final byte[] stdoutBytes = bytes("stdout " + System.nanoTime());
    private final byte[] leafBytes = bytes("leaf " + System.nanoTime());
    private Digest treeDigest;
    private byte[] treeBytes;

    @BeforeEach
    void fillCache() {
        backend = (BazelHttpBackend) new BazelHttpBackendFactory().create(new VouchProperties.Backend("remote",
                VouchProperties.BackendType.HTTP, null, URI.create("http://127.0.0.1:" + port + "/cache/"), null,
                Map.of(), null, null, Duration.ofSeconds(10), 4));
        validator = new CompletenessValidator(instance -> backend, properties.limits(),
                new ValidationMetrics(new SimpleMeterRegistry()));

        Directory child = Directory.newBuilder()
                .addFiles(FileNode.newBuilder().setName("leaf.txt").setDigest(digest(leafBytes).toProto())).build();
        Directory root = Directory.newBuilder()
                .addDirectories(DirectoryNode.newBuilder().setName("sub").setDigest(digest(child.toByteArray()).toProto()))
                .build();
        treeBytes = Tree.newBuilder().setRoot(root).addChildren(child).build().toByteArray();
        treeDigest = digest(treeBytes);
        ActionResult result = ActionResult.newBuilder()
                .addOutputFiles(OutputFile.newBuilder().setPath("out/a.o").setDigest(digest(objectBytes).toProto()))
                .addOutputFiles(OutputFile.newBuilder().setPath("out/a.h").setDigest(digest(headerBytes).toProto()))
                .addOutputDirectories(OutputDirectory.newBuilder().setPath("out/gen").setTreeDigest(treeDigest.toProto()))
                .setStdoutDigest(digest(stdoutBytes).toProto())
                .build();
        for (byte[] blob : List.of(objectBytes, headerBytes, stdoutBytes, leafBytes, treeBytes)) {
            put("/cache/cas/" + digest(blob).hash(), blob);
        }
        put("/cache/ac/" + action.hash(), result.toByteArray());
    }

    @AfterEach
    void closeBackend() throws Exception {
        backend.close();
    }

    @Test
    void completeEntryIsHit() {
        ActionVerdict verdict = validate();

        assertThat(verdict.verdict()).as(verdict.toString()).isEqualTo(Verdict.HIT);
        assertThat(verdict.backend()).isEqualTo("remote");
        assertThat(verdict.blobsReferenced()).isEqualTo(5);
    }

    @Test
    void deletedCasFilesArePartialWithEveryMissingBlobNamed() throws IOException {
        Files.delete(casFile(digest(headerBytes)));
        Files.delete(casFile(digest(stdoutBytes)));
        Files.delete(casFile(digest(leafBytes)));

        ActionVerdict verdict = validate();

        assertThat(verdict.verdict()).as(verdict.toString()).isEqualTo(Verdict.PARTIAL);
        assertThat(verdict.missing()).containsExactlyInAnyOrder(
                new BlobProblem(digest(headerBytes), BlobKind.OUTPUT_FILE, List.of("out/a.h")),
                new BlobProblem(digest(stdoutBytes), BlobKind.STDOUT, List.of("stdout")),
                new BlobProblem(digest(leafBytes), BlobKind.OUTPUT_DIRECTORY_FILE, List.of("out/gen/sub/leaf.txt")));
    }

    @Test
    void deletedTreeBlobIsPartial() throws IOException {
        Files.delete(casFile(treeDigest));

        ActionVerdict verdict = validate();

        assertThat(verdict.verdict()).as(verdict.toString()).isEqualTo(Verdict.PARTIAL);
        assertThat(verdict.missing()).extracting(BlobProblem::digest, BlobProblem::kind)
                .contains(org.assertj.core.groups.Tuple.tuple(treeDigest, BlobKind.OUTPUT_DIRECTORY_TREE));
    }

    @Test
    void deletedActionCacheFileIsMiss() throws IOException {
        Files.delete(DATA.resolve("ac").resolve(action.hash().substring(0, 2)).resolve(action.hash()));

        assertThat(validate().verdict()).isEqualTo(Verdict.MISS);
    }

    @Test
    void truncatedBlobCountsAsMissing() throws IOException {
        Files.write(casFile(digest(objectBytes)), new byte[] {1});

        StepVerifier.create(backend.findMissing(SCOPE, DigestSet.of(digest(objectBytes), digest(headerBytes))))
                .expectNext(DigestSet.of(digest(objectBytes)))
                .verifyComplete();
    }

    @Test
    void largeBlobReadsBackInPieces() {
        byte[] blob = new byte[5 << 20];
        new Random(3).nextBytes(blob);
        Digest digest = digest(blob);
        put("/cache/cas/" + digest.hash(), blob);

        ByteArrayOutputStream out = new ByteArrayOutputStream();
        StepVerifier.create(backend.readBlob(SCOPE, digest).doOnNext(b -> {
                    byte[] piece = new byte[b.remaining()];
                    b.get(piece);
                    out.writeBytes(piece);
                }).count())
                .assertNext(pieces -> assertThat(pieces).isGreaterThan(1))
                .expectComplete()
                .verify(TIMEOUT);
        assertThat(out.toByteArray()).isEqualTo(blob);
    }

    @Test
    void fetchHashesOffTheEventLoop() {
        byte[] blob = new byte[4 << 20];
        new Random(4).nextBytes(blob);
        Digest digest = digest(blob);
        put("/cache/cas/" + digest.hash(), blob);
        Digest large = sha("large action " + System.nanoTime());
        put("/cache/ac/" + large.hash(), ActionResult.newBuilder()
                .addOutputFiles(OutputFile.newBuilder().setPath("out/large").setDigest(digest.toProto())).build().toByteArray());
        java.util.concurrent.atomic.AtomicReference<String> judgedOn = new java.util.concurrent.atomic.AtomicReference<>();

        ActionVerdict verdict = validator.validate(new ValidationRequest(SCOPE, Mode.FETCH, List.of(large), false))
                .doOnNext(v -> judgedOn.set(Thread.currentThread().getName()))
                .single().block(TIMEOUT);

        assertThat(verdict.verdict()).as(verdict.toString()).isEqualTo(Verdict.HIT);
        // the verdict follows the last chunk's hash: on the event loop that delivered it, it would be reactor-http-nio
        assertThat(judgedOn.get()).startsWith("boundedElastic-");
    }

    @Test
    void otherDigestFunctionIsUnsupportedAndSaysWhy() {
        Digest sha1Action = DigestFunction.SHA1.digestOf(bytes("an action"));

        ActionVerdict verdict = validator.validate(new ValidationRequest(new Scope("", DigestFunction.SHA1),
                Mode.EXISTENCE, List.of(sha1Action), false)).single().block(TIMEOUT);

        assertThat(verdict.verdict()).isEqualTo(Verdict.UNKNOWN);
        assertThat(verdict.reason()).isEqualTo("backend remote does not support digest function SHA1: "
                + "the Bazel HTTP cache protocol addresses blobs by SHA256 only");
    }

    @Test
    void absentBlobReadIsNotFound() {
        Digest absent = sha("not there");

        StepVerifier.create(backend.readBlob(SCOPE, absent))
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(BlobNotFoundException.class))
                .verify(TIMEOUT);
    }

    @Test
    void emptyBlobIsPresentWithoutAsking() {
        StepVerifier.create(backend.findMissing(SCOPE, DigestSet.of(digest(new byte[0]))))
                .expectNext(DigestSet.empty())
                .verifyComplete();
        StepVerifier.create(backend.readBlob(SCOPE, digest(new byte[0]))).expectComplete().verify(TIMEOUT);
    }

    private ActionVerdict validate() {
        return validator.validate(new ValidationRequest(SCOPE, Mode.EXISTENCE, List.of(action), false))
                .single().block(TIMEOUT);
    }

    private void put(String path, byte[] body) {
        WebTestClient.bindToServer().baseUrl("http://127.0.0.1:" + port).responseTimeout(TIMEOUT).build()
                .put().uri(path).bodyValue(body).exchange().expectStatus().isOk();
    }

    private static Path casFile(Digest digest) {
        return DATA.resolve("cas").resolve(digest.hash().substring(0, 2)).resolve(digest.hash());
    }

    private static Digest digest(byte[] bytes) {
        return DigestFunction.SHA256.digestOf(bytes);
    }

    private static Digest sha(String text) {
        return digest(bytes(text));
    }

    private static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    private static Path createTempDirectory() {
        try {
            return Files.createTempDirectory("vouch-http-backend-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
