package dev.vouch.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.bytestream.ByteStreamGrpc;
import com.google.bytestream.ReactorByteStreamGrpc;
import com.google.bytestream.ReadRequest;
import com.google.bytestream.ReadResponse;
import com.google.bytestream.WriteRequest;
import com.google.bytestream.WriteResponse;
import com.google.protobuf.ByteString;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.digest.Hasher;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.net.http.HttpClient;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Iterator;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Flux;

/**
 * The cache front forwards blobs in constant memory, both directions: a 512 MiB blob written over
 * ByteStream through a Vouch in its own JVM at {@code -Xmx256m} (an OutOfMemoryError ends it) to
 * nginx behind its {@code http} backend, then read back through it, hash-verified at each end.
 */
class FrontLargeBlobTest {
    private static final long SIZE = 512L << 20;
    private static final int CHUNK = 1 << 20;
    private static final Duration TIMEOUT = Duration.ofMinutes(3);

    @Test
    void aBlobTwiceTheHeapStreamsThroughTheFrontBothWays() throws Exception {
        Path root = E2eFiles.createTempDirectory("vouch-e2e-large-");
        int nginxPort = Nginx.freePort();
        // one random MiB, repeated with the chunk's index written into it: no two chunks alike, nothing held whole
        byte[] block = new byte[CHUNK];
        new Random(42).nextBytes(block);
        Digest digest = digestOfAll(block);
        try (Nginx nginx = Nginx.start(root.resolve("nginx"), nginxPort);
                ServiceProcess service = ServiceProcess.start(root.resolve("service.log"),
                        List.of("-Xmx256m", "-XX:+ExitOnOutOfMemoryError"),
                        List.of("--vouch.data-dir=" + root.resolve("data"), "--vouch.front.enabled=true",
                                "--vouch.backends[0].name=nginx", "--vouch.backends[0].type=http",
                                "--vouch.backends[0].url=http://127.0.0.1:" + nginxPort,
                                "--vouch.backends[0].call-timeout=120s"))) {
            service.awaitReady(HttpClient.newHttpClient());
            ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", service.grpcPort).usePlaintext()
                    .maxInboundMessageSize(8 << 20).build();
            try {
                String resource = "uploads/" + UUID.randomUUID() + "/blobs/" + digest.hash() + "/" + SIZE;
                WriteResponse written = ReactorByteStreamGrpc.newReactorStub(channel)
                        .write(Flux.range(0, (int) (SIZE / CHUNK)).map(i -> WriteRequest.newBuilder()
                                .setResourceName(i == 0 ? resource : "")
                                .setWriteOffset((long) i * CHUNK)
                                .setData(ByteString.copyFrom(chunk(block, i)))
                                .setFinishWrite((long) (i + 1) * CHUNK == SIZE)
                                .build()))
                        .block(TIMEOUT);

                assertThat(written.getCommittedSize()).as(service.tail(40)).isEqualTo(SIZE);
                assertThat(Files.size(nginx.cacheDir().resolve("cas").resolve(digest.hash()))).isEqualTo(SIZE);

                Hasher hasher = DigestFunction.SHA256.newHasher();
                Iterator<ReadResponse> read = ByteStreamGrpc.newBlockingStub(channel)
                        .withDeadlineAfter(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)
                        .read(ReadRequest.newBuilder().setResourceName("blobs/" + digest.hash() + "/" + SIZE).build());
                read.forEachRemaining(response -> hasher.update(response.getData().asReadOnlyByteBuffer()));

                assertThat(hasher.finish()).isEqualTo(digest);
                assertThat(service.isAlive()).as(service.tail(40)).isTrue();
            } finally {
                channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
        } finally {
            E2eFiles.deleteTree(root);
        }
    }

    private static byte[] chunk(byte[] block, int index) {
        byte[] chunk = block.clone();
        ByteBuffer.wrap(chunk).putInt(index);
        return chunk;
    }

    private static Digest digestOfAll(byte[] block) {
        Hasher hasher = DigestFunction.SHA256.newHasher();
        for (int i = 0; i < SIZE / CHUNK; i++) {
            hasher.update(ByteBuffer.wrap(chunk(block, i)));
        }
        return hasher.finish();
    }
}
