package dev.vouch.backend.resilience;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vouch.backend.BackendFactory;
import dev.vouch.backend.BackendRegistry;
import dev.vouch.backend.CacheBackend;
import dev.vouch.backend.CallGuard;
import dev.vouch.backend.metrics.MetricsBackend;
import dev.vouch.config.VouchProperties;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.List;
import org.assertj.core.util.Throwables;
import org.junit.jupiter.api.Test;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.annotation.Configuration;

/** {@code vouch.backends[i].resilience.*} as an operator writes it, and the decorators it turns into. */
class ResilienceConfigurationTest {

    @Configuration(proxyBeanMethods = false)
    @EnableConfigurationProperties(VouchProperties.class)
    static class Properties {
    }

    private final ApplicationContextRunner context = new ApplicationContextRunner()
            .withUserConfiguration(Properties.class)
            .withPropertyValues("vouch.backends[0].name=remote", "vouch.backends[0].type=grpc",
                    "vouch.backends[0].target=grpc://cache:9092");

    @Test
    void unsetSettingsAreTheDocumentedDefaults() {
        context.run(running -> {
            VouchProperties.Resilience r = running.getBean(VouchProperties.class).backends().get(0).resilience();
            assertThat(r).isEqualTo(VouchProperties.Resilience.defaults());
            assertThat(r.circuitBreaker().failureRateThreshold()).isEqualTo(50f);
            assertThat(r.circuitBreaker().slowCallDurationThreshold()).isEqualTo(Duration.ofSeconds(5));
            assertThat(r.circuitBreaker().waitDurationInOpenState()).isEqualTo(Duration.ofSeconds(10));
            assertThat(r.retry().maxAttempts()).isEqualTo(3);
            assertThat(r.retry().initialBackoff()).isEqualTo(Duration.ofMillis(50));
            assertThat(r.bulkhead().maxConcurrentCalls()).isEqualTo(256);
            // no time limit of its own: the backend's call-timeout (30s by default) plus 5s
            assertThat(r.timeLimiter().timeoutFor(Duration.ofSeconds(30))).isEqualTo(Duration.ofSeconds(35));
        });
    }

    @Test
    void settingsBindFromKebabCaseKeys() {
        context.withPropertyValues(
                        "vouch.backends[0].resilience.circuit-breaker.failure-rate-threshold=25",
                        "vouch.backends[0].resilience.circuit-breaker.wait-duration-in-open-state=1m",
                        "vouch.backends[0].resilience.circuit-breaker.permitted-calls-in-half-open-state=5",
                        "vouch.backends[0].resilience.retry.max-attempts=5",
                        "vouch.backends[0].resilience.retry.randomization-factor=0.2",
                        "vouch.backends[0].resilience.bulkhead.max-concurrent-calls=8",
                        "vouch.backends[0].resilience.time-limiter.timeout=2s")
                .run(running -> {
                    VouchProperties.Resilience r = running.getBean(VouchProperties.class).backends().get(0).resilience();
                    assertThat(r.circuitBreaker().failureRateThreshold()).isEqualTo(25f);
                    assertThat(r.circuitBreaker().waitDurationInOpenState()).isEqualTo(Duration.ofMinutes(1));
                    assertThat(r.circuitBreaker().permittedCallsInHalfOpenState()).isEqualTo(5);
                    assertThat(r.circuitBreaker().slidingWindowSize()).isEqualTo(20);
                    assertThat(r.retry().maxAttempts()).isEqualTo(5);
                    assertThat(r.retry().randomizationFactor()).isEqualTo(0.2);
                    assertThat(r.retry().multiplier()).isEqualTo(2.0);
                    assertThat(r.bulkhead().maxConcurrentCalls()).isEqualTo(8);
                    assertThat(r.timeLimiter().timeoutFor(Duration.ofSeconds(30))).isEqualTo(Duration.ofSeconds(2));
                });
    }

    @Test
    void randomizationFactorOfOneIsRefusedNamingTheKey() {
        context.withPropertyValues("vouch.backends[0].resilience.retry.randomization-factor=1.0").run(running -> {
            assertThat(running).hasFailed();
            assertThat(Throwables.getRootCause(running.getStartupFailure()).getMessage()
                    + running.getStartupFailure().getMessage()).contains("randomizationFactor");
        });
    }

    @Test
    void remoteBackendsAreMeasuredAndGuardedTheEmbeddedOneOnlyMeasured() {
        context.withPropertyValues("vouch.backends[0].call-timeout=3s",
                        "vouch.backends[1].name=embedded", "vouch.backends[1].type=embedded")
                .run(running -> {
                    VouchProperties properties = running.getBean(VouchProperties.class);
                    ResilienceRegistries registries = ResilienceRegistries.create();
                    ResilienceConfiguration configuration = new ResilienceConfiguration();
                    CallGuard.Factory guards = configuration.callGuards(registries);
                    ScriptedBackend remote = new ScriptedBackend("remote");
                    ScriptedBackend local = new ScriptedBackend("embedded");
                    // as the remote factories do: each asks for its backend's guard; the embedded one does not
                    List<BackendFactory> factories = List.of(
                            factory(VouchProperties.BackendType.GRPC, config -> remote.guardedBy(guards.forBackend(config))),
                            factory(VouchProperties.BackendType.EMBEDDED, config -> local));

                    BackendRegistry registry = new BackendRegistry(properties, factories,
                            configuration.backendDecorator(new SimpleMeterRegistry()));

                    CacheBackend remoteBackend = registry.backends().get("remote");
                    assertThat(remoteBackend).isInstanceOf(MetricsBackend.class);
                    assertThat(remoteBackend.name()).isEqualTo("remote");
                    assertThat(registries.circuitBreakers().find("remote")).get().satisfies(cb ->
                            assertThat(cb.getCircuitBreakerConfig().getSlidingWindowSize()).isEqualTo(20));
                    assertThat(registries.timeLimiters().find("remote")).get().satisfies(tl ->
                            assertThat(tl.getTimeLimiterConfig().getTimeoutDuration()).isEqualTo(Duration.ofSeconds(8)));
                    assertThat(registry.backends().get("embedded")).isInstanceOf(MetricsBackend.class);
                    assertThat(registries.circuitBreakers().find("embedded")).isEmpty();

                    registry.close();

                    // closing goes through the decorator to the backends, and the remote one's guards are dropped
                    assertThat(remote.closed()).isTrue();
                    assertThat(local.closed()).isTrue();
                    assertThat(registries.circuitBreakers().find("remote")).isEmpty();
                });
    }

    private static BackendFactory factory(VouchProperties.BackendType type,
            java.util.function.Function<VouchProperties.Backend, CacheBackend> create) {
        return new BackendFactory() {
            @Override
            public VouchProperties.BackendType type() {
                return type;
            }

            @Override
            public CacheBackend create(VouchProperties.Backend config) {
                return create.apply(config);
            }
        };
    }
}
