package dev.vouch.backend.resilience;

import static dev.vouch.backend.resilience.ScriptedBackend.Op.GET_ACTION_RESULT;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vouch.backend.BackendException;
import dev.vouch.backend.Scope;
import dev.vouch.backend.WallClockJump;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import reactor.test.StepVerifier;

/** The circuit's open-state wait is measured on a monotonic clock: setting the wall clock does not end it. */
class CircuitBreakerClockTest {
    private static final Scope SCOPE = Scope.of("");
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    @Test
    void wallClockSetForwardDoesNotEndTheOpenStateWait() {
        ScriptedBackend fake = new ScriptedBackend("remote");
        Digest action = fake.absentBlob("a");
        try (WallClockJump wallClock = WallClockJump.install()) {
            ResilientCallGuard guard = new ResilientCallGuard("remote", ResilientCallGuardTest.resilience(2, 1, 64),
                    Duration.ofSeconds(30), ResilienceRegistries.create());
            ScriptedBackend backend = fake.guardedBy(guard);
            fake.failAlways(GET_ACTION_RESULT, new BackendException("remote", "backend remote: INTERNAL: disk on fire"));
            for (int i = 0; i < 2; i++) {
                StepVerifier.create(backend.getActionResult(SCOPE, action)).expectError(BackendException.class).verify(TIMEOUT);
            }
            assertThat(guard.circuitBreaker().getState()).isEqualTo(CircuitBreaker.State.OPEN);
            fake.recover();

            // the wait is 10 s; an hour of wall clock is not an hour of waiting
            wallClock.jump(Duration.ofHours(1));

            StepVerifier.create(backend.getActionResult(SCOPE, action))
                    .expectErrorSatisfies(e -> assertThat(e).hasMessageContaining("circuit open"))
                    .verify(TIMEOUT);
            assertThat(fake.calls(GET_ACTION_RESULT)).isEqualTo(2);
            assertThat(guard.circuitBreaker().getState()).isEqualTo(CircuitBreaker.State.OPEN);
        }
    }
}
