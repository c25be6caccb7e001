package dev.vouch.api.grpc;

import dev.vouch.backend.Deadline;
import dev.vouch.config.VouchProperties;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * The deadline of a {@code vouch.v1} call, and of a cache front call: the client's gRPC deadline
 * less a margin for the answer's trip back, at most {@code vouch.limits.max-deadline};
 * {@code vouch.limits.default-deadline} when the client set none. The margin is why a client whose deadline is longer than the backends take
 * to fail gets UNKNOWN "deadline exceeded" results rather than a DEADLINE_EXCEEDED status.
 */
public final class CallDeadlines {
    /** The margin is a tenth of the time left, never more than this. */
    static final Duration MAX_REPLY_MARGIN = Duration.ofMillis(500);

    private final Duration defaultDeadline;
    private final Duration maxDeadline;

    public CallDeadlines(VouchProperties.Limits limits) {
        this.defaultDeadline = limits.defaultDeadline();
        this.maxDeadline = limits.maxDeadline();
    }

    /** @param callDeadline the call's {@code io.grpc.Context} deadline, or null when the client set none */
    public Deadline of(io.grpc.Deadline callDeadline) {
        if (callDeadline == null) {
            return Deadline.in(defaultDeadline);
        }
        Duration left = Duration.ofMillis(Math.max(0, callDeadline.timeRemaining(TimeUnit.MILLISECONDS)));
        Duration margin = left.dividedBy(10);
        Duration answerWithin = left.minus(margin.compareTo(MAX_REPLY_MARGIN) < 0 ? margin : MAX_REPLY_MARGIN);
        // a client may ask for less than the maximum, never for more
        return Deadline.in(answerWithin.compareTo(maxDeadline) < 0 ? answerWithin : maxDeadline);
    }
}
