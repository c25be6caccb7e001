package dev.vouch.config;

import java.time.Duration;

/** Durations as people read them in logs and reasons: {@code 250ms}, {@code 3.7s}, {@code 2m30s}, not {@code PT3.74925S}. */
public final class Durations {

    private Durations() {
    }

    public static String format(Duration duration) {
        long millis = duration.toMillis();
        if (millis < 1000) {
            return millis + "ms";
        }
        if (millis < 60_000) {
            // a tenth of a second is as precise as a person needs here
            long tenths = Math.round(millis / 100.0);
            return tenths % 10 == 0 ? tenths / 10 + "s" : tenths / 10 + "." + tenths % 10 + "s";
        }
        long seconds = Math.round(millis / 1000.0);
        long minutes = seconds / 60;
        return seconds % 60 == 0 ? minutes + "m" : minutes + "m" + seconds % 60 + "s";
    }
}
