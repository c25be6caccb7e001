package dev.vouch.backend;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** A request's deadline is so much time from now, whatever the wall clock does meanwhile. */
class DeadlineTest {

    @Test
    void wallClockSetForwardOrBackLeavesTheDeadlineAlone() {
        try (WallClockJump wallClock = WallClockJump.install()) {
            Deadline deadline = Deadline.in(Duration.ofSeconds(10));

            wallClock.jump(Duration.ofHours(1));
            assertThat(deadline.expired()).as("expired after the wall clock moved an hour forward").isFalse();
            assertThat(deadline.remaining()).isPositive().isLessThanOrEqualTo(Duration.ofSeconds(10));

            wallClock.jump(Duration.ofHours(-1));
            assertThat(deadline.remaining()).as("left after the wall clock moved an hour back")
                    .isPositive().isLessThanOrEqualTo(Duration.ofSeconds(10));
        }
    }

    @Test
    void measuredOnItsMonotonicClockAlone() {
        AtomicLong nanos = new AtomicLong(-5_000_000_000L);
        try (WallClockJump wallClock = WallClockJump.install()) {
            Deadline deadline = Deadline.in(Duration.ofSeconds(10), nanos::get);

            nanos.addAndGet(Duration.ofSeconds(4).toNanos());
            wallClock.jump(Duration.ofDays(-1));
            assertThat(deadline.remaining()).isEqualTo(Duration.ofSeconds(6));
            assertThat(deadline.expired()).isFalse();

            nanos.addAndGet(Duration.ofSeconds(6).toNanos());
            wallClock.jump(Duration.ZERO);
            assertThat(deadline.remaining()).isZero();
            assertThat(deadline.expired()).isTrue();
        }
    }
}
