package dev.vouch.api.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.vouch.api.InFlightValidations;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.v1.ValidateRequest;
import dev.vouch.v1.ValidateResponse;
import dev.vouch.v1.ValidationServiceGrpc;
import dev.vouch.validation.ActionVerdict;
import dev.vouch.validation.CacheValidator;
import dev.vouch.validation.Verdict;
import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.MapConfigurationPropertySource;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;

/**
 * The gRPC port's connection policy ({@code vouch.grpc.*}) and the end of unary calls, against the
 * real {@link GrpcServer} and {@code vouch.v1} service over loopback, with a validator the test
 * controls in place of the engine (what matters here is how calls and connections end).
 */
class GrpcConnectionLimitsTest {
    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final Digest ACTION = DigestFunction.SHA256.digestOf("an action".getBytes(StandardCharsets.UTF_8));

    private final List<ManagedChannel> channels = new ArrayList<>();
    private final List<Socket> sockets = new ArrayList<>();
    private GrpcServer server;
    private InFlightValidations inFlight;

    @AfterEach
    void stop() throws Exception {
        for (ManagedChannel channel : channels) {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        for (Socket socket : sockets) {
            socket.close();
        }
        if (server != null) {
            server.stop();
        }
    }

    @Test
    void idleConnectionIsClosedAfterMaxConnectionIdle() {
        start(Map.of("vouch.grpc.max-connection-idle", "500ms"), request -> Flux.just(miss(0)));
        ValidateResponse response = ValidationServiceGrpc.newBlockingStub(channel()).withDeadlineAfter(10, TimeUnit.SECONDS)
                .validate(request());
        assertThat(response.getResults(0).getVerdict()).isEqualTo(dev.vouch.v1.Verdict.MISS);
        ManagedChannel channel = channels.get(0);

        // the server's GOAWAY and close take the client's channel from READY back to IDLE
        await().atMost(Duration.ofSeconds(5))
                .untilAsserted(() -> assertThat(channel.getState(false))
                        .as("client channel 5 s after its last call (max-connection-idle 500ms)")
                        .isEqualTo(ConnectivityState.IDLE));
    }

    @Test
    void callsPastTheCapPerConnectionWaitForAFreeSlot() {
        AtomicInteger started = new AtomicInteger();
        Sinks.Empty<Void> release = Sinks.empty();
        start(Map.of("vouch.grpc.max-concurrent-calls-per-connection", "2"), request -> {
            started.incrementAndGet();
            return release.asMono().thenMany(Flux.just(miss(0)));
        });
        ManagedChannel channel = channel();
        CountDownLatch answered = new CountDownLatch(3);
        ConcurrentLinkedQueue<Object> outcomes = new ConcurrentLinkedQueue<>();
        for (int i = 0; i < 3; i++) {
            ValidationServiceGrpc.newStub(channel).withDeadlineAfter(20, TimeUnit.SECONDS).validate(request(),
                    observer(outcomes, answered));
        }

        await().atMost(WAIT).until(() -> started.get() >= 2);
        // the third call has been sent; the server's stream limit keeps it off the connection
        await().during(Duration.ofMillis(500)).atMost(WAIT)
                .untilAsserted(() -> assertThat(started.get()).as("calls in progress on one connection").isEqualTo(2));
        release.tryEmitEmpty();
        await().atMost(WAIT).until(() -> answered.getCount() == 0);
        assertThat(started.get()).isEqualTo(3);
        assertThat(outcomes).hasSize(3).allMatch(ValidateResponse.class::isInstance);
    }

    @Test
    void connectionsPastTheCapAreClosedAtOnce() throws IOException {
        start(Map.of("vouch.grpc.max-connections", "3"), request -> Flux.just(miss(0)));
        List<Socket> open = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            open.add(connect());
        }

        int closed = 0;
        for (Socket socket : open) {
            if (closedByServer(socket, Duration.ofMillis(500))) {
                closed++;
            }
        }
        assertThat(closed).as("connections closed of 5 opened with max-connections 3").isEqualTo(2);
        for (Socket socket : open) {
            socket.close();
        }
        // closed connections give their places back
        assertThat(ValidationServiceGrpc.newBlockingStub(channel()).withDeadlineAfter(10, TimeUnit.SECONDS)
                .validate(request()).getResultsCount()).isEqualTo(1);
    }

    /**
     * A socket that connects and never sends the HTTP/2 preface holds a descriptor that no idle or
     * keepalive limit sees (those start with the connection): the handshake timeout closes it, while a
     * real client on another connection is served.
     */
    @Test
    void silentSocketIsClosedAfterTheHandshakeTimeout() throws IOException {
        start(Map.of("vouch.grpc.handshake-timeout", "300ms"), request -> Flux.just(miss(0)));
        Socket silent = connect();

        assertThat(ValidationServiceGrpc.newBlockingStub(channel()).withDeadlineAfter(10, TimeUnit.SECONDS)
                .validate(request()).getResultsCount()).isEqualTo(1);
        assertThat(endsWithin(silent, Duration.ofSeconds(5)))
                .as("a socket silent past vouch.grpc.handshake-timeout (300ms) is closed by the server")
                .isTrue();
    }

    /** True when the server ends the connection within {@code wait}, whatever it sent first (its SETTINGS). */
    private static boolean endsWithin(Socket socket, Duration wait) throws IOException {
        long end = System.nanoTime() + wait.toNanos();
        InputStream in = socket.getInputStream();
        byte[] buffer = new byte[1024];
        try {
            while (System.nanoTime() < end) {
                socket.setSoTimeout(Math.max(1, (int) ((end - System.nanoTime()) / 1_000_000)));
                if (in.read(buffer) < 0) {
                    return true;
                }
            }
            return false;
        } catch (SocketTimeoutException e) {
            return false;
        } catch (IOException e) {
            return true;
        }
    }

    /**
     * Deadlines of a few milliseconds against a validator that takes about as long: every call ends
     * with its response or DEADLINE_EXCEEDED / CANCELLED, and grpc-java never logs a unary call
     * closed without its response.
     */
    @Test
    void shortDeadlinesEndWithAResponseOrAStatus() throws InterruptedException {
        start(Map.of(), request -> Mono.delay(Duration.ofMillis(ThreadLocalRandom.current().nextInt(1, 9)))
                .thenMany(Flux.just(miss(0))));
        List<String> logged = new java.util.concurrent.CopyOnWriteArrayList<>();
        Handler capture = new Handler() {
            @Override
            public void publish(LogRecord record) {
                logged.add(record.getLevel() + " " + record.getMessage()
                        + (record.getThrown() != null ? " " + record.getThrown() : ""));
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        Logger grpc = Logger.getLogger("io.grpc");
        grpc.addHandler(capture);
        try {
            ManagedChannel channel = channel();
            ValidationServiceGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS).validate(request());
            int calls = 300;
            CountDownLatch ended = new CountDownLatch(calls);
            ConcurrentLinkedQueue<Object> outcomes = new ConcurrentLinkedQueue<>();
            IntStream.range(0, calls).forEach(i -> ValidationServiceGrpc.newStub(channel)
                    .withDeadlineAfter(1 + i % 10, TimeUnit.MILLISECONDS)
                    .validate(request(), observer(outcomes, ended)));
            assertThat(ended.await(WAIT.toSeconds(), TimeUnit.SECONDS)).isTrue();

            assertThat(outcomes).allSatisfy(outcome -> {
                if (outcome instanceof Status status) {
                    // a burst of 300 can find the in-flight bound (64) taken by calls whose places are
                    // still being given back: the overload answer is a status too
                    assertThat(status.getCode()).as(status.toString())
                            .isIn(Status.Code.DEADLINE_EXCEEDED, Status.Code.CANCELLED, Status.Code.RESOURCE_EXHAUSTED);
                } else {
                    assertThat(outcome).isInstanceOf(ValidateResponse.class);
                }
            });
            // the server closes a call, and would log, before the call gives its in-flight place back
            await().atMost(WAIT).until(() -> inFlight.inFlight() == 0);
            assertThat(logged).as("gRPC log").noneMatch(line -> line.contains("Completed without a response"));
        } finally {
            grpc.removeHandler(capture);
        }
    }

    // --- helpers

    private void start(Map<String, String> settings, CacheValidator validator) {
        Map<String, String> all = new HashMap<>(settings);
        all.put("vouch.grpc.port", "0");
        VouchProperties properties = new Binder(new MapConfigurationPropertySource(all))
                .bindOrCreate("vouch", VouchProperties.class);
        inFlight = new InFlightValidations(properties, new SimpleMeterRegistry());
        ValidationGrpcService service = new ValidationGrpcService(validator, properties, inFlight);
        server = new GrpcServer(properties, List.of(service));
        server.start();
    }

    private ManagedChannel channel() {
        ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
        channels.add(channel);
        return channel;
    }

    private Socket connect() throws IOException {
        Socket socket = new Socket();
        socket.connect(new InetSocketAddress("127.0.0.1", server.port()), 5_000);
        sockets.add(socket);
        return socket;
    }

    /** True when the server closed the socket (EOF or reset) within {@code wait}; a silent open socket is not. */
    private static boolean closedByServer(Socket socket, Duration wait) throws IOException {
        socket.setSoTimeout(Math.toIntExact(wait.toMillis()));
        InputStream in = socket.getInputStream();
        try {
            // the server speaks first only to close: gRPC waits for the client's preface
            return in.read() < 0;
        } catch (SocketTimeoutException e) {
            return false;
        } catch (IOException e) {
            return true;
        }
    }

    private static StreamObserver<ValidateResponse> observer(ConcurrentLinkedQueue<Object> outcomes, CountDownLatch ended) {
        return new StreamObserver<>() {
            @Override
            public void onNext(ValidateResponse value) {
                outcomes.add(value);
            }

            @Override
            public void onError(Throwable t) {
                outcomes.add(t instanceof StatusRuntimeException e ? e.getStatus() : Status.fromThrowable(t));
                ended.countDown();
            }

            @Override
            public void onCompleted() {
                ended.countDown();
            }
        };
    }

    private static ValidateRequest request() {
        return ValidateRequest.newBuilder().addActions(ACTION.toProto()).build();
    }

    private static ActionVerdict miss(int index) {
        return new ActionVerdict(index, ACTION, Verdict.MISS, "test", 0, 0, List.of(), List.of(), null, 0.1, null);
    }
}
