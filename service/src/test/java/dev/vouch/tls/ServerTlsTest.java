package dev.vouch.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

/** Start-up errors of {@code vouch.tls.*} name the key and the file; a broken replacement changes nothing. */
class ServerTlsTest {
    /** long enough never to tick: the tests call check() themselves */
    private static final Duration NEVER = Duration.ofHours(1);

    @TempDir
    Path dir;

    private final Scheduler io = Schedulers.newSingle("tls-test");

    @AfterEach
    void tearDown() {
        io.dispose();
    }

    @Test
    void aMissingCertificateFileStopsTheStartNamingTheKey() {
        TestCertificates.Issued server = TestCertificates.leaf(dir, "vouch", TestCertificates.ca(dir, "ca"));
        Path missing = dir.resolve("missing.crt");
        assertThatThrownBy(() -> new ServerTls(new TlsProperties(missing, server.key(), null, NEVER), io))
                .hasMessageStartingWith("vouch.tls.cert-file " + missing + " cannot be read");
    }

    @Test
    void aKeyOfAnotherCertificateStopsTheStartNamingBothKeys() {
        TestCertificates.Issued ca = TestCertificates.ca(dir, "ca");
        TestCertificates.Issued server = TestCertificates.leaf(dir, "vouch", ca);
        TestCertificates.Issued other = TestCertificates.leaf(dir, "other", ca);
        assertThatThrownBy(() -> new ServerTls(new TlsProperties(server.cert(), other.key(), null, NEVER), io))
                .hasMessage("vouch.tls.key-file " + other.key() + " is not the key of the first certificate in "
                        + "vouch.tls.cert-file " + server.cert() + " (CN=vouch)");
    }

    @Test
    void aFileWithoutPemIsNamed() throws IOException {
        TestCertificates.Issued server = TestCertificates.leaf(dir, "vouch", TestCertificates.ca(dir, "ca"));
        Path text = Files.writeString(dir.resolve("ca.txt"), "not a certificate\n");
        assertThatThrownBy(() -> new ServerTls(new TlsProperties(server.cert(), server.key(), text, NEVER), io))
                .hasMessageStartingWith("vouch.tls.client-ca-file " + text);
    }

    @Test
    void incompleteSettingsAreRefusedNamingTheKey() {
        assertThatThrownBy(() -> new TlsProperties(null, dir.resolve("k"), null, null))
                .hasMessage("vouch.tls.key-file is set but vouch.tls.cert-file is not: TLS needs both");
        assertThatThrownBy(() -> new TlsProperties(null, null, dir.resolve("ca"), null))
                .hasMessage("vouch.tls.client-ca-file needs TLS: set vouch.tls.cert-file and vouch.tls.key-file too");
    }

    @Test
    void aBrokenReplacementKeepsThePreviousCertificateAndAGoodOneIsTaken() throws IOException {
        TestCertificates.Issued ca = TestCertificates.ca(dir, "ca");
        Path cert = dir.resolve("tls.crt");
        Path key = dir.resolve("tls.key");
        TestCertificates.leaf(dir, "vouch", ca).copyTo(cert, key);
        ServerTls tls = new ServerTls(new TlsProperties(cert, key, null, NEVER), io);
        try {
            assertThat(tls.describe()).contains("CN=vouch from");
            // a half-written Secret: the certificate replaced, the key not yet
            Files.copy(TestCertificates.leaf(dir, "vouch-renewed", ca).cert(), cert,
                    java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            tls.check();
            assertThat(tls.describe()).contains("CN=vouch from");
            Files.copy(dir.resolve("vouch-renewed.key"), key, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            tls.check();
            assertThat(tls.describe()).contains("CN=vouch-renewed from");
        } finally {
            tls.destroy();
        }
    }
}
