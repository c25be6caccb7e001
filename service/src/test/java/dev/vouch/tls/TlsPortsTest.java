package dev.vouch.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.vouch.api.grpc.GrpcServer;
import dev.vouch.config.StartupReport;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.v1.ValidateRequest;
import dev.vouch.v1.ValidateResponse;
import dev.vouch.v1.ValidationServiceGrpc;
import dev.vouch.v1.Verdict;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * {@code vouch.tls.*} with a client CA and auth on, over the real REST and gRPC ports: certificates
 * made here, a client certificate's subject CN as the identity ({@code vouch.auth.certificates}),
 * handshakes refused without a certificate of the CA, and the server certificate replaced on disk.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
@ExtendWith(OutputCaptureExtension.class)
class TlsPortsTest {
    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final Path DIR = tempDir();
    private static final TestCertificates.Issued CA = TestCertificates.ca(DIR, "test-ca");
    private static final TestCertificates.Issued SERVER = TestCertificates.leaf(DIR, "vouch", CA);
    private static final Path CERT_FILE = DIR.resolve("tls.crt");
    private static final Path KEY_FILE = DIR.resolve("tls.key");
    /** validate everywhere */
    private static final TestCertificates.Issued RUNNER = TestCertificates.leaf(DIR, "ci-runner", CA);
    /** read only */
    private static final TestCertificates.Issued READER = TestCertificates.leaf(DIR, "reader", CA);
    /** the CN of ci-runner, but signed by another CA */
    private static final TestCertificates.Issued STRANGER = TestCertificates.leaf(DIR.resolve("other"),
            "ci-runner", TestCertificates.ca(DIR.resolve("other"), "other-ca"));

    static {
        SERVER.copyTo(CERT_FILE, KEY_FILE);
    }

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry registry) {
        registry.add("vouch.grpc.port", () -> "0");
        registry.add("vouch.data-dir", () -> DIR.resolve("data").toString());
        registry.add("vouch.tls.cert-file", CERT_FILE::toString);
        registry.add("vouch.tls.key-file", KEY_FILE::toString);
        registry.add("vouch.tls.client-ca-file", () -> CA.cert().toString());
        registry.add("vouch.tls.check-interval", () -> "100ms");
        registry.add("vouch.auth.enabled", () -> "true");
        registry.add("vouch.auth.certificates[0].subject", () -> "ci-runner");
        registry.add("vouch.auth.certificates[0].instance-patterns", () -> ".*");
        registry.add("vouch.auth.certificates[0].rights", () -> "validate");
        registry.add("vouch.auth.certificates[1].subject", () -> "reader");
        registry.add("vouch.auth.certificates[1].instance-patterns", () -> ".*");
        registry.add("vouch.auth.certificates[1].rights", () -> "read");
    }

    @LocalServerPort
    int httpPort;

    @Autowired
    GrpcServer grpc;

    @Autowired
    StartupReport report;

    @Test
    void theStartUpReportGivesTheSecureAddresses(CapturedOutput output) {
        report.report();
        assertThat(output.getAll())
                .contains("REST API and actuator:   https://localhost:" + httpPort)
                .contains("fill the cache:          bazel build --remote_cache=grpcs://localhost:" + grpc.port())
                .contains("ask about an action:     curl -s --cacert <ca.pem> https://localhost:" + httpPort)
                .containsPattern("TLS: +on for REST and gRPC with CN=");
    }

    @Test
    void clientCertificateCnIsTheIdentityOnRest() throws Exception {
        HttpResponse<String> runner = post(RUNNER.clientContext(CA));
        assertThat(runner.statusCode()).isEqualTo(200);
        assertThat(runner.body()).contains("\"verdict\":\"MISS\"");
        HttpResponse<String> reader = post(READER.clientContext(CA));
        assertThat(reader.statusCode()).isEqualTo(403);
        assertThat(reader.body()).contains("'reader' does not hold the right validate");
    }

    @Test
    void clientCertificateCnIsTheIdentityOnGrpc() {
        assertThat(validate(tls(RUNNER)).getResults(0).getVerdict()).isEqualTo(Verdict.MISS);
        assertThatThrownBy(() -> validate(tls(READER)))
                .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
                    assertThat(e.getStatus().getDescription()).isEqualTo("'reader' does not hold the right validate");
                });
    }

    @Test
    void noClientCertificateOrOneOfAnotherCaIsRefusedInTheHandshake() throws Exception {
        SSLContext anonymous = SSLContext.getInstance("TLS");
        anonymous.init(null, TestCertificates.trusting(CA).getTrustManagers(), null);
        for (SSLContext client : new SSLContext[] {anonymous, STRANGER.clientContext(CA)}) {
            assertThatThrownBy(() -> post(client)).isInstanceOf(IOException.class);
            assertThatThrownBy(() -> handshakeAndRead(client, httpPort)).isInstanceOf(javax.net.ssl.SSLException.class);
            assertThatThrownBy(() -> handshakeAndRead(client, grpc.port())).isInstanceOf(javax.net.ssl.SSLException.class);
        }
        ChannelCredentials noCertificate = TlsChannelCredentials.newBuilder().trustManager(CA.cert().toFile()).build();
        ChannelCredentials stranger = TlsChannelCredentials.newBuilder().trustManager(CA.cert().toFile())
                .keyManager(STRANGER.cert().toFile(), STRANGER.key().toFile()).build();
        for (ChannelCredentials credentials : new ChannelCredentials[] {noCertificate, stranger}) {
            assertThatThrownBy(() -> validate(credentials)).isInstanceOfSatisfying(StatusRuntimeException.class,
                    e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE));
        }
    }

    @Test
    void plaintextToTheTlsPortsFails() {
        HttpClient plain = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(WAIT).build();
        assertThatThrownBy(() -> plain.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + httpPort
                        + "/actuator/health/liveness")).timeout(WAIT).build(), HttpResponse.BodyHandlers.ofString()))
                .isInstanceOf(IOException.class);
        assertThatThrownBy(() -> validate(InsecureChannelCredentials.create()))
                .isInstanceOfSatisfying(StatusRuntimeException.class,
                        e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE));
    }

    @Test
    void aReplacedCertificateIsServedToNewConnectionsWithoutRestart() throws Exception {
        assertThat(serverCn(httpPort)).isEqualTo("CN=vouch");
        assertThat(serverCn(grpc.port())).isEqualTo("CN=vouch");
        TestCertificates.Issued renewed = TestCertificates.leaf(DIR, "vouch-renewed", CA);
        try {
            renewed.copyTo(CERT_FILE, KEY_FILE);
            await().atMost(WAIT).untilAsserted(() -> {
                assertThat(serverCn(httpPort)).isEqualTo("CN=vouch-renewed");
                assertThat(serverCn(grpc.port())).isEqualTo("CN=vouch-renewed");
            });
            assertThat(post(RUNNER.clientContext(CA)).statusCode()).isEqualTo(200);
            assertThat(validate(tls(RUNNER)).getResults(0).getVerdict()).isEqualTo(Verdict.MISS);
        } finally {
            SERVER.copyTo(CERT_FILE, KEY_FILE);
            await().atMost(WAIT).untilAsserted(() -> assertThat(serverCn(httpPort)).isEqualTo("CN=vouch"));
        }
    }

    private HttpResponse<String> post(SSLContext client) throws IOException, InterruptedException {
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).sslContext(client)
                .connectTimeout(WAIT).build();
        Digest action = DigestFunction.SHA256.digestOf(UUID.randomUUID().toString().getBytes(StandardCharsets.UTF_8));
        return http.send(HttpRequest.newBuilder(URI.create("https://localhost:" + httpPort + "/v1/validate"))
                .timeout(WAIT).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"instanceName\":\"ci/main\",\"actions\":[\"" + action.hash()
                        + "/" + action.sizeBytes() + "\"]}")).build(), HttpResponse.BodyHandlers.ofString());
    }

    private static ChannelCredentials tls(TestCertificates.Issued client) {
        try {
            return TlsChannelCredentials.newBuilder().trustManager(CA.cert().toFile())
                    .keyManager(client.cert().toFile(), client.key().toFile()).build();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private ValidateResponse validate(ChannelCredentials credentials) {
        ManagedChannel channel = Grpc.newChannelBuilderForAddress("localhost", grpc.port(), credentials).build();
        try {
            Digest action = DigestFunction.SHA256.digestOf(UUID.randomUUID().toString().getBytes(StandardCharsets.UTF_8));
            return ValidationServiceGrpc.newBlockingStub(channel).withDeadlineAfter(WAIT.toMillis(), TimeUnit.MILLISECONDS)
                    .validate(ValidateRequest.newBuilder().setInstanceName("ci/main").addActions(action.toProto()).build());
        } finally {
            channel.shutdownNow();
        }
    }

    /** Handshakes, sends a byte and reads: a server that refused the client certificate says so here. */
    private static void handshakeAndRead(SSLContext client, int port) throws IOException {
        try (SSLSocket socket = (SSLSocket) client.getSocketFactory().createSocket("localhost", port)) {
            socket.setSoTimeout((int) WAIT.toMillis());
            socket.startHandshake();
            socket.getOutputStream().write("GET / HTTP/1.1\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            socket.getOutputStream().flush();
            socket.getInputStream().read();
        }
    }

    /** The subject of the certificate a new connection to {@code port} is served. */
    private static String serverCn(int port) throws IOException {
        try (SSLSocket socket = (SSLSocket) RUNNER.clientContext(CA).getSocketFactory().createSocket("localhost", port)) {
            socket.setSoTimeout((int) WAIT.toMillis());
            socket.startHandshake();
            return ((X509Certificate) socket.getSession().getPeerCertificates()[0]).getSubjectX500Principal().getName();
        }
    }

    private static Path tempDir() {
        try {
            return Files.createTempDirectory("vouch-tls");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
