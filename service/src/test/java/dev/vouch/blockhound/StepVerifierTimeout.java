package dev.vouch.blockhound;

import java.time.Duration;
import org.junit.platform.launcher.LauncherSession;
import org.junit.platform.launcher.LauncherSessionListener;
import reactor.test.StepVerifier;

/**
 * Bounds every {@code StepVerifier.verify()} of the test JVM (registered in
 * {@code META-INF/services}): a publisher that never completes fails its test after this long
 * instead of hanging the build. Tests that need less say so with {@code verify(Duration)}.
 */
public class StepVerifierTimeout implements LauncherSessionListener {
    static final Duration DEFAULT = Duration.ofSeconds(30);

    @Override
    public void launcherSessionOpened(LauncherSession session) {
        StepVerifier.setDefaultTimeout(DEFAULT);
    }
}
