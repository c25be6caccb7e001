package dev.vouch.backend.embedded.http;

import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.OutputFile;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.digest.Hasher;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferUtils;
import org.springframework.core.io.buffer.DefaultDataBufferFactory;
import org.springframework.http.MediaType;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;
import reactor.core.publisher.Flux;

/** The embedded cache's Bazel HTTP cache protocol, over the running app's real HTTP port. */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = "vouch.grpc.port=0")
class EmbeddedHttpCacheTest {
    /** Static, not a JUnit TempDir: Spring reads the data directory before JUnit would inject one. */
    private static final Path DATA = createTempDirectory().resolve("data");

    @DynamicPropertySource
    static void dataDir(DynamicPropertyRegistry registry) {
        registry.add("vouch.data-dir", DATA::toString);
    }

    @LocalServerPort
    int port;

    @Test
    void blobRoundTrip() {
        byte[] blob = "compiled object".getBytes(StandardCharsets.UTF_8);
        Digest digest = DigestFunction.SHA256.digestOf(blob);

        client().put().uri("/cache/cas/" + digest.hash()).bodyValue(blob).exchange().expectStatus().isOk();

        client().head().uri("/cache/cas/" + digest.hash()).exchange().expectStatus().isOk()
                .expectHeader().contentLength(blob.length);
        client().get().uri("/cache/cas/" + digest.hash()).exchange().expectStatus().isOk()
                .expectBody(byte[].class).isEqualTo(blob);
        assertThat(casFile(digest.hash())).hasBinaryContent(blob);
    }

    @Test
    void actionResultRoundTrip() {
        Digest action = DigestFunction.SHA256.digestOf("an action".getBytes(StandardCharsets.UTF_8));
        byte[] result = ActionResult.newBuilder().setExitCode(0)
                .addOutputFiles(OutputFile.newBuilder().setPath("bazel-out/a.o")
                        .setDigest(DigestFunction.SHA256.digestOf(new byte[] {1, 2}).toProto()))
                .build().toByteArray();

        client().put().uri("/cache/ac/" + action.hash()).bodyValue(result).exchange().expectStatus().isOk();

        client().get().uri("/cache/ac/" + action.hash()).exchange().expectStatus().isOk()
                .expectBody(byte[].class).isEqualTo(result);
        client().head().uri("/cache/ac/" + action.hash()).exchange().expectStatus().isOk()
                .expectHeader().contentLength(result.length);
        assertThat(DATA.resolve("ac").resolve(action.hash().substring(0, 2)).resolve(action.hash())).hasBinaryContent(result);
    }

    @Test
    void absentEntriesAreNotFound() {
        String hash = DigestFunction.SHA256.digestOf("never stored".getBytes(StandardCharsets.UTF_8)).hash();

        for (String area : new String[] {"ac", "cas"}) {
            client().get().uri("/cache/" + area + "/" + hash).exchange().expectStatus().isNotFound();
            client().head().uri("/cache/" + area + "/" + hash).exchange().expectStatus().isNotFound();
        }
    }

    @Test
    void deletedFileIsNotFound() throws IOException {
        byte[] blob = "evicted soon".getBytes(StandardCharsets.UTF_8);
        String hash = DigestFunction.SHA256.digestOf(blob).hash();
        client().put().uri("/cache/cas/" + hash).bodyValue(blob).exchange().expectStatus().isOk();

        Files.delete(casFile(hash));

        client().head().uri("/cache/cas/" + hash).exchange().expectStatus().isNotFound();
        client().get().uri("/cache/cas/" + hash).exchange().expectStatus().isNotFound();
    }

    @Test
    void emptyBlobIsAlwaysPresent() {
        String empty = DigestFunction.SHA256.digestOf(new byte[0]).hash();

        client().head().uri("/cache/cas/" + empty).exchange().expectStatus().isOk().expectHeader().contentLength(0);
        client().get().uri("/cache/cas/" + empty).exchange().expectStatus().isOk().expectBody().isEmpty();
    }

    @Test
    void digestMismatchStoresNothing() {
        String claimed = DigestFunction.SHA256.digestOf("the real bytes".getBytes(StandardCharsets.UTF_8)).hash();
        byte[] other = "other bytes!!!".getBytes(StandardCharsets.UTF_8);

        client().put().uri("/cache/cas/" + claimed).bodyValue(other).exchange()
                .expectStatus().isBadRequest()
                .expectHeader().contentType(MediaType.APPLICATION_PROBLEM_JSON)
                .expectBody().jsonPath("$.detail").value(detail -> assertThat((String) detail)
                        .contains(claimed).contains("hashes to").contains("nothing was stored"));

        assertThat(casFile(claimed)).doesNotExist();
        client().head().uri("/cache/cas/" + claimed).exchange().expectStatus().isNotFound();
    }

    @Test
    void badHashNamesThePathSegment() {
        String upper = "A".repeat(64);
        client().get().uri("/cache/cas/" + upper).exchange()
                .expectStatus().isBadRequest()
                .expectHeader().contentType(MediaType.APPLICATION_PROBLEM_JSON)
                .expectBody().jsonPath("$.detail").value(detail -> assertThat((String) detail)
                        .contains("path segment hash '" + upper + "'").contains("64 lowercase hex"));
        client().put().uri("/cache/ac/abc123").bodyValue(new byte[] {1}).exchange().expectStatus().isBadRequest()
                .expectBody().jsonPath("$.status").isEqualTo(400);
        client().head().uri("/cache/cas/not-a-hash").exchange().expectStatus().isBadRequest();
    }

    @Test
    void blobWithoutContentLengthIsRefused() {
        byte[] blob = "streamed without a length".getBytes(StandardCharsets.UTF_8);
        String hash = DigestFunction.SHA256.digestOf(blob).hash();
        // a Flux body without a declared length goes out chunked
        Flux<DataBuffer> chunked = Flux.just(DefaultDataBufferFactory.sharedInstance.wrap(blob));

        client().put().uri("/cache/cas/" + hash).body(chunked, DataBuffer.class).exchange()
                .expectStatus().isEqualTo(411)
                .expectBody().jsonPath("$.detail").value(detail -> assertThat((String) detail).contains("Content-Length"));
        assertThat(casFile(hash)).doesNotExist();
    }

    @Test
    void actionResultThatDoesNotParseIsRefused() {
        String hash = DigestFunction.SHA256.digestOf("garbage action".getBytes(StandardCharsets.UTF_8)).hash();

        client().put().uri("/cache/ac/" + hash).bodyValue(new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff})
                .exchange().expectStatus().isBadRequest();
        client().get().uri("/cache/ac/" + hash).exchange().expectStatus().isNotFound();
    }

    /** 20 MiB, far above the REST API's 4 MiB body limit, uploaded in 64 KiB pieces and read back. */
    @Test
    void largeBlobStreamsBothWays() throws Exception {
        int size = 20 << 20;
        byte[] blob = new byte[size];
        new Random(7).nextBytes(blob);
        Digest digest = DigestFunction.SHA256.digestOf(blob);
        int piece = 64 << 10;
        Flux<DataBuffer> pieces = Flux.range(0, size / piece)
                .map(i -> DefaultDataBufferFactory.sharedInstance.wrap(java.nio.ByteBuffer.wrap(blob, i * piece, piece)));

        client().put().uri("/cache/cas/" + digest.hash()).contentLength(size).body(pieces, DataBuffer.class)
                .exchange().expectStatus().isOk();

        assertThat(Files.size(casFile(digest.hash()))).isEqualTo(size);
        Hasher hasher = DigestFunction.SHA256.newHasher();
        Flux<DataBuffer> body = client().get().uri("/cache/cas/" + digest.hash()).exchange()
                .expectStatus().isOk().expectHeader().contentLength(size)
                .returnResult(DataBuffer.class).getResponseBody();
        long received = body.map(b -> {
            int n = b.readableByteCount();
            byte[] bytes = new byte[n];
            b.read(bytes);
            DataBufferUtils.release(b);
            hasher.update(bytes);
            return (long) n;
        }).reduce(0L, Long::sum).block(Duration.ofSeconds(60));
        assertThat(received).isEqualTo(size);
        assertThat(hasher.finish()).isEqualTo(digest);
    }

    private WebTestClient client() {
        return WebTestClient.bindToServer().baseUrl("http://127.0.0.1:" + port)
                .responseTimeout(Duration.ofSeconds(60)).build();
    }

    private static Path casFile(String hash) {
        return DATA.resolve("cas").resolve(hash.substring(0, 2)).resolve(hash);
    }

    private static Path createTempDirectory() {
        try {
            return Files.createTempDirectory("vouch-http-cache-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
