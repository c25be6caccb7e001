package dev.vouch.tls;

import io.grpc.ServerCredentials;
import io.grpc.TlsServerCredentials;
import io.grpc.util.AdvancedTlsX509KeyManager;
import io.grpc.util.AdvancedTlsX509TrustManager;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import java.util.List;
import javax.net.ssl.SSLException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.DisposableBean;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.boot.ssl.pem.PemContent;
import org.springframework.stereotype.Component;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.scheduler.Scheduler;

/**
 * The certificate, key and client CA of both ports ({@code vouch.tls.*}), loaded once at start-up
 * (a missing, unreadable or mismatched file stops the start with the key it came from) and then
 * watched on the {@code vouch-io} scheduler: when a file's content changes, new connections get the
 * new certificate (or CA) while established ones keep theirs. A changed file that does not load is
 * reported once and the previous material stays in use, so a half-written Secret never takes the
 * ports down. The REST port ({@link TlsHttpServer}) and the gRPC port share one key manager and one
 * trust manager, grpc-java's reloadable {@link AdvancedTlsX509KeyManager} and
 * {@link AdvancedTlsX509TrustManager}, asked at every handshake.
 */
@Component
public class ServerTls implements DisposableBean {
    private static final Logger log = LoggerFactory.getLogger(ServerTls.class);

    private final TlsProperties properties;
    private final AdvancedTlsX509KeyManager keyManager;
    private final AdvancedTlsX509TrustManager trustManager;
    private final Disposable watch;
    private volatile byte[] loaded;
    private volatile byte[] reported;
    private volatile String subject = "";

    public ServerTls(TlsProperties properties, @Qualifier("ioScheduler") Scheduler io) {
        this.properties = properties;
        if (!properties.enabled()) {
            keyManager = null;
            trustManager = null;
            watch = null;
            return;
        }
        keyManager = new AdvancedTlsX509KeyManager();
        try {
            trustManager = properties.clientCaFile() == null ? null : AdvancedTlsX509TrustManager.newBuilder()
                    .setVerification(AdvancedTlsX509TrustManager.Verification.CERTIFICATE_ONLY_VERIFICATION).build();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot set up the client certificate check of vouch.tls.client-ca-file", e);
        }
        byte[] fingerprint = fingerprint();
        apply(load());
        loaded = fingerprint;
        // reading three small files is blocking I/O: on vouch-io, never on an event loop
        watch = Flux.interval(properties.checkInterval(), properties.checkInterval(), io)
                .onBackpressureDrop()
                .subscribe(tick -> check());
    }

    /** Whether the ports speak TLS ({@code vouch.tls.cert-file} is set). */
    public boolean enabled() {
        return properties.enabled();
    }

    /** Whether a client certificate is required ({@code vouch.tls.client-ca-file} is set). */
    public boolean clientCertificates() {
        return trustManager != null;
    }

    /** What the start-up report says about TLS. */
    public String describe() {
        if (!enabled()) {
            return "OFF (vouch.tls.cert-file not set): REST and gRPC ports speak plaintext";
        }
        return "on for REST and gRPC with " + subject + " from " + properties.certFile()
                + (trustManager == null ? "" : ", client certificates signed by " + properties.clientCaFile() + " required")
                + " (re-read when they change)";
    }

    /** The gRPC port's credentials; null when TLS is off. */
    public ServerCredentials grpcCredentials() {
        if (!enabled()) {
            return null;
        }
        TlsServerCredentials.Builder builder = TlsServerCredentials.newBuilder().keyManager(keyManager);
        if (trustManager != null) {
            builder.trustManager(trustManager).clientAuth(TlsServerCredentials.ClientAuth.REQUIRE);
        }
        return builder.build();
    }

    /** The REST port's SSL context (Reactor Netty); the same managers as the gRPC port's. */
    public SslContext httpSslContext() {
        try {
            SslContextBuilder builder = SslContextBuilder.forServer(keyManager).sslProvider(SslProvider.JDK);
            if (trustManager != null) {
                builder.trustManager(trustManager).clientAuth(ClientAuth.REQUIRE);
            }
            return builder.build();
        } catch (SSLException e) {
            throw new IllegalStateException("cannot set up TLS for the HTTP port from vouch.tls.cert-file", e);
        }
    }

    /** Looks for a change of the files and applies it; a failure keeps what is in use. */
    void check() {
        byte[] fingerprint;
        try {
            fingerprint = fingerprint();
        } catch (IllegalArgumentException e) {
            warnOnce(e.getMessage().getBytes(java.nio.charset.StandardCharsets.UTF_8), e.getMessage());
            return;
        }
        if (Arrays.equals(fingerprint, loaded)) {
            return;
        }
        try {
            apply(load());
            loaded = fingerprint;
            reported = null;
            log.info("TLS material reloaded: serving {} from {}", subject, properties.certFile());
        } catch (IllegalArgumentException e) {
            warnOnce(fingerprint, e.getMessage());
        }
    }

    private void warnOnce(byte[] fingerprint, String message) {
        if (!Arrays.equals(fingerprint, reported)) {
            reported = fingerprint;
            log.warn("TLS files changed but cannot be used, the previous certificate stays in use: {}", message);
        }
    }

    private record Material(List<X509Certificate> chain, PrivateKey key, List<X509Certificate> clientCas) {
    }

    private void apply(Material material) {
        try {
            keyManager.updateIdentityCredentials(material.chain().toArray(X509Certificate[]::new), material.key());
            if (trustManager != null) {
                trustManager.updateTrustCredentials(material.clientCas().toArray(X509Certificate[]::new));
            }
        } catch (IOException | GeneralSecurityException e) {
            throw new IllegalArgumentException("vouch.tls.client-ca-file " + properties.clientCaFile()
                    + " cannot be used: " + e.getMessage(), e);
        }
        subject = material.chain().get(0).getSubjectX500Principal().getName();
    }

    private Material load() {
        List<X509Certificate> chain = certificates(properties.certFile(), "vouch.tls.cert-file");
        PrivateKey key;
        try {
            key = pem(properties.keyFile(), "vouch.tls.key-file").getPrivateKey();
        } catch (IllegalStateException e) {
            throw new IllegalArgumentException("vouch.tls.key-file " + properties.keyFile()
                    + " holds no usable PEM private key: " + e.getMessage(), e);
        }
        if (key == null) {
            throw new IllegalArgumentException("vouch.tls.key-file " + properties.keyFile() + " holds no PEM private key");
        }
        if (!matches(key, chain.get(0))) {
            throw new IllegalArgumentException("vouch.tls.key-file " + properties.keyFile() + " is not the key of the "
                    + "first certificate in vouch.tls.cert-file " + properties.certFile() + " ("
                    + chain.get(0).getSubjectX500Principal().getName() + ")");
        }
        List<X509Certificate> cas = properties.clientCaFile() == null ? List.of()
                : certificates(properties.clientCaFile(), "vouch.tls.client-ca-file");
        return new Material(chain, key, cas);
    }

    private static List<X509Certificate> certificates(Path file, String key) {
        List<X509Certificate> certificates;
        try {
            certificates = pem(file, key).getCertificates();
        } catch (IllegalStateException e) {
            throw new IllegalArgumentException(key + " " + file + " holds no usable PEM certificate: " + e.getMessage(), e);
        }
        if (certificates == null || certificates.isEmpty()) {
            throw new IllegalArgumentException(key + " " + file + " holds no PEM certificate");
        }
        return certificates;
    }

    private static PemContent pem(Path file, String key) {
        try {
            PemContent content = PemContent.load(file);
            if (content == null) {
                throw new IllegalArgumentException(key + " " + file + " is empty");
            }
            return content;
        } catch (IOException e) {
            throw new IllegalArgumentException(key + " " + file + " cannot be read: " + e, e);
        }
    }

    /** Whether {@code key} signs what the certificate's public key verifies: the pair belongs together. */
    private static boolean matches(PrivateKey key, X509Certificate certificate) {
        String algorithm = switch (key.getAlgorithm()) {
            case "RSA" -> "SHA256withRSA";
            case "EC" -> "SHA256withECDSA";
            case "Ed25519", "EdDSA" -> "Ed25519";
            default -> null;
        };
        if (algorithm == null) {
            return true;
        }
        try {
            byte[] probe = "vouch".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
            Signature signer = Signature.getInstance(algorithm);
            signer.initSign(key);
            signer.update(probe);
            byte[] signature = signer.sign();
            Signature verifier = Signature.getInstance(algorithm);
            verifier.initVerify(certificate.getPublicKey());
            verifier.update(probe);
            return verifier.verify(signature);
        } catch (GeneralSecurityException e) {
            return false;
        }
    }

    /** The SHA-256 of the three files' contents: a Secret update swaps symlinks, so times alone would mislead. */
    private byte[] fingerprint() {
        try {
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            digest.update(read(properties.certFile(), "vouch.tls.cert-file"));
            digest.update((byte) 0);
            digest.update(read(properties.keyFile(), "vouch.tls.key-file"));
            if (properties.clientCaFile() != null) {
                digest.update((byte) 0);
                digest.update(read(properties.clientCaFile(), "vouch.tls.client-ca-file"));
            }
            return digest.digest();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    private static byte[] read(Path file, String key) {
        try {
            return Files.readAllBytes(file);
        } catch (IOException e) {
            throw new IllegalArgumentException(key + " " + file + " cannot be read: " + e, e);
        }
    }

    @Override
    public void destroy() {
        if (watch != null) {
            watch.dispose();
        }
    }
}
