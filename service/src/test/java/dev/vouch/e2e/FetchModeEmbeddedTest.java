package dev.vouch.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.Directory;
import build.bazel.remote.execution.v2.FileNode;
import build.bazel.remote.execution.v2.OutputDirectory;
import build.bazel.remote.execution.v2.OutputFile;
import build.bazel.remote.execution.v2.Tree;
import dev.vouch.backend.embedded.BlobStore;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.webtestclient.autoconfigure.AutoConfigureWebTestClient;
import org.springframework.http.MediaType;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Mode FETCH through the whole application: REST in, the embedded store on disk underneath, and
 * damage done the way it happens in production, to the files of the normative layout.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
@AutoConfigureWebTestClient
class FetchModeEmbeddedTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    private static final JsonMapper JSON = JsonMapper.builder().build();

    @TempDir
    static Path dataDir;

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry registry) {
        registry.add("vouch.grpc.port", () -> "0");
        registry.add("vouch.data-dir", () -> dataDir.toString());
    }

    @Autowired
    WebTestClient client;

    @Autowired
    BlobStore store;

    @Test
    void flippedByteOnDiskIsCorruptOnlyInFetch() throws IOException {
        Digest rotten = put("object code that will rot on disk, ".repeat(100));
        Digest shared = put("a header both actions produce");
        Digest healthyOwn = put("healthy object code");
        Digest damaged = action("damaged", ActionResult.newBuilder()
                .addOutputFiles(file("bazel-out/bin/rotten.o", rotten))
                .addOutputFiles(file("bazel-out/bin/shared.h", shared)).build());
        Digest healthy = action("healthy", ActionResult.newBuilder()
                .addOutputFiles(file("bazel-out/bin/healthy.o", healthyOwn))
                .addOutputFiles(file("bazel-out/bin/shared.h", shared)).build());

        flipOneByte(casFile(rotten));

        JsonNode fetch = validate("FETCH", damaged, healthy);
        JsonNode first = fetch.get("results").get(0);
        assertThat(first.get("verdict").asString()).isEqualTo("PARTIAL");
        assertThat(first.get("missing").isEmpty()).isTrue();
        assertThat(first.get("corrupt")).hasSize(1);
        assertBlob(first.get("corrupt").get(0), rotten, "OUTPUT_FILE", "bazel-out/bin/rotten.o");
        assertThat(fetch.get("results").get(1).get("verdict").asString()).isEqualTo("HIT");
        assertThat(fetch.get("results").get(1).get("corrupt").isEmpty()).isTrue();
        assertThat(fetch.get("summary").get("PARTIAL").asInt()).isEqualTo(1);
        assertThat(fetch.get("summary").get("HIT").asInt()).isEqualTo(1);

        // the file is there with its size, so an existence check cannot tell
        JsonNode existence = validate("EXISTENCE", damaged, healthy);
        assertThat(existence.get("results").get(0).get("verdict").asString()).isEqualTo("HIT");
        assertThat(existence.get("results").get(1).get("verdict").asString()).isEqualTo("HIT");
    }

    @Test
    void deletedFileIsMissingAndDamagedTreeIsCorrupt() throws IOException {
        Digest inTree = put("a generated source file");
        Tree tree = Tree.newBuilder().setRoot(Directory.newBuilder()
                .addFiles(FileNode.newBuilder().setName("gen.c").setDigest(inTree.toProto()))).build();
        Digest treeDigest = put(tree.toByteArray());
        Digest evicted = put("an output an operator deleted");
        Digest action = action("generate", ActionResult.newBuilder()
                .addOutputFiles(file("bazel-out/bin/evicted", evicted))
                .addOutputDirectories(OutputDirectory.newBuilder().setPath("bazel-out/bin/gen")
                        .setTreeDigest(treeDigest.toProto())).build());

        Files.delete(casFile(evicted));
        flipOneByte(casFile(treeDigest));

        JsonNode result = validate("FETCH", action).get("results").get(0);
        assertThat(result.get("verdict").asString()).isEqualTo("PARTIAL");
        assertThat(result.get("missing")).hasSize(1);
        assertBlob(result.get("missing").get(0), evicted, "OUTPUT_FILE", "bazel-out/bin/evicted");
        assertThat(result.get("corrupt")).hasSize(1);
        assertBlob(result.get("corrupt").get(0), treeDigest, "OUTPUT_DIRECTORY_TREE", "bazel-out/bin/gen");
    }

    private JsonNode validate(String mode, Digest... actions) {
        StringBuilder body = new StringBuilder("{\"mode\": \"" + mode + "\", \"actions\": [");
        for (int i = 0; i < actions.length; i++) {
            body.append(i == 0 ? "" : ", ").append('"').append(actions[i]).append('"');
        }
        body.append("]}");
        byte[] response = client.mutate().responseTimeout(TIMEOUT).build()
                .post().uri("/v1/validate").contentType(MediaType.APPLICATION_JSON).bodyValue(body.toString())
                .exchange()
                .expectStatus().isOk()
                .expectBody().returnResult().getResponseBody();
        return JSON.readTree(response);
    }

    private static void assertBlob(JsonNode blob, Digest digest, String kind, String path) {
        assertThat(blob.get("hash").asString()).isEqualTo(digest.hash());
        assertThat(blob.get("sizeBytes").asLong()).isEqualTo(digest.sizeBytes());
        assertThat(blob.get("kind").asString()).isEqualTo(kind);
        assertThat(blob.get("paths").valueStream().map(JsonNode::asString).toList()).isEqualTo(List.of(path));
    }

    private Digest put(String content) {
        return put(content.getBytes(StandardCharsets.UTF_8));
    }

    private Digest put(byte[] content) {
        Digest digest = DigestFunction.SHA256.digestOf(content);
        store.write(digest, content).block(TIMEOUT);
        return digest;
    }

    private Digest action(String name, ActionResult result) {
        Digest action = DigestFunction.SHA256.digestOf(("action " + name).getBytes(StandardCharsets.UTF_8));
        store.putActionResult(action, result.toByteArray()).block(TIMEOUT);
        return action;
    }

    private static OutputFile file(String path, Digest digest) {
        return OutputFile.newBuilder().setPath(path).setDigest(digest.toProto()).build();
    }

    /** SPEC "The embedded backend": {@code <data>/cas/<hh>/<hash>}. */
    static Path casFile(Path dataDir, Digest digest) {
        return dataDir.resolve("cas").resolve(digest.hash().substring(0, 2)).resolve(digest.hash());
    }

    private Path casFile(Digest digest) {
        Path file = casFile(dataDir, digest);
        assertThat(file).exists().hasSize(digest.sizeBytes());
        return file;
    }

    /** Inverts the byte in the middle of {@code file}, in place: same length, different content. */
    static void flipOneByte(Path file) throws IOException {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            long middle = channel.size() / 2;
            ByteBuffer one = ByteBuffer.allocate(1);
            channel.read(one, middle);
            one.put(0, (byte) ~one.get(0)).rewind();
            channel.write(one, middle);
        }
    }
}
