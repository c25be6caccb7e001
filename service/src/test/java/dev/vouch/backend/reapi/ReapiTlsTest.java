package dev.vouch.backend.reapi;

import static dev.vouch.backend.reapi.ReapiTestServer.TIMEOUT;
import static dev.vouch.backend.reapi.ReapiTestServer.config;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.OutputFile;
import dev.vouch.backend.Scope;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.validation.ActionVerdict;
import dev.vouch.validation.CompletenessValidator;
import dev.vouch.validation.Mode;
import dev.vouch.validation.ValidationMetrics;
import dev.vouch.validation.ValidationRequest;
import dev.vouch.validation.Verdict;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.Writer;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import java.util.Map;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code grpcs://} targets: trust from {@code tls.ca-file}, and a verdict that says TLS when trust fails. */
class ReapiTlsTest {
    private static final VouchProperties.Limits LIMITS =
            VouchProperties.Limits.defaults();

    @TempDir
    Path dir;

    private ReapiTestServer server;
    private Pem serverCert;
    private Digest action;
    private ReapiBackend backend;

    @BeforeEach
    void startTlsServer() throws Exception {
        serverCert = selfSigned("server");
        server = ReapiTestServer.tls(1 << 20, serverCert.cert(), serverCert.key());
        storeAction();
    }

    private void storeAction() {
        Digest output = server.put("a.o".getBytes(StandardCharsets.UTF_8));
        action = server.putAction("compile", ActionResult.newBuilder()
                .addOutputFiles(OutputFile.newBuilder().setPath("a.o").setDigest(output.toProto())).build());
    }

    @AfterEach
    void stop() throws Exception {
        if (backend != null) {
            backend.close();
        }
        server.close();
    }

    private ActionVerdict validate(Path caFile) {
        return validate(new VouchProperties.Tls(caFile, null, null));
    }

    private ActionVerdict validate(VouchProperties.Tls tls) {
        backend = new ReapiBackend(config("grpcs://127.0.0.1:" + server.port(), null, Map.of(), tls,
                Duration.ofSeconds(10)));
        CompletenessValidator validator = new CompletenessValidator(instance -> backend, LIMITS,
                new ValidationMetrics(new SimpleMeterRegistry()));
        return validator.validate(new ValidationRequest(Scope.of(""), Mode.EXISTENCE, List.of(action), false))
                .blockFirst(TIMEOUT);
    }

    @Test
    void trustedServerCertificateGivesHit() throws Exception {
        ActionVerdict verdict = validate(serverCert.cert());

        assertThat(verdict.verdict()).isEqualTo(Verdict.HIT);
    }

    @Test
    void untrustedServerCertificateIsUnknownSayingTls() throws Exception {
        Path otherCa = selfSigned("someone else").cert();

        ActionVerdict verdict = validate(otherCa);

        assertThat(verdict.verdict()).isEqualTo(Verdict.UNKNOWN);
        assertThat(verdict.reason()).contains("TLS").contains("grpcs://127.0.0.1:" + server.port());
    }

    @Test
    void clientCertificateForMutualTls() throws Exception {
        Pem client = selfSigned("client");
        server.close();
        server = ReapiTestServer.mutualTls(1 << 20, serverCert.cert(), serverCert.key(), client.cert());
        storeAction();

        assertThat(validate(new VouchProperties.Tls(serverCert.cert(), client.cert(), client.key())).verdict())
                .isEqualTo(Verdict.HIT);
        backend.close();
        // the server refuses a client without a certificate: never a HIT, never a MISS
        assertThat(validate(new VouchProperties.Tls(serverCert.cert(), null, null)).verdict())
                .isEqualTo(Verdict.UNKNOWN);
    }

    @Test
    void unreadableCaFileFailsNamingTheKey() {
        Path missing = dir.resolve("missing.pem");
        assertThatThrownBy(() -> new ReapiBackend(config("grpcs://127.0.0.1:1", null, Map.of(),
                new VouchProperties.Tls(missing, null, null), Duration.ofSeconds(1))))
                .hasMessageContaining("vouch.backends[remote].tls.ca-file")
                .hasMessageContaining(missing.toString());
    }

    private record Pem(Path cert, Path key) {
    }

    /** A self-signed EC certificate for 127.0.0.1 and localhost, written as PEM (the key as PKCS#8). */
    private Pem selfSigned(String name) throws Exception {
        KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
        generator.initialize(256);
        KeyPair keys = generator.generateKeyPair();
        X500Name subject = new X500Name("CN=" + name);
        Instant now = Instant.now();
        X509CertificateHolder certificate = new JcaX509v3CertificateBuilder(subject, BigInteger.valueOf(now.toEpochMilli()),
                Date.from(now.minus(Duration.ofHours(1))), Date.from(now.plus(Duration.ofDays(1))), subject, keys.getPublic())
                .addExtension(Extension.basicConstraints, true, new BasicConstraints(true))
                .addExtension(Extension.subjectAlternativeName, false, new GeneralNames(new GeneralName[] {
                        new GeneralName(GeneralName.iPAddress, "127.0.0.1"),
                        new GeneralName(GeneralName.dNSName, "localhost")}))
                .build(new JcaContentSignerBuilder("SHA256withECDSA").build(keys.getPrivate()));
        Path cert = dir.resolve(name.replace(' ', '-') + ".crt");
        Path key = dir.resolve(name.replace(' ', '-') + ".key");
        try (Writer out = Files.newBufferedWriter(cert); JcaPEMWriter pem = new JcaPEMWriter(out)) {
            pem.writeObject(certificate);
        }
        try (Writer out = Files.newBufferedWriter(key); JcaPEMWriter pem = new JcaPEMWriter(out)) {
            pem.writeObject(new JcaPKCS8Generator(keys.getPrivate(), null));
        }
        return new Pem(cert, key);
    }
}
