package dev.vouch.api.http;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * Closed-loop load over keep-alive connections: every request sent gets its answer. Each of
 * {@value #CONNECTIONS} connections sends one GET of one action, reads the answer, and sends the
 * next, as a build agent's HTTP client does. A request the server never reads shows as a read
 * that times out while the other connections go on. {@code -Dvouch.load.requests=300000} for a
 * longer run; the default keeps the test within a minute.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
class KeepAliveLoadTest {
    private static final int REQUESTS = Integer.getInteger("vouch.load.requests", 50_000);
    private static final int CONNECTIONS = 16;
    // far above any answer's time here, far below the 30 s request deadline
    private static final Duration NO_ANSWER = Duration.ofSeconds(10);

    @TempDir
    static Path dataDir;

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry registry) {
        registry.add("vouch.grpc.port", () -> "0");
        registry.add("vouch.data-dir", () -> dataDir.toString());
    }

    @LocalServerPort
    int port;

    /**
     * The mechanism behind the stalls, made deterministic: a keep-alive request that arrives before
     * the previous exchange has ended is buffered, and when its answer completes while the buffer is
     * drained (here a 400, answered at once) the connection used to stop reading: the next request
     * sat unread in the socket, with nothing logged and no deadline running.
     */
    @Test
    void bufferedRequestAnsweredWhileDrainedLeavesTheConnectionReading() throws IOException {
        Digest action = DigestFunction.SHA256.digestOf("never stored".getBytes(StandardCharsets.UTF_8));
        String miss = RawHttp.get("/v1/actions/" + action.hash() + "/" + action.sizeBytes());
        for (int attempt = 1; attempt <= 20; attempt++) {
            try (RawHttp http = RawHttp.connect(port, Duration.ofSeconds(5))) {
                // one write: the second request is buffered while the first is answered
                http.send(miss + RawHttp.get("/v1/actions/not-hex/1"));
                assertThat(http.read().status()).isEqualTo(200);
                assertThat(http.read().status()).isEqualTo(400);

                http.send(miss);
                RawHttp.Response next;
                try {
                    next = http.read();
                } catch (IOException e) {
                    throw new AssertionError("attempt " + attempt + ": the request after a buffered one got no answer"
                            + " within 5 s (" + e + ")", e);
                }
                assertThat(next.status()).isEqualTo(200);
                assertThat(next.body()).contains("\"verdict\":\"MISS\"");
            }
        }
    }

    @Test
    void everyRequestOverKeepAliveIsAnswered() throws Exception {
        Digest action = DigestFunction.SHA256.digestOf("never stored".getBytes(StandardCharsets.UTF_8));
        byte[] request = RawHttp.get("/v1/actions/" + action.hash() + "/" + action.sizeBytes())
                .getBytes(StandardCharsets.ISO_8859_1);
        AtomicInteger sent = new AtomicInteger();
        AtomicInteger answered = new AtomicInteger();
        ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
        long started = System.nanoTime();

        ExecutorService clients = Executors.newFixedThreadPool(CONNECTIONS);
        List<Future<?>> running = new ArrayList<>();
        for (int c = 0; c < CONNECTIONS; c++) {
            int connection = c;
            running.add(clients.submit(() -> {
                int onThisConnection = 0;
                try (RawHttp http = RawHttp.connect(port, NO_ANSWER)) {
                    while (sent.incrementAndGet() <= REQUESTS) {
                        http.send(request);
                        RawHttp.Response response;
                        try {
                            response = http.read();
                        } catch (IOException e) {
                            failures.add("request " + (onThisConnection + 1) + " on keep-alive connection " + connection
                                    + " got no answer within " + NO_ANSWER.toSeconds() + " s (" + e + ") while "
                                    + answered.get() + " others were answered");
                            return;
                        }
                        onThisConnection++;
                        if (response.status() != 200 || !response.body().contains("\"verdict\":\"MISS\"")) {
                            failures.add("request " + onThisConnection + " on connection " + connection + ": "
                                    + response.status() + " " + response.body());
                            return;
                        }
                        answered.incrementAndGet();
                    }
                } catch (IOException e) {
                    failures.add("connection " + connection + " failed: " + e);
                }
            }));
        }
        clients.shutdown();
        for (Future<?> client : running) {
            client.get(10, TimeUnit.MINUTES);
        }
        double seconds = (System.nanoTime() - started) / 1e9;
        System.out.printf("KeepAliveLoadTest: %d of %d requests answered over %d keep-alive connections in %.1f s "
                + "(%.0f/s)%n", answered.get(), REQUESTS, CONNECTIONS, seconds, answered.get() / seconds);

        assertThat(failures).as("requests not answered").isEmpty();
        assertThat(answered.get()).isEqualTo(REQUESTS);
    }
}
