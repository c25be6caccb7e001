package dev.vouch.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import org.assertj.core.util.Throwables;
import org.junit.jupiter.api.Test;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.annotation.Configuration;

/** The deadline, overload and shutdown keys: their defaults, binding, and start-up failures naming the key. */
class DeadlineAndOverloadPropertiesTest {

    @Configuration(proxyBeanMethods = false)
    @EnableConfigurationProperties({VouchProperties.class, ShutdownProperties.class})
    static class Properties {
    }

    private final ApplicationContextRunner context = new ApplicationContextRunner().withUserConfiguration(Properties.class);

    @Test
    void defaults() {
        context.run(running -> {
            VouchProperties.Limits limits = running.getBean(VouchProperties.class).limits();
            assertThat(limits).isEqualTo(VouchProperties.Limits.defaults());
            assertThat(limits.defaultDeadline()).isEqualTo(Duration.ofSeconds(30));
            assertThat(limits.maxDeadline()).isEqualTo(Duration.ofMinutes(5));
            assertThat(limits.maxInFlightValidations()).isEqualTo(64);
            assertThat(limits.maxBlobsPerRequest()).isEqualTo(500_000L);
            assertThat(limits.overloadRetryAfter()).isEqualTo(Duration.ofSeconds(1));
            assertThat(running.getBean(ShutdownProperties.class).drainDelay()).isZero();
        });
    }

    @Test
    void bindFromKeys() {
        context.withPropertyValues("vouch.limits.default-deadline=2s", "vouch.limits.max-deadline=10s",
                        "vouch.limits.max-in-flight-validations=3", "vouch.limits.max-blobs-per-request=500",
                        "vouch.limits.overload-retry-after=5s", "vouch.shutdown.drain-delay=4s")
                .run(running -> {
                    VouchProperties.Limits limits = running.getBean(VouchProperties.class).limits();
                    assertThat(limits.defaultDeadline()).isEqualTo(Duration.ofSeconds(2));
                    assertThat(limits.maxDeadline()).isEqualTo(Duration.ofSeconds(10));
                    assertThat(limits.maxInFlightValidations()).isEqualTo(3);
                    assertThat(limits.maxBlobsPerRequest()).isEqualTo(500);
                    assertThat(limits.overloadRetryAfter()).isEqualTo(Duration.ofSeconds(5));
                    assertThat(running.getBean(ShutdownProperties.class).drainDelay()).isEqualTo(Duration.ofSeconds(4));
                });
    }

    @Test
    void defaultDeadlineLongerThanTheMaximum() {
        assertStartupFails("vouch.limits.default-deadline", "vouch.limits.default-deadline=10m");
    }

    @Test
    void zeroDeadline() {
        assertStartupFails("vouch.limits.default-deadline", "vouch.limits.default-deadline=0s");
    }

    @Test
    void zeroInFlight() {
        assertStartupFails("maxInFlightValidations", "vouch.limits.max-in-flight-validations=0");
    }

    @Test
    void negativeDrainDelay() {
        assertStartupFails("vouch.shutdown.drain-delay", "vouch.shutdown.drain-delay=-1s");
    }

    private void assertStartupFails(String key, String... properties) {
        context.withPropertyValues(properties).run(running -> {
            assertThat(running).hasFailed();
            assertThat(Throwables.getStackTrace(running.getStartupFailure())).contains(key);
        });
    }
}
