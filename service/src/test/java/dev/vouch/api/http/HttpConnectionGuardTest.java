package dev.vouch.api.http;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The HTTP port against clients a library would not be: slowloris headers, piles of idle
 * connections, bodies written whole before anything is read, request lines Netty cannot decode.
 * Plain sockets, so that the test sees exactly when the server answers or closes.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
class HttpConnectionGuardTest {
    private static final Duration HEADER_TIMEOUT = Duration.ofSeconds(1);
    private static final Duration IDLE_TIMEOUT = Duration.ofSeconds(6);
    private static final int MAX_CONNECTIONS = 20;
    // a loaded machine's scheduling on top of a timeout
    private static final Duration MARGIN = Duration.ofSeconds(3);

    @TempDir
    static Path dataDir;

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry registry) {
        registry.add("vouch.grpc.port", () -> "0");
        registry.add("vouch.data-dir", () -> dataDir.toString());
        registry.add("vouch.http.request-header-timeout", () -> HEADER_TIMEOUT.toMillis() + "ms");
        registry.add("vouch.http.idle-timeout", () -> IDLE_TIMEOUT.toMillis() + "ms");
        registry.add("vouch.http.max-connections", () -> String.valueOf(MAX_CONNECTIONS));
    }

    @LocalServerPort
    int port;

    @Autowired
    JsonMapper json;

    @Test
    void slowlorisHeadersAreCutOffAtTheHeaderTimeoutWhileOthersAreServed() throws IOException {
        try (RawHttp slow = RawHttp.connect(port, Duration.ofMillis(200))) {
            long started = System.nanoTime();
            slow.send("GET /actuator/health/liveness HTTP/1.1\r\nHost: 127.0.0.1\r\n");
            assertLivenessUp();

            // a header line now and then keeps an idle timer from ever firing; only the header clock can
            boolean closed = false;
            Duration deadline = HEADER_TIMEOUT.plus(MARGIN);
            for (int line = 0; !closed && Duration.ofNanos(System.nanoTime() - started).compareTo(deadline) < 0; line++) {
                closed = slow.closedByServer();
                if (!closed) {
                    try {
                        slow.send("X-Slow-" + line + ": still coming\r\n");
                    } catch (IOException e) {
                        closed = true;
                    }
                }
            }
            assertThat(closed).as("slowloris connection closed by the server within %s (request-header-timeout %s)",
                    deadline, HEADER_TIMEOUT).isTrue();
        }
    }

    @Test
    void aConnectionThatSendsNothingIsClosedAtTheIdleTimeout() throws IOException {
        try (RawHttp idle = RawHttp.connect(port, IDLE_TIMEOUT.plus(MARGIN))) {
            assertThat(idle.closedByServer()).as("silent connection closed within %s", IDLE_TIMEOUT.plus(MARGIN))
                    .isTrue();
        }
    }

    @Test
    void idleConnectionsPastTheCapAreClosedWhileLivenessStillAnswers() throws IOException {
        List<SocketChannel> idle = new ArrayList<>();
        try {
            for (int i = 0; i < MAX_CONNECTIONS + 10; i++) {
                SocketChannel channel = SocketChannel.open(new InetSocketAddress("127.0.0.1", port));
                channel.configureBlocking(false);
                idle.add(channel);
            }
            // each connection past the cap closes an idle one at once, long before the idle timeout
            long started = System.nanoTime();
            int closed = 0;
            while (closed < 10 && Duration.ofNanos(System.nanoTime() - started).compareTo(MARGIN) < 0) {
                closed = closedOf(idle);
            }
            assertThat(closed).as("idle connections closed by the server, of %s opened with max-connections %s",
                    idle.size(), MAX_CONNECTIONS).isGreaterThanOrEqualTo(10);

            // the probe's connection is one past the cap again: it gets in by closing another idle one
            assertLivenessUp();
        } finally {
            for (SocketChannel channel : idle) {
                channel.close();
            }
        }
    }

    /**
     * As Python's urllib does: {@code Connection: close}, and the whole body written before the
     * answer is read. A server that answers and closes with the body still unread makes the kernel
     * reset the connection, and the client never sees the 413.
     */
    @Test
    void aBodyOverTheLimitWrittenWholeStillGetsItsProblemDetail() throws IOException {
        byte[] body = new byte[9 * 1024 * 1024];
        Arrays.fill(body, (byte) ' ');
        body[0] = '{';
        body[body.length - 1] = '}';
        try (RawHttp http = RawHttp.connect(port, Duration.ofSeconds(30))) {
            http.send("POST /v1/validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Connection: close\r\nContent-Length: " + body.length + "\r\n\r\n");
            RawHttp.Response response;
            try {
                http.send(body);
                response = http.read();
            } catch (IOException e) {
                throw new AssertionError("no 413 for a client that writes its 9 MiB body first: " + e, e);
            }

            assertThat(response.status()).isEqualTo(413);
            assertThat(response.header("content-type")).startsWith("application/problem+json");
            JsonNode problem = json.readTree(response.body());
            assertThat(problem.get("type").asString()).isEqualTo("urn:vouch:problem:body-too-large");
            assertThat(problem.get("status").asInt()).isEqualTo(413);
            assertThat(problem.get("detail").asString()).contains("vouch.limits.max-request-bytes");
        }
    }

    @Test
    void badPercentEscapeInThePathIsAProblemDetail() throws IOException {
        JsonNode problem = problemFor(RawHttp.get("/v1/actions/%zz/1"), 400);
        assertThat(problem.get("type").asString()).isEqualTo("urn:vouch:problem:malformed-request");
        assertThat(problem.get("detail").asString()).contains("not a valid URI").contains("Malformed escape pair");
    }

    @Test
    void badPercentEscapeInTheQueryIsAProblemDetail() throws IOException {
        JsonNode problem = problemFor(RawHttp.get("/v1/actions/abc/1?instanceName=%g1"), 400);
        assertThat(problem.get("type").asString()).isEqualTo("urn:vouch:problem:malformed-request");
        assertThat(problem.get("detail").asString()).contains("not a valid URI");
    }

    @Test
    void uriOver8KbIsAProblemDetail() throws IOException {
        JsonNode problem = problemFor(RawHttp.get("/v1/actions/" + "a".repeat(9000) + "/1"), 414);
        assertThat(problem.get("type").asString()).isEqualTo("urn:vouch:problem:uri-too-long");
        assertThat(problem.get("detail").asString()).contains("request line is too long");
    }

    @Test
    void headersTooLargeAreAProblemDetail() throws IOException {
        JsonNode problem = problemFor("GET /actuator/health/liveness HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "
                + "a".repeat(20_000) + "\r\n\r\n", 431);
        assertThat(problem.get("type").asString()).isEqualTo("urn:vouch:problem:headers-too-large");
        assertThat(problem.get("detail").asString()).contains("request headers are too large");
    }

    // --- helpers

    private JsonNode problemFor(String request, int status) throws IOException {
        try (RawHttp http = RawHttp.connect(port, Duration.ofSeconds(10))) {
            RawHttp.Response response = http.send(request).read();
            assertThat(response.status()).as(response.toString()).isEqualTo(status);
            assertThat(response.header("content-type")).isEqualTo("application/problem+json");
            JsonNode problem = json.readTree(response.body());
            assertThat(problem.get("status").asInt()).isEqualTo(status);
            assertThat(problem.get("title").asString()).isNotBlank();
            return problem;
        }
    }

    private void assertLivenessUp() throws IOException {
        try (RawHttp probe = RawHttp.connect(port, Duration.ofSeconds(10))) {
            RawHttp.Response response = probe.send(RawHttp.get("/actuator/health/liveness")).read();
            assertThat(response.status()).isEqualTo(200);
            assertThat(response.body()).contains("\"UP\"");
        }
    }

    private static int closedOf(List<SocketChannel> channels) throws IOException {
        int closed = 0;
        ByteBuffer sink = ByteBuffer.allocate(1024);
        for (SocketChannel channel : channels) {
            if (!channel.isOpen()) {
                closed++;
                continue;
            }
            sink.clear();
            try {
                if (channel.read(sink) < 0) {
                    channel.close();
                    closed++;
                }
            } catch (IOException e) {
                channel.close();
                closed++;
            }
        }
        return closed;
    }
}
