package dev.vouch.faults;

import java.time.Duration;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Which fault {@link FaultyBackend} applies to each call. A plan is asked once per call, in call
 * order, so a seeded plan replays the same schedule for the same sequence of calls.
 */
@FunctionalInterface
public interface FaultPlan {

    Fault next(FaultyBackend.Operation operation);

    /** Every call goes through. */
    static FaultPlan none() {
        return operation -> Fault.NONE;
    }

    /** Every call of {@code operation} gets {@code fault}; other operations go through. */
    static FaultPlan always(FaultyBackend.Operation operation, Fault fault) {
        return op -> op == operation ? fault : Fault.NONE;
    }

    /**
     * Each call faulty with probability {@code rate}, the fault drawn uniformly from those listed
     * for its operation (operations not listed go through).
     */
    static FaultPlan seeded(long seed, double rate, Map<FaultyBackend.Operation, List<Fault>> faults) {
        Random random = new Random(seed);
        Map<FaultyBackend.Operation, List<Fault>> copy = new EnumMap<>(FaultyBackend.Operation.class);
        faults.forEach((op, list) -> copy.put(op, List.copyOf(list)));
        return operation -> {
            synchronized (random) {
                List<Fault> choices = copy.get(operation);
                if (choices == null || choices.isEmpty() || random.nextDouble() >= rate) {
                    return Fault.NONE;
                }
                return choices.get(random.nextInt(choices.size()));
            }
        };
    }

    /**
     * Alternates: {@code healthy} calls through, then {@code faulty} calls with {@code fault}, and
     * so on, counting calls of every operation (a flapping backend, on a call-count schedule).
     */
    static FaultPlan flapping(int healthy, int faulty, Fault fault) {
        long[] calls = {0};
        return operation -> {
            synchronized (calls) {
                long position = calls[0]++ % (healthy + faulty);
                return position < healthy ? Fault.NONE : fault;
            }
        };
    }

    /** Timing of {@link Fault#DELAY} and {@link Fault#HANG}; a null hang limit hangs for ever. */
    record Timing(Duration delay, Duration hangLimit) {
        public static final Timing DEFAULT = new Timing(Duration.ofMillis(50), Duration.ofSeconds(5));
    }
}
