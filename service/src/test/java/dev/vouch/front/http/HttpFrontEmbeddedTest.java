package dev.vouch.front.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.OutputFile;
import dev.vouch.backend.embedded.BlobStore;
import dev.vouch.backend.embedded.DiskBlobStore;
import dev.vouch.backend.embedded.OpenFiles;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.digest.Hasher;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.net.Socket;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
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

/** The cache front's Bazel HTTP cache protocol over the embedded store, on the running app's real HTTP port. */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        // no presence window: these tests delete files right after a lookup confirmed them (see PresenceWindowTest)
        properties = {"vouch.grpc.port=0", "vouch.embedded.upload-idle-timeout=2s", "vouch.front.presence-ttl=0s"})
class HttpFrontEmbeddedTest {
    /** Static, not a JUnit TempDir: Spring reads the data directory before JUnit would inject one. */
    private static final Path DATA = createTempDirectory().resolve("data");

    @DynamicPropertySource
    static void dataDir(DynamicPropertyRegistry registry) {
        registry.add("vouch.data-dir", DATA::toString);
    }

    @LocalServerPort
    int port;

    @Autowired
    BlobStore store;

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
        byte[] output = {1, 2};
        // the entry is served only with its output present (issue 9)
        client().put().uri("/cache/cas/" + DigestFunction.SHA256.digestOf(output).hash()).bodyValue(output).exchange()
                .expectStatus().isOk();
        byte[] result = ActionResult.newBuilder().setExitCode(0)
                .addOutputFiles(OutputFile.newBuilder().setPath("bazel-out/a.o")
                        .setDigest(DigestFunction.SHA256.digestOf(output).toProto()))
                .build().toByteArray();

        client().put().uri("/cache/ac/" + action.hash()).bodyValue(result).exchange().expectStatus().isOk();

        client().get().uri("/cache/ac/" + action.hash()).exchange().expectStatus().isOk()
                .expectBody(byte[].class).isEqualTo(result);
        client().head().uri("/cache/ac/" + action.hash()).exchange().expectStatus().isOk()
                .expectHeader().contentLength(result.length);
        assertThat(DATA.resolve("ac").resolve(action.hash().substring(0, 2)).resolve(action.hash())).hasBinaryContent(result);
    }

    /** The defect of issue 9: an entry whose output blob was evicted is not a cache hit, so it is not served. */
    @Test
    void actionResultWhoseBlobWasEvictedIsNotFound() throws IOException {
        byte[] output = "evicted output".getBytes(StandardCharsets.UTF_8);
        Digest blob = DigestFunction.SHA256.digestOf(output);
        client().put().uri("/cache/cas/" + blob.hash()).bodyValue(output).exchange().expectStatus().isOk();
        Digest action = DigestFunction.SHA256.digestOf("an action whose output is evicted".getBytes(StandardCharsets.UTF_8));
        byte[] result = ActionResult.newBuilder()
                .addOutputFiles(OutputFile.newBuilder().setPath("bazel-out/evicted.o").setDigest(blob.toProto()))
                .build().toByteArray();
        client().put().uri("/cache/ac/" + action.hash()).bodyValue(result).exchange().expectStatus().isOk();
        client().get().uri("/cache/ac/" + action.hash()).exchange().expectStatus().isOk();

        Files.delete(casFile(blob.hash()));

        client().get().uri("/cache/ac/" + action.hash()).exchange().expectStatus().isNotFound();
        client().head().uri("/cache/ac/" + action.hash()).exchange().expectStatus().isNotFound();
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

    /** A PUT whose client stops sending: answered 408 after the idle timeout, its temporary file gone. */
    @Test
    void stalledPutIsAbortedAndFreesItsTempFile() throws Exception {
        assumeTrue(OpenFiles.visible(), "needs /proc/self/fd");
        byte[] blob = new byte[100_000];
        new Random(11).nextBytes(blob);
        String hash = DigestFunction.SHA256.digestOf(blob).hash();
        Path tmp = DATA.resolve("tmp");
        try (Socket socket = connect()) {
            OutputStream out = socket.getOutputStream();
            out.write(("PUT /cache/cas/" + hash + " HTTP/1.1\r\nHost: localhost\r\nContent-Length: " + blob.length
                    + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(blob, 0, 10_000);
            out.flush();
            await().atMost(Duration.ofSeconds(10)).until(() -> OpenFiles.filesUnder(tmp).size() == 1);

            // nothing more is sent; the server gives up after vouch.embedded.upload-idle-timeout
            assertThat(statusLine(socket.getInputStream())).startsWith("HTTP/1.1 408");
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> OpenFiles.filesUnder(tmp).isEmpty() && OpenFiles.under(tmp).isEmpty());
        assertThat(casFile(hash)).doesNotExist();
    }

    /** A blob larger than the whole store is refused when its headers arrive, before any byte is written. */
    @Test
    void putLargerThanTheStoreIsInsufficientStorage() throws Exception {
        String hash = DigestFunction.SHA256.digestOf("twenty gigabytes".getBytes(StandardCharsets.UTF_8)).hash();
        try (Socket socket = connect()) {
            socket.getOutputStream().write(("PUT /cache/cas/" + hash + " HTTP/1.1\r\nHost: localhost\r\nContent-Length: "
                    + (20L << 30) + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            socket.getOutputStream().flush();

            InputStream in = socket.getInputStream();
            assertThat(statusLine(in)).startsWith("HTTP/1.1 507");
            assertThat(body(in, headers(in))).contains("vouch.embedded.max-size-bytes");
        }
        assertThat(OpenFiles.filesUnder(DATA.resolve("tmp"))).isEmpty();
    }

    /** HEAD answers from the file's length and GET refuses an entry no ActionResult can be: neither reads it. */
    @Test
    void headAndGetOfAHugeActionCacheEntryReadNothing() throws IOException {
        String hash = DigestFunction.SHA256.digestOf("an entry blown up by hand".getBytes(StandardCharsets.UTF_8)).hash();
        Path entry = DATA.resolve("ac").resolve(hash.substring(0, 2)).resolve(hash);
        sparseFile(entry, 256L << 20);
        long before = disk().bytesRead();

        // HEAD answers what GET would: an entry Vouch cannot read is not known to be complete
        client().head().uri("/cache/ac/" + hash).exchange().expectStatus().isEqualTo(503);
        client().get().uri("/cache/ac/" + hash).exchange().expectStatus().isEqualTo(503)
                .expectHeader().contentType(MediaType.APPLICATION_PROBLEM_JSON);

        assertThat(disk().bytesRead() - before).isZero();
        Files.delete(entry);
    }

    /**
     * A GET of a 1 GiB blob streams: with a client that took 1 MiB and stopped reading, the store
     * has read a bounded window ahead (socket buffers and a few chunks), never the whole file.
     */
    @Test
    void getOfAHugeBlobStreamsInBoundedChunks() throws Exception {
        String hash = DigestFunction.SHA256.digestOf("stands in for 1 GiB".getBytes(StandardCharsets.UTF_8)).hash();
        sparseFile(casFile(hash), 1L << 30);
        long before = disk().bytesRead();
        try (Socket socket = connect()) {
            socket.setReceiveBufferSize(64 << 10);
            socket.getOutputStream().write(("GET /cache/cas/" + hash + " HTTP/1.1\r\nHost: localhost\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            InputStream in = socket.getInputStream();
            assertThat(statusLine(in)).startsWith("HTTP/1.1 200");
            assertThat(headers(in)).containsIgnoringCase("content-length: " + (1L << 30));
            assertThat(in.readNBytes(1 << 20)).hasSize(1 << 20);

            await().during(Duration.ofMillis(1500)).atMost(Duration.ofSeconds(10))
                    .until(() -> disk().bytesRead() - before < 64L << 20);
        }
        Files.delete(casFile(hash));
    }

    private DiskBlobStore disk() {
        return (DiskBlobStore) store;
    }

    private Socket connect() throws IOException {
        Socket socket = new Socket("127.0.0.1", port);
        socket.setSoTimeout(10_000);
        return socket;
    }

    private static String statusLine(InputStream in) throws IOException {
        StringBuilder line = new StringBuilder();
        for (int c = in.read(); c >= 0 && c != '\n'; c = in.read()) {
            line.append((char) c);
        }
        return line.toString().trim();
    }

    private static String headers(InputStream in) throws IOException {
        StringBuilder text = new StringBuilder();
        while (!text.toString().endsWith("\r\n\r\n")) {
            int c = in.read();
            if (c < 0) {
                break;
            }
            text.append((char) c);
        }
        return text.toString();
    }

    private static String body(InputStream in, String headers) throws IOException {
        java.util.regex.Matcher length = java.util.regex.Pattern.compile("(?im)^content-length:\\s*(\\d+)").matcher(headers);
        assertThat(length.find()).as("Content-Length in " + headers).isTrue();
        return new String(in.readNBytes(Integer.parseInt(length.group(1))), StandardCharsets.UTF_8);
    }

    private static void sparseFile(Path file, long size) throws IOException {
        Files.createDirectories(file.getParent());
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(size);
        }
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
