package dev.vouch.api.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import build.bazel.remote.execution.v2.ActionCacheGrpc;
import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.BatchUpdateBlobsRequest;
import build.bazel.remote.execution.v2.BatchUpdateBlobsResponse;
import build.bazel.remote.execution.v2.ContentAddressableStorageGrpc;
import build.bazel.remote.execution.v2.OutputFile;
import build.bazel.remote.execution.v2.UpdateActionResultRequest;
import com.google.protobuf.ByteString;
import com.google.rpc.BadRequest;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.v1.BlobKind;
import dev.vouch.v1.BlobProblem;
import dev.vouch.v1.Mode;
import dev.vouch.v1.ReactorValidationServiceGrpc;
import dev.vouch.v1.Summary;
import dev.vouch.v1.ValidateRequest;
import dev.vouch.v1.ValidateResponse;
import dev.vouch.v1.ValidationResult;
import dev.vouch.v1.ValidationServiceGrpc;
import dev.vouch.v1.Verdict;
import dev.vouch.validation.CacheValidator;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.protobuf.StatusProto;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.context.TestConfiguration;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Primary;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import reactor.test.StepVerifier;

/**
 * {@code vouch.v1.ValidationService} over a real loopback channel to the running app: the embedded
 * cache is filled through its own REAPI services on the same port, as Bazel fills it, and the
 * verdicts come back through the generated stubs. Bad requests are refused before the engine.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
class ValidationGrpcServiceTest {
    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final int MAX_ACTIONS = 5;

    @TempDir
    static Path dataDir;

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry registry) {
        registry.add("vouch.grpc.port", () -> "0");
        registry.add("vouch.data-dir", () -> dataDir.toString());
        registry.add("vouch.limits.max-actions", () -> String.valueOf(MAX_ACTIONS));
    }

    /** Counts the requests that reach the engine, to show refused ones never do. */
    @TestConfiguration
    static class CountingEngine {
        static final AtomicInteger calls = new AtomicInteger();

        @Bean
        @Primary
        CacheValidator countingValidator(@Qualifier("cacheValidator") CacheValidator engine) {
            return request -> {
                calls.incrementAndGet();
                return engine.validate(request);
            };
        }
    }

    @Autowired
    GrpcServer server;

    private ManagedChannel channel;
    private ValidationServiceGrpc.ValidationServiceBlockingStub vouch;

    @BeforeEach
    void connect() {
        channel = NettyChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
        vouch = ValidationServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
        CountingEngine.calls.set(0);
    }

    @AfterEach
    void disconnect() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    @Test
    void hitPartialAndMissInRequestOrderWithDuplicates() {
        Digest present = upload("present output");
        Digest evicted = DigestFunction.SHA256.digestOf(bytes("never uploaded"));
        Digest lostLog = DigestFunction.SHA256.digestOf(bytes("stderr never uploaded"));
        Digest hit = storeActionResult("hit", ActionResult.newBuilder()
                .addOutputFiles(outputFile("out/hit.o", present))
                .build());
        Digest partial = storeActionResult("partial", ActionResult.newBuilder()
                .addOutputFiles(outputFile("out/kept.o", present))
                .addOutputFiles(outputFile("out/gone.o", evicted))
                .setStderrDigest(lostLog.toProto())
                .build());
        Digest miss = DigestFunction.SHA256.digestOf(bytes("action never run"));

        ValidateResponse response = vouch.validate(request(hit, partial, miss, hit));

        assertThat(response.getResultsList()).extracting(ValidationResult::getIndex).containsExactly(0, 1, 2, 3);
        assertThat(response.getResultsList()).extracting(ValidationResult::getAction)
                .containsExactly(hit.toProto(), partial.toProto(), miss.toProto(), hit.toProto());
        assertThat(response.getResultsList()).extracting(ValidationResult::getVerdict)
                .containsExactly(Verdict.HIT, Verdict.PARTIAL, Verdict.MISS, Verdict.HIT);
        ValidationResult partialResult = response.getResults(1);
        assertThat(partialResult.getMissingList()).containsExactlyInAnyOrder(
                BlobProblem.newBuilder().setDigest(evicted.toProto()).setKind(BlobKind.OUTPUT_FILE)
                        .addPaths("out/gone.o").build(),
                BlobProblem.newBuilder().setDigest(lostLog.toProto()).setKind(BlobKind.STDERR)
                        .addPaths("stderr").build());
        assertThat(partialResult.getBlobsReferenced()).isEqualTo(3);
        assertThat(partialResult.getBackend()).isEqualTo("embedded");
        assertThat(partialResult.getReason()).isEmpty();
        assertThat(partialResult.hasActionResult()).isFalse();
        assertThat(response.getSummary()).isEqualTo(Summary.newBuilder().setHit(2).setPartial(1).setMiss(1).build());
    }

    @Test
    void includeActionResultReturnsTheEntry() {
        Digest present = upload("included output");
        ActionResult entry = ActionResult.newBuilder().addOutputFiles(outputFile("out/inc.o", present)).build();
        Digest hit = storeActionResult("included", entry);

        ValidateResponse response = vouch.validate(request(hit).toBuilder().setIncludeActionResult(true).build());

        assertThat(response.getResults(0).getVerdict()).isEqualTo(Verdict.HIT);
        assertThat(response.getResults(0).getActionResult()).isEqualTo(entry);
    }

    @Test
    void streamSendsOneMessagePerActionWithItsIndex() {
        Digest present = upload("streamed output");
        Digest hit = storeActionResult("streamed hit", ActionResult.newBuilder()
                .addOutputFiles(outputFile("out/s.o", present))
                .build());
        Digest miss = DigestFunction.SHA256.digestOf(bytes("streamed miss"));

        var stub = ReactorValidationServiceGrpc.newReactorStub(channel);
        StepVerifier.create(stub.validateStream(request(miss, hit, miss))
                        .sort(Comparator.comparingInt(ValidationResult::getIndex)))
                .assertNext(r -> assertResult(r, 0, miss, Verdict.MISS))
                .assertNext(r -> assertResult(r, 1, hit, Verdict.HIT))
                .assertNext(r -> assertResult(r, 2, miss, Verdict.MISS))
                .verifyComplete();
    }

    @Test
    void fetchModeFindsAFlippedByteOnDisk() throws IOException {
        Digest rotten = upload("content that will rot on disk");
        Digest action = storeActionResult("rotten", ActionResult.newBuilder()
                .addOutputFiles(outputFile("out/rotten.txt", rotten))
                .build());
        Path file = dataDir.resolve("cas").resolve(rotten.hash().substring(0, 2)).resolve(rotten.hash());
        byte[] content = Files.readAllBytes(file);
        content[content.length / 2] ^= (byte) 0xff;
        Files.write(file, content);

        ValidateResponse existence = vouch.validate(request(action));
        ValidateResponse fetched = vouch.validate(request(action).toBuilder().setMode(Mode.FETCH).build());

        // only reading the blob back shows the damage
        assertThat(existence.getResults(0).getVerdict()).isEqualTo(Verdict.HIT);
        ValidationResult result = fetched.getResults(0);
        assertThat(result.getVerdict()).isEqualTo(Verdict.PARTIAL);
        assertThat(result.getMissingList()).isEmpty();
        assertThat(result.getCorruptList()).containsExactly(BlobProblem.newBuilder()
                .setDigest(rotten.toProto()).setKind(BlobKind.OUTPUT_FILE).addPaths("out/rotten.txt").build());
    }

    // --- refused requests: INVALID_ARGUMENT naming the field, nothing reaches the engine

    @Test
    void uppercaseHash() {
        String upper = "AB" + "0".repeat(62);
        assertRefused(request(digest(upper, 3)), "actions[0].hash",
                "actions[0].hash must be lowercase hex, found 'A' at position 0");
    }

    @Test
    void hashOfTheWrongLengthForTheDigestFunction() {
        ValidateRequest sha1 = request(digest("ab".repeat(20), 1), digest("ab".repeat(32), 1)).toBuilder()
                .setDigestFunction(build.bazel.remote.execution.v2.DigestFunction.Value.SHA1).build();
        assertRefused(sha1, "actions[1].hash", "actions[1].hash has 64 hex digits, SHA1 needs 40");
    }

    @Test
    void negativeSize() {
        assertRefused(request(digest("ab".repeat(32), 1), digest("cd".repeat(32), -7)), "actions[1].size_bytes",
                "actions[1].size_bytes must not be negative, was -7");
    }

    @Test
    void tooManyActions() {
        ValidateRequest.Builder many = ValidateRequest.newBuilder();
        IntStream.rangeClosed(0, MAX_ACTIONS).forEach(i -> many.addActions(digest("ab".repeat(32), i)));
        assertRefused(many.build(), "actions", "actions has 6 entries, more than the limit of 5 per request "
                + "(vouch.limits.max-actions)");
    }

    @Test
    void noActions() {
        assertRefused(ValidateRequest.getDefaultInstance(), "actions", "actions must not be empty");
    }

    @Test
    void digestFunctionVouchDoesNotSupport() {
        ValidateRequest vso = request(digest("ab".repeat(32), 1)).toBuilder()
                .setDigestFunction(build.bazel.remote.execution.v2.DigestFunction.Value.VSO).build();
        assertRefused(vso, "digest_function", "digest_function VSO is not supported; use one of SHA256, SHA1, MD5, "
                + "SHA384, SHA512, BLAKE3 (unset means SHA256)");
    }

    @Test
    void unknownMode() {
        assertRefused(request(digest("ab".repeat(32), 1)).toBuilder().setModeValue(7).build(), "mode",
                "mode 7 is not one of EXISTENCE, FETCH (unset means EXISTENCE)");
    }

    @Test
    void everyBadFieldIsNamed() {
        StatusRuntimeException refused = catchThrowableOfType(StatusRuntimeException.class,
                () -> vouch.validate(request(digest("XY", 1), digest("ab".repeat(32), -1))));
        assertThat(refused.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(fieldViolations(refused)).extracting(BadRequest.FieldViolation::getField)
                .containsExactly("actions[0].hash", "actions[1].size_bytes");
        assertThat(refused.getStatus().getDescription())
                .isEqualTo("actions[0].hash must be lowercase hex, found 'X' at position 0; "
                        + "actions[1].size_bytes must not be negative, was -1");
        assertThat(CountingEngine.calls).hasValue(0);
    }

    @Test
    void refusedStreamNeverReachesTheEngine() {
        var stub = ReactorValidationServiceGrpc.newReactorStub(channel);
        StepVerifier.create(stub.validateStream(request(digest("ab".repeat(31), 1))))
                .expectErrorSatisfies(e -> {
                    Status status = Status.fromThrowable(e);
                    assertThat(status.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
                    assertThat(status.getDescription()).isEqualTo("actions[0].hash has 62 hex digits, SHA256 needs 64");
                })
                .verify(WAIT);
        assertThat(CountingEngine.calls).hasValue(0);
    }

    // --- helpers

    private void assertRefused(ValidateRequest request, String field, String description) {
        StatusRuntimeException refused = catchThrowableOfType(StatusRuntimeException.class,
                () -> vouch.validate(request));
        assertThat(refused).as("INVALID_ARGUMENT for %s", field).isNotNull();
        assertThat(refused.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(refused.getStatus().getDescription()).isEqualTo(description);
        assertThat(fieldViolations(refused)).extracting(BadRequest.FieldViolation::getField).containsExactly(field);
        assertThat(CountingEngine.calls).as("requests that reached the engine").hasValue(0);
    }

    private static List<BadRequest.FieldViolation> fieldViolations(StatusRuntimeException refused) {
        com.google.rpc.Status status = StatusProto.fromThrowable(refused);
        assertThat(status).as("status details").isNotNull();
        return status.getDetailsList().stream()
                .filter(any -> any.is(BadRequest.class))
                .map(any -> {
                    try {
                        return any.unpack(BadRequest.class);
                    } catch (com.google.protobuf.InvalidProtocolBufferException e) {
                        throw new AssertionError(e);
                    }
                })
                .flatMap(bad -> bad.getFieldViolationsList().stream())
                .toList();
    }

    private static void assertResult(ValidationResult result, int index, Digest action, Verdict verdict) {
        assertThat(result.getIndex()).isEqualTo(index);
        assertThat(result.getAction()).isEqualTo(action.toProto());
        assertThat(result.getVerdict()).isEqualTo(verdict);
    }

    private static ValidateRequest request(Digest... actions) {
        ValidateRequest.Builder request = ValidateRequest.newBuilder();
        for (Digest action : actions) {
            request.addActions(action.toProto());
        }
        return request.build();
    }

    private static ValidateRequest request(build.bazel.remote.execution.v2.Digest... actions) {
        return ValidateRequest.newBuilder().addAllActions(List.of(actions)).build();
    }

    /** A digest as a client may send it, valid or not. */
    private static build.bazel.remote.execution.v2.Digest digest(String hash, long size) {
        return build.bazel.remote.execution.v2.Digest.newBuilder().setHash(hash).setSizeBytes(size).build();
    }

    private Digest upload(String text) {
        byte[] content = bytes(text);
        Digest digest = DigestFunction.SHA256.digestOf(content);
        BatchUpdateBlobsResponse response = ContentAddressableStorageGrpc.newBlockingStub(channel)
                .withDeadlineAfter(10, TimeUnit.SECONDS)
                .batchUpdateBlobs(BatchUpdateBlobsRequest.newBuilder()
                        .addRequests(BatchUpdateBlobsRequest.Request.newBuilder()
                                .setDigest(digest.toProto()).setData(ByteString.copyFrom(content)))
                        .build());
        assertThat(response.getResponses(0).getStatus().getCode()).isZero();
        return digest;
    }

    private Digest storeActionResult(String name, ActionResult result) {
        Digest action = DigestFunction.SHA256.digestOf(bytes("action " + name));
        ActionCacheGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                .updateActionResult(UpdateActionResultRequest.newBuilder()
                        .setActionDigest(action.toProto()).setActionResult(result).build());
        return action;
    }

    private static OutputFile outputFile(String path, Digest digest) {
        return OutputFile.newBuilder().setPath(path).setDigest(digest.toProto()).build();
    }

    private static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }
}
