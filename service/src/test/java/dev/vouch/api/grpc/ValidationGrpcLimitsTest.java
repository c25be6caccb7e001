package dev.vouch.api.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.awaitility.Awaitility.await;

import com.google.rpc.RetryInfo;
import dev.vouch.api.InFlightValidations;
import dev.vouch.api.http.HeldBackend;
import dev.vouch.backend.BackendRouter;
import dev.vouch.digest.Digest;
import dev.vouch.v1.ReactorValidationServiceGrpc;
import dev.vouch.v1.ValidateRequest;
import dev.vouch.v1.ValidateResponse;
import dev.vouch.v1.ValidationResult;
import dev.vouch.v1.ValidationServiceGrpc;
import dev.vouch.validation.HangingBackend;
import dev.vouch.v1.Verdict;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.protobuf.StatusProto;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.context.TestConfiguration;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Primary;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import reactor.core.Disposable;
import reactor.test.StepVerifier;

/**
 * Deadlines, cancellation and the in-flight bound of {@code vouch.v1} over a real loopback channel,
 * against the real engine and a backend whose Action Cache lookups can hang or be held open.
 * A client deadline longer than the backend takes to fail gives UNKNOWN "deadline exceeded"
 * results (Vouch answers a margin before the client gives up), not a DEADLINE_EXCEEDED status.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
class ValidationGrpcLimitsTest {
    private static final Duration DEFAULT_DEADLINE = Duration.ofMillis(1500);
    private static final Duration MAX_DEADLINE = Duration.ofMillis(2000);
    private static final int MAX_IN_FLIGHT = 2;
    private static final Duration WAIT = Duration.ofSeconds(10);
    // the answer's trip back on a busy machine, on top of the deadline
    private static final Duration MARGIN = Duration.ofMillis(1200);

    @TempDir
    static Path dataDir;

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry registry) {
        registry.add("vouch.grpc.port", () -> "0");
        registry.add("vouch.data-dir", () -> dataDir.toString());
        registry.add("vouch.limits.default-deadline", () -> DEFAULT_DEADLINE.toMillis() + "ms");
        registry.add("vouch.limits.max-deadline", () -> MAX_DEADLINE.toMillis() + "ms");
        registry.add("vouch.limits.max-in-flight-validations", () -> String.valueOf(MAX_IN_FLIGHT));
        registry.add("vouch.limits.overload-retry-after", () -> "2500ms");
    }

    @TestConfiguration
    static class Backend {
        @Bean
        HeldBackend heldBackend() {
            return new HeldBackend();
        }

        // existence checks can go silent: the engine cuts hanging Action Cache lookups early, but
        // a silent CAS runs into the request's full deadline
        @Bean
        HangingBackend silentCas(HeldBackend heldBackend) {
            return new HangingBackend(heldBackend);
        }

        @Bean
        @Primary
        BackendRouter heldRouter(HangingBackend silentCas) {
            return instance -> silentCas;
        }
    }

    @Autowired
    GrpcServer server;

    @Autowired
    HeldBackend backend;

    @Autowired
    HangingBackend cas;

    @Autowired
    InFlightValidations inFlight;

    private ManagedChannel channel;

    @BeforeEach
    void connect() {
        backend.reset();
        cas.answerAll();
        channel = NettyChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
    }

    @AfterEach
    void disconnect() throws InterruptedException {
        backend.release();
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    @Test
    void clientDeadlineShorterThanAHangingBackend() {
        Digest hit = backend.hitAction("compile");
        Digest hanging = backend.hangingAction("link");

        long started = System.nanoTime();
        ValidateResponse response = ValidationServiceGrpc.newBlockingStub(channel)
                .withDeadlineAfter(1200, TimeUnit.MILLISECONDS)
                .validate(request(hit, hanging));

        assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofMillis(1200));
        assertThat(response.getResultsList()).extracting(ValidationResult::getVerdict)
                .containsExactly(Verdict.HIT, Verdict.UNKNOWN);
        assertThat(response.getResults(1).getReason()).isEqualTo("deadline exceeded");
        assertThat(response.getSummary().getUnknown()).isEqualTo(1);
        await().atMost(WAIT).until(() -> backend.cancelled() == 1);
    }

    /** Vouch answers a margin before the client's deadline, so the client reads UNKNOWN, not DEADLINE_EXCEEDED. */
    @Test
    void clientDeadlineShorterThanASilentCas() {
        Digest action = backend.hitAction("compile");
        cas.hangFindMissing();

        ValidateResponse response = ValidationServiceGrpc.newBlockingStub(channel)
                .withDeadlineAfter(1500, TimeUnit.MILLISECONDS)
                .validate(request(action));

        assertThat(response.getResults(0).getVerdict()).isEqualTo(Verdict.UNKNOWN);
        assertThat(response.getResults(0).getReason()).isEqualTo("deadline exceeded");
    }

    @Test
    void streamKeepsDecidedResultsAndEndsAtTheDeadline() {
        Digest hit = backend.hitAction("compile");
        Digest hanging = backend.hangingAction("link");

        var stub = ReactorValidationServiceGrpc.newReactorStub(channel).withDeadlineAfter(1200, TimeUnit.MILLISECONDS);
        StepVerifier.create(stub.validateStream(request(hanging, hit)).sort(Comparator.comparingInt(ValidationResult::getIndex)))
                .assertNext(r -> {
                    assertThat(r.getIndex()).isZero();
                    assertThat(r.getVerdict()).isEqualTo(Verdict.UNKNOWN);
                    assertThat(r.getReason()).isEqualTo("deadline exceeded");
                })
                .assertNext(r -> {
                    assertThat(r.getIndex()).isEqualTo(1);
                    assertThat(r.getVerdict()).isEqualTo(Verdict.HIT);
                })
                .expectComplete()
                .verify(WAIT);
    }

    @Test
    void withoutAClientDeadlineTheDefaultApplies() {
        Digest hanging = backend.hangingAction("link");

        long started = System.nanoTime();
        StepVerifier.create(ReactorValidationServiceGrpc.newReactorStub(channel).validate(request(hanging)))
                .assertNext(response -> assertThat(response.getResults(0).getReason()).isEqualTo("deadline exceeded"))
                .expectComplete()
                .verify(WAIT);

        assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(DEFAULT_DEADLINE.plus(MARGIN));
    }

    @Test
    void clientDeadlinePastTheMaximumIsCut() {
        Digest hanging = backend.hangingAction("link");

        long started = System.nanoTime();
        ValidateResponse response = ValidationServiceGrpc.newBlockingStub(channel)
                .withDeadlineAfter(60, TimeUnit.SECONDS)
                .validate(request(hanging));

        assertThat(response.getResults(0).getVerdict()).isEqualTo(Verdict.UNKNOWN);
        assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(MAX_DEADLINE.plus(MARGIN));
    }

    @Test
    void clientThatCancelsAValidateStopsTheEngineAndGivesItsPlaceBack() {
        Digest action = backend.hitAction("compile");
        backend.hold();

        Disposable call = ReactorValidationServiceGrpc.newReactorStub(channel).validate(request(action)).subscribe();
        await().atMost(WAIT).until(() -> backend.lookupsStarted() == 1);
        assertThat(inFlight.inFlight()).isEqualTo(1);
        call.dispose();

        await().atMost(WAIT).until(() -> backend.cancelled() == 1);
        await().atMost(WAIT).until(() -> inFlight.inFlight() == 0);
    }

    @Test
    void clientThatCancelsAStreamStopsTheEngineAndGivesItsPlaceBack() {
        Digest action = backend.hitAction("compile");
        backend.hold();

        Disposable call = ReactorValidationServiceGrpc.newReactorStub(channel).validateStream(request(action))
                .subscribe();
        await().atMost(WAIT).until(() -> backend.lookupsStarted() == 1);
        call.dispose();

        await().atMost(WAIT).until(() -> backend.cancelled() == 1);
        await().atMost(WAIT).until(() -> inFlight.inFlight() == 0);
    }

    @Test
    void pastTheBoundIsResourceExhaustedWithRetryInfo() {
        Digest action = backend.hitAction("compile");
        backend.hold();
        var reactor = ReactorValidationServiceGrpc.newReactorStub(channel);
        AtomicReference<ValidateResponse> first = new AtomicReference<>();
        AtomicReference<ValidationResult> second = new AtomicReference<>();
        reactor.validate(request(action)).subscribe(first::set);
        reactor.validateStream(request(action)).subscribe(second::set);
        await().atMost(WAIT).until(() -> backend.lookupsStarted() == MAX_IN_FLIGHT);

        StatusRuntimeException refused = catchThrowableOfType(StatusRuntimeException.class,
                () -> ValidationServiceGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                        .validate(request(action)));

        assertThat(refused.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
        assertThat(refused.getStatus().getDescription()).contains("vouch.limits.max-in-flight-validations");
        com.google.rpc.Status details = StatusProto.fromThrowable(refused);
        assertThat(details).isNotNull();
        assertThat(details.getDetailsList()).anySatisfy(any -> {
            assertThat(any.is(RetryInfo.class)).isTrue();
            assertThat(any.unpack(RetryInfo.class).getRetryDelay().getSeconds()).isEqualTo(3);
        });
        // the refused call never reached the engine
        assertThat(backend.lookupsStarted()).isEqualTo(MAX_IN_FLIGHT);

        backend.release();

        await().atMost(WAIT).until(() -> first.get() != null && second.get() != null);
        assertThat(first.get().getResults(0).getVerdict()).isEqualTo(Verdict.HIT);
        assertThat(second.get().getVerdict()).isEqualTo(Verdict.HIT);
        await().atMost(WAIT).until(() -> inFlight.inFlight() == 0);
        assertThat(ValidationServiceGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                .validate(request(action)).getResults(0).getVerdict()).isEqualTo(Verdict.HIT);
    }

    private static ValidateRequest request(Digest... actions) {
        ValidateRequest.Builder request = ValidateRequest.newBuilder();
        for (Digest action : actions) {
            request.addActions(action.toProto());
        }
        return request.build();
    }
}
