package dev.vouch.tls;

import java.nio.file.Path;
import java.time.Duration;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;

/**
 * TLS on Vouch's own ports, REST and gRPC alike ({@code vouch.tls.*}, SPEC "Authentication and
 * TLS"). Off unless {@code cert-file} is set; then both ports speak only TLS.
 *
 * @param certFile PEM certificate chain (leaf first) served on both ports ({@code vouch.tls.cert-file});
 *     re-read when it changes, so a renewed Kubernetes Secret needs no restart
 * @param keyFile PEM private key of the leaf certificate ({@code vouch.tls.key-file}; PKCS#8, PKCS#1 RSA
 *     or SEC1 EC), re-read with {@code cert-file}
 * @param clientCaFile PEM certificates of the CA(s) client certificates must be signed by
 *     ({@code vouch.tls.client-ca-file}); when set, both ports refuse a connection without such a
 *     certificate in the handshake, and with auth on the certificate's subject CN is the identity
 *     ({@code vouch.auth.certificates}). Re-read when it changes
 * @param checkInterval how often the three files are looked at for a change ({@code vouch.tls.check-interval})
 */
@ConfigurationProperties("vouch.tls")
public record TlsProperties(Path certFile, Path keyFile, Path clientCaFile, @DefaultValue("10s") Duration checkInterval) {

    public TlsProperties {
        checkInterval = checkInterval == null ? Duration.ofSeconds(10) : checkInterval;
        if (checkInterval.isNegative() || checkInterval.isZero()) {
            throw new IllegalArgumentException("vouch.tls.check-interval must be positive, was " + checkInterval);
        }
        if ((certFile == null) != (keyFile == null)) {
            throw new IllegalArgumentException(certFile == null
                    ? "vouch.tls.key-file is set but vouch.tls.cert-file is not: TLS needs both"
                    : "vouch.tls.cert-file is set but vouch.tls.key-file is not: TLS needs both");
        }
        if (clientCaFile != null && certFile == null) {
            throw new IllegalArgumentException("vouch.tls.client-ca-file needs TLS: set vouch.tls.cert-file and "
                    + "vouch.tls.key-file too");
        }
    }

    /** Whether the ports speak TLS. */
    public boolean enabled() {
        return certFile != null;
    }

    /** Plaintext ports. */
    public static TlsProperties disabled() {
        return new TlsProperties(null, null, null, null);
    }
}
