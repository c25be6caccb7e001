package dev.vouch.blockhound;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import java.lang.reflect.Field;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Mono;
import reactor.test.StepVerifier;

/** Proves the session-wide bound is in force: an unbounded verify of a silent publisher ends with an error. */
class StepVerifierTimeoutTest {
    @Test
    void theSessionSetsTheDefault() throws Exception {
        // reactor-test keeps the default in a package-private static; read it to see the listener ran
        Field field = Class.forName("reactor.test.DefaultStepVerifierBuilder").getDeclaredField("defaultVerifyTimeout");
        field.setAccessible(true);
        assertThat(field.get(null)).isEqualTo(StepVerifierTimeout.DEFAULT);
    }

    @Test
    void aVerifyWithoutItsOwnBoundStillEnds() {
        StepVerifier.setDefaultTimeout(Duration.ofMillis(200));
        try {
            Throwable error = catchThrowable(() -> StepVerifier.create(Mono.never()).expectComplete().verify());
            assertThat(error).isInstanceOf(AssertionError.class).hasMessageContaining("timed out");
        } finally {
            StepVerifier.setDefaultTimeout(StepVerifierTimeout.DEFAULT);
        }
    }
}
