package dev.vouch.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class DurationsTest {

    @ParameterizedTest
    @CsvSource({
            "0, 0ms",
            "250, 250ms",
            "999, 999ms",
            "1000, 1s",
            "3749, 3.7s",
            "3749.25, 3.7s",
            "22311.75, 22.3s",
            "60000, 1m",
            "150000, 2m30s",
            "300000, 5m"})
    void printedForPeople(double millis, String expected) {
        Duration duration = Duration.ofNanos((long) (millis * 1_000_000));

        assertThat(Durations.format(duration)).isEqualTo(expected);
    }
}
