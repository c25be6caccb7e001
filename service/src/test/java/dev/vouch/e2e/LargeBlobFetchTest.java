package dev.vouch.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.OutputFile;
import dev.vouch.VouchApplication;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.digest.Hasher;
import java.io.File;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * FETCH streams: the service, in its own JVM with a 256 MiB heap, verifies a 256 MiB blob (and
 * then finds it corrupt after one byte changes), which it could not do if it ever held the blob.
 */
class LargeBlobFetchTest {
    private static final long BLOB_BYTES = 256L * 1024 * 1024;
    private static final int BLOCK = 1024 * 1024;
    private static final String OUTPUT_PATH = "bazel-out/k8-opt/bin/release.tar";
    private static final JsonMapper JSON = JsonMapper.builder().build();

    @TempDir
    Path root;

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    private Process service;
    private Path serviceLog;

    @AfterEach
    void stopService() throws InterruptedException {
        if (service != null) {
            service.destroy();
            if (!service.waitFor(20, TimeUnit.SECONDS)) {
                service.destroyForcibly().waitFor(20, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void blobLargerThanTheHeapIsVerified() throws Exception {
        Path data = root.resolve("data");
        Digest blob = writeLargeBlob(data);
        Digest action = DigestFunction.SHA256.digestOf("package the release".getBytes(StandardCharsets.UTF_8));
        writeActionResult(data, action, ActionResult.newBuilder()
                .addOutputFiles(OutputFile.newBuilder().setPath(OUTPUT_PATH).setDigest(blob.toProto())).build());

        int httpPort = freePort();
        try {
            service = startService(data, httpPort, freePort());
            awaitReady(httpPort);

            JsonNode hit = fetch(httpPort, action);
            assertThat(hit.get("verdict").asString()).isEqualTo("HIT");
            assertThat(hit.get("bytesReferenced").asLong()).isEqualTo(BLOB_BYTES);
            assertThat(hit.get("blobsReferenced").asLong()).isEqualTo(1);

            FetchModeEmbeddedTest.flipOneByte(FetchModeEmbeddedTest.casFile(data, blob));

            JsonNode partial = fetch(httpPort, action);
            assertThat(partial.get("verdict").asString()).isEqualTo("PARTIAL");
            assertThat(partial.get("missing").isEmpty()).isTrue();
            assertThat(partial.get("corrupt")).hasSize(1);
            JsonNode corrupt = partial.get("corrupt").get(0);
            assertThat(corrupt.get("hash").asString()).isEqualTo(blob.hash());
            assertThat(corrupt.get("sizeBytes").asLong()).isEqualTo(BLOB_BYTES);
            assertThat(corrupt.get("kind").asString()).isEqualTo("OUTPUT_FILE");
            assertThat(corrupt.get("paths").get(0).asString()).isEqualTo(OUTPUT_PATH);
        } catch (Throwable failure) {
            throw new AssertionError(failure.getMessage() + "\n--- last lines of the service's log ("
                    + serviceLog + ") ---\n" + tail(serviceLog, 40), failure);
        }
    }

    /**
     * A deterministic pseudo-random 256 MiB blob in the store's normative layout, written and hashed
     * one block at a time so this JVM never holds it either.
     */
    private Digest writeLargeBlob(Path data) throws IOException {
        // outside <data>/tmp, which the store empties when it starts
        Path staging = root.resolve("blob.staging");
        byte[] block = new byte[BLOCK];
        new Random(256).nextBytes(block);
        Hasher hasher = DigestFunction.SHA256.newHasher();
        try (FileChannel out = FileChannel.open(staging, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            for (int i = 0; i < BLOB_BYTES / BLOCK; i++) {
                // no two blocks alike, so a reader that skipped or repeated one would hash differently
                ByteBuffer.wrap(block).putInt(0, i);
                hasher.update(block);
                ByteBuffer buffer = ByteBuffer.wrap(block);
                while (buffer.hasRemaining()) {
                    out.write(buffer);
                }
            }
        }
        Digest digest = hasher.finish();
        Path target = FetchModeEmbeddedTest.casFile(data, digest);
        Files.createDirectories(target.getParent());
        Files.move(staging, target);
        return digest;
    }

    private static void writeActionResult(Path data, Digest action, ActionResult result) throws IOException {
        Path file = data.resolve("ac").resolve(action.hash().substring(0, 2)).resolve(action.hash());
        Files.createDirectories(file.getParent());
        Files.write(file, result.toByteArray());
    }

    private Process startService(Path data, int httpPort, int grpcPort) throws IOException {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        List<String> command = new ArrayList<>(List.of(java.toString(), "-Xmx256m", "-cp", applicationClassPath(),
                VouchApplication.class.getName(),
                "--server.port=" + httpPort,
                "--vouch.grpc.port=" + grpcPort,
                "--vouch.data-dir=" + data));
        serviceLog = root.resolve("service.log");
        return new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(serviceLog.toFile())
                .start();
    }

    /**
     * This JVM's class path without the test classes: the application's component scan would
     * otherwise pick up the tests' own configurations (stub validators and the like).
     */
    private static String applicationClassPath() {
        return Arrays.stream(System.getProperty("java.class.path").split(File.pathSeparator))
                .filter(entry -> !Path.of(entry).endsWith("test-classes"))
                .collect(Collectors.joining(File.pathSeparator));
    }

    private void awaitReady(int httpPort) {
        HttpRequest readiness = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + httpPort + "/actuator/health/readiness"))
                .timeout(Duration.ofSeconds(5)).GET().build();
        await("service readiness")
                .atMost(Duration.ofMinutes(2))
                .pollInterval(Duration.ofMillis(250))
                .ignoreExceptionsInstanceOf(IOException.class)
                .until(() -> {
                    if (!service.isAlive()) {
                        throw new IllegalStateException("the service exited with status " + service.exitValue());
                    }
                    HttpResponse<String> response = http.send(readiness, HttpResponse.BodyHandlers.ofString());
                    return response.statusCode() == 200 && response.body().contains("\"UP\"");
                });
    }

    private JsonNode fetch(int httpPort, Digest action) throws IOException, InterruptedException {
        String body = "{\"mode\": \"FETCH\", \"actions\": [\"" + action + "\"]}";
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + httpPort + "/v1/validate"))
                // hashing 256 MiB takes a second or two; far longer means the service is stuck
                .timeout(Duration.ofSeconds(60))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body))
                .build();
        HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        return JSON.readTree(response.body()).get("results").get(0);
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    private static String tail(Path file, int lines) {
        if (file == null || !Files.exists(file)) {
            return "(no log)";
        }
        try {
            List<String> all = Files.readAllLines(file, StandardCharsets.UTF_8);
            return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
        } catch (IOException e) {
            return "(log unreadable: " + e + ")";
        }
    }
}
