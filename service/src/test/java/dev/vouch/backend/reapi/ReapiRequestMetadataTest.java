package dev.vouch.backend.reapi;

import static dev.vouch.backend.reapi.ReapiTestServer.TIMEOUT;
import static dev.vouch.backend.reapi.ReapiTestServer.config;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.CapabilitiesGrpc;
import build.bazel.remote.execution.v2.Directory;
import build.bazel.remote.execution.v2.DirectoryNode;
import build.bazel.remote.execution.v2.FileNode;
import build.bazel.remote.execution.v2.GetCapabilitiesRequest;
import build.bazel.remote.execution.v2.OutputFile;
import build.bazel.remote.execution.v2.RequestMetadata;
import build.bazel.remote.execution.v2.ToolDetails;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.vouch.backend.CallMetadata;
import dev.vouch.backend.Scope;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.digest.DigestSet;
import dev.vouch.validation.ActionVerdict;
import dev.vouch.validation.CompletenessValidator;
import dev.vouch.validation.Mode;
import dev.vouch.validation.ValidationMetrics;
import dev.vouch.validation.ValidationRequest;
import dev.vouch.validation.Verdict;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Mono;
import reactor.test.StepVerifier;

/**
 * The RequestMetadata header on every call of a {@code grpc} backend, against a server that refuses
 * calls without it as Bazel's remote worker does ({@code INVALID_ARGUMENT: RequestMetadata not
 * received from the client}).
 */
class ReapiRequestMetadataTest {
    private static final Scope SCOPE = Scope.of("");
    private static final long MAX_BATCH = 64 * 1024;

    private final List<AutoCloseable> open = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : open) {
            c.close();
        }
    }

    private ReapiTestServer strictServer() {
        ReapiTestServer server = ReapiTestServer.start(MAX_BATCH);
        server.requireRequestMetadata();
        open.add(server);
        return server;
    }

    private ReapiBackend backend(VouchProperties.Backend config) {
        ReapiBackend backend = new ReapiBackend(config);
        open.add(0, backend);
        return backend;
    }

    /** The version Maven wrote into build-info.properties, which Vouch names itself with. */
    private static String builtVersion() throws IOException {
        Properties build = new Properties();
        try (InputStream in = ReapiRequestMetadataTest.class.getResourceAsStream("/META-INF/build-info.properties")) {
            assertThat(in).as("META-INF/build-info.properties on the class path").isNotNull();
            build.load(in);
        }
        return build.getProperty("build.version");
    }

    private static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void strictServerRefusesCallsWithoutTheHeader() {
        ReapiTestServer server = strictServer();
        ManagedChannel bare = ManagedChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
        try {
            assertThatThrownBy(() -> CapabilitiesGrpc.newBlockingStub(bare)
                            .getCapabilities(GetCapabilitiesRequest.getDefaultInstance()))
                    .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
                        assertThat(e.getStatus().getDescription()).startsWith("RequestMetadata not received from the client");
                    });
        } finally {
            bare.shutdownNow();
        }
    }

    @Test
    void everyCallTypeCarriesVouchsToolDetails() throws Exception {
        ReapiTestServer server = strictServer();
        ReapiBackend backend = backend(config(server.target()));
        Digest small = server.put(bytes("small"));
        byte[] largeBytes = new byte[(int) MAX_BATCH * 2];
        new Random(7).nextBytes(largeBytes);
        Digest large = server.put(largeBytes);
        Directory child = Directory.newBuilder().addFiles(FileNode.newBuilder().setName("f").setDigest(small.toProto())).build();
        Digest childDigest = server.put(child);
        Digest root = server.put(Directory.newBuilder()
                .addDirectories(DirectoryNode.newBuilder().setName("sub").setDigest(childDigest.toProto())).build());
        Digest action = server.putAction("compile", ActionResult.newBuilder()
                .addOutputFiles(OutputFile.newBuilder().setPath("out/small").setDigest(small.toProto())).build());

        StepVerifier.create(backend.capabilities(SCOPE)).expectNextCount(1).expectComplete().verify(TIMEOUT);
        StepVerifier.create(backend.getActionResult(SCOPE, action)).expectNextCount(1).expectComplete().verify(TIMEOUT);
        StepVerifier.create(backend.findMissing(SCOPE, DigestSet.of(small, DigestFunction.SHA256.digestOf(bytes("absent")))))
                .expectNextCount(1).expectComplete().verify(TIMEOUT);
        StepVerifier.create(backend.readSmallBlob(SCOPE, small)).assertNext(b -> assertThat(b).isEqualTo(bytes("small")))
                .expectComplete().verify(TIMEOUT);
        StepVerifier.create(backend.readSmallBlob(SCOPE, large)).assertNext(b -> assertThat(b).isEqualTo(largeBytes))
                .expectComplete().verify(TIMEOUT);
        StepVerifier.create(backend.getTree(SCOPE, root)).expectNextCount(2).expectComplete().verify(TIMEOUT);

        String version = builtVersion();
        assertThat(version).matches("\\d+\\.\\d+\\.\\d+.*");
        RequestMetadata vouch = RequestMetadata.newBuilder()
                .setToolDetails(ToolDetails.newBuilder().setToolName("vouch").setToolVersion(version)).build();
        for (String method : List.of("GetCapabilities", "GetActionResult", "FindMissingBlobs", "BatchReadBlobs", "Read",
                "GetTree")) {
            List<List<RequestMetadata>> sent = server.requestMetadata(method);
            assertThat(sent).as("calls of %s", method).hasSize(1);
            assertThat(sent.get(0)).as("the RequestMetadata headers of %s", method).hasSize(1);
            RequestMetadata metadata = sent.get(0).get(0);
            assertThat(metadata.getToolDetails()).as(method).isEqualTo(vouch.getToolDetails());
            assertThat(metadata.getCorrelatedInvocationsId()).as(method).isEmpty();
        }
        assertThat(server.requestMetadata("GetActionResult").get(0).get(0).getActionId())
                .as("GetActionResult names the action it asks about").isEqualTo(action.hash());
        assertThat(server.requestMetadata("FindMissingBlobs").get(0).get(0).getActionId()).isEmpty();
    }

    @Test
    void eachValidationRequestIsOneInvocation() {
        ReapiTestServer server = strictServer();
        ReapiBackend backend = backend(config(server.target()));
        Digest action = server.putAction("compile", ActionResult.newBuilder()
                .addOutputFiles(OutputFile.newBuilder().setPath("out/a").setDigest(server.put(bytes("a")).toProto())).build());

        assertThat(validate(backend, action).verdict()).isEqualTo(Verdict.HIT);
        int firstCalls = server.callHeaders.size();
        assertThat(validate(backend, action).verdict()).isEqualTo(Verdict.HIT);

        List<String> ids = server.callHeaders.stream()
                .map(call -> parse(call.getValue().get(ReapiTestServer.REQUEST_METADATA)).getToolInvocationId())
                .toList();
        assertThat(firstCalls).as("GetCapabilities, GetActionResult, FindMissingBlobs").isEqualTo(3);
        assertThat(ids.subList(0, firstCalls)).as("the first request's calls").containsOnly(ids.get(0));
        assertThat(ids.subList(firstCalls, ids.size())).as("the second request's calls").isNotEmpty()
                .containsOnly(ids.get(firstCalls));
        assertThat(ids.get(0)).isNotEmpty().isNotEqualTo(ids.get(firstCalls));
        assertThat(UUID.fromString(ids.get(0))).isNotNull();
    }

    /** The cache front's hook: a client's metadata in the Reactor context goes out exactly as it came. */
    @Test
    void forwardedClientMetadataIsSentUnchanged() {
        ReapiTestServer server = strictServer();
        ReapiBackend backend = backend(config(server.target(), null,
                Map.of(ReapiTestServer.REQUEST_METADATA.name(), base64(CONFIGURED)), null, Duration.ofSeconds(10)));
        Digest action = server.putAction("compile", ActionResult.newBuilder()
                .addOutputFiles(OutputFile.newBuilder().setPath("out/a").setDigest(server.put(bytes("a")).toProto())).build());

        StepVerifier.create(backend.getActionResult(SCOPE, action).contextWrite(c -> CallMetadata.forward(c, BAZEL)))
                .expectNextCount(1).expectComplete().verify(TIMEOUT);
        ActionVerdict verdict = validation(backend, action).contextWrite(c -> CallMetadata.forward(c, BAZEL)).block(TIMEOUT);

        assertThat(verdict.verdict()).isEqualTo(Verdict.HIT);
        assertThat(server.callHeaders).hasSize(4);
        for (String method : List.of("GetCapabilities", "GetActionResult", "FindMissingBlobs")) {
            for (List<RequestMetadata> sent : server.requestMetadata(method)) {
                assertThat(sent).as(method).containsExactly(BAZEL);
            }
        }
    }

    /** An operator's value for the header replaces Vouch's own, once, and is not sent beside it. */
    @Test
    void configuredHeaderReplacesVouchsOwn() {
        ReapiTestServer server = strictServer();
        ReapiBackend backend = backend(config(server.target(), null,
                Map.of("Build.Bazel.Remote.Execution.V2.RequestMetadata-Bin", base64(CONFIGURED), "x-team", "builds"),
                null, Duration.ofSeconds(10)));
        Digest action = server.putAction("compile", ActionResult.newBuilder()
                .addOutputFiles(OutputFile.newBuilder().setPath("out/a").setDigest(server.put(bytes("a")).toProto())).build());

        assertThat(validate(backend, action).verdict()).isEqualTo(Verdict.HIT);

        assertThat(server.callHeaders).hasSize(3);
        for (Map.Entry<String, Metadata> call : server.callHeaders) {
            assertThat(call.getValue().getAll(ReapiTestServer.REQUEST_METADATA)).as(call.getKey()).hasSize(1);
            assertThat(parse(call.getValue().get(ReapiTestServer.REQUEST_METADATA))).as(call.getKey()).isEqualTo(CONFIGURED);
            assertThat(call.getValue().get(Metadata.Key.of("x-team", Metadata.ASCII_STRING_MARSHALLER)))
                    .isEqualTo("builds");
        }
    }

    @Test
    void configuredHeaderThatIsNotRequestMetadataStopsStartUp() {
        String key = "build.bazel.remote.execution.v2.requestmetadata-bin";
        assertThatThrownBy(() -> backend(config("grpc://127.0.0.1:1", null,
                        Map.of(key, Base64.getEncoder().encodeToString(new byte[] {(byte) 0xff, 0x01})), null,
                        Duration.ofSeconds(10))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("vouch.backends[remote].headers." + key
                        + " is not the base64 of a build.bazel.remote.execution.v2.RequestMetadata");
    }

    private static final RequestMetadata BAZEL = RequestMetadata.newBuilder()
            .setToolDetails(ToolDetails.newBuilder().setToolName("bazel").setToolVersion("4.2.3"))
            .setActionId("6d1b3e8f")
            .setToolInvocationId("0c1f0a2e-8a65-4a3e-9a1d-1b2c3d4e5f60")
            .setCorrelatedInvocationsId("build-request-17")
            .setActionMnemonic("Genrule")
            .setTargetId("//:greeting")
            .build();
    private static final RequestMetadata CONFIGURED = RequestMetadata.newBuilder()
            .setToolDetails(ToolDetails.newBuilder().setToolName("ci-gateway").setToolVersion("7")).build();

    private static String base64(RequestMetadata metadata) {
        return Base64.getEncoder().encodeToString(metadata.toByteArray());
    }

    private static RequestMetadata parse(byte[] bytes) {
        try {
            return RequestMetadata.parseFrom(bytes);
        } catch (InvalidProtocolBufferException e) {
            throw new AssertionError(e);
        }
    }

    private static ActionVerdict validate(ReapiBackend backend, Digest action) {
        return validation(backend, action).block(TIMEOUT);
    }

    private static Mono<ActionVerdict> validation(ReapiBackend backend, Digest action) {
        CompletenessValidator validator = new CompletenessValidator(instance -> backend,
                VouchProperties.Limits.defaults(), new ValidationMetrics(new SimpleMeterRegistry()));
        return validator.validate(new ValidationRequest(SCOPE, Mode.EXISTENCE, List.of(action), false)).single();
    }
}
