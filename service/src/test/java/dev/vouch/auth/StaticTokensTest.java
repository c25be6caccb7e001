package dev.vouch.auth;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;
import reactor.test.scheduler.VirtualTimeScheduler;

/** The tokens file's polling, on virtual time: what a rotation and a broken file do, check by check. */
@ExtendWith(OutputCaptureExtension.class)
class StaticTokensTest {
    private static final Duration EVERY = Duration.ofSeconds(5);
    private static final String BROKEN = "could not be re-read";

    @TempDir
    Path dir;

    @Test
    void aBrokenFileIsReportedOnceAndItsPreviousTokensKeepWorking(CapturedOutput output) throws IOException {
        Path file = dir.resolve("tokens.yaml");
        write(file, entry("first", "token-one"));
        VirtualTimeScheduler time = VirtualTimeScheduler.create();
        try (StaticTokens tokens = new StaticTokens(properties(file), time)) {
            write(file, "tokens: [ {name: broken, sha256: nothex} ]\n");
            time.advanceTimeBy(EVERY.multipliedBy(20));
            assertThat(count(output.getAll(), BROKEN)).as("warnings for one broken content over 20 checks").isEqualTo(1);
            assertThat(tokens.match("token-one")).isNotNull();

            // another broken content is news; then a good one is taken and the next break reported again
            write(file, "tokens: [ {name: broken, sha256: still-not-hex} ]\n");
            time.advanceTimeBy(EVERY.multipliedBy(3));
            assertThat(count(output.getAll(), BROKEN)).isEqualTo(2);
            write(file, entry("second", "token-two"));
            time.advanceTimeBy(EVERY);
            assertThat(tokens.match("token-two")).isNotNull();
            assertThat(tokens.match("token-one")).isNull();
            Files.delete(file);
            time.advanceTimeBy(EVERY.multipliedBy(10));
            assertThat(count(output.getAll(), BROKEN)).as("a missing file, reported once").isEqualTo(3);
            assertThat(tokens.match("token-two")).isNotNull();
        } finally {
            time.dispose();
        }
    }

    private static AuthProperties properties(Path file) {
        return new AuthProperties(true, List.of(), file, EVERY, null, null);
    }

    private static String entry(String name, String token) {
        String sha = HexFormat.of().formatHex(StaticTokens.sha256(token.getBytes(StandardCharsets.UTF_8)));
        return "tokens:\n  - name: " + name + "\n    sha256: " + sha + "\n    instance-patterns: ['.*']\n    rights: [validate]\n";
    }

    private static void write(Path file, String text) throws IOException {
        Files.writeString(file, text);
    }

    private static int count(String text, String what) {
        int n = 0;
        for (int i = text.indexOf(what); i >= 0; i = text.indexOf(what, i + 1)) {
            n++;
        }
        return n;
    }
}
