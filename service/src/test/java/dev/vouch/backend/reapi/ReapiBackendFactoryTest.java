package dev.vouch.backend.reapi;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vouch.backend.BackendConfiguration;
import dev.vouch.backend.BackendRegistry;
import dev.vouch.backend.CacheBackend;
import dev.vouch.backend.resilience.ResilienceConfiguration;
import dev.vouch.backend.resilience.ResilienceRegistries;
import dev.vouch.config.VouchProperties;
import io.grpc.ManagedChannel;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.annotation.Configuration;

/** {@code vouch.backends[i].type=grpc} as Spring wires it: a ReapiBackend in the registry, closed with the context. */
class ReapiBackendFactoryTest {

    @Configuration(proxyBeanMethods = false)
    @EnableConfigurationProperties(VouchProperties.class)
    static class Properties {
    }

    private final ApplicationContextRunner context = new ApplicationContextRunner()
            .withUserConfiguration(Properties.class, BackendConfiguration.class, ReapiBackendFactory.class);

    @Test
    void grpcBackendFromPropertiesIsClosedWithTheContext() {
        AtomicReference<ManagedChannel> channel = new AtomicReference<>();

        context.withPropertyValues(
                        "vouch.backends[0].name=remote",
                        "vouch.backends[0].type=grpc",
                        // nothing needs to listen: the channel connects on first use
                        "vouch.backends[0].target=grpc://127.0.0.1:1",
                        "vouch.backends[0].instance-name=main",
                        "vouch.backends[0].headers.authorization=Bearer t",
                        "vouch.backends[0].call-timeout=5s")
                .run(running -> {
                    assertThat(running).hasNotFailed();
                    CacheBackend backend = running.getBean(BackendRegistry.class).route("anything");
                    assertThat(backend).isInstanceOf(ReapiBackend.class);
                    assertThat(backend.name()).isEqualTo("remote");
                    channel.set(((ReapiBackend) backend).channel());
                    assertThat(channel.get().isShutdown()).isFalse();
                });

        assertThat(channel.get().isShutdown()).isTrue();
    }

    @Test
    void grpcBackendCallsAreGuardedWithItsResilienceSettings() {
        AtomicReference<ResilienceRegistries> registries = new AtomicReference<>();

        context.withUserConfiguration(ResilienceConfiguration.class)
                .withBean(SimpleMeterRegistry.class)
                .withPropertyValues(
                        "vouch.backends[0].name=remote",
                        "vouch.backends[0].type=grpc",
                        "vouch.backends[0].target=grpc://127.0.0.1:1",
                        "vouch.backends[0].resilience.circuit-breaker.sliding-window-size=7")
                .run(running -> {
                    assertThat(running).hasNotFailed();
                    registries.set(running.getBean(ResilienceRegistries.class));
                    assertThat(registries.get().circuitBreakers().find("remote")).get().satisfies(cb ->
                            assertThat(cb.getCircuitBreakerConfig().getSlidingWindowSize()).isEqualTo(7));
                });

        // closed with the backend
        assertThat(registries.get().circuitBreakers().find("remote")).isEmpty();
    }

    /** Records what it builds, so a test can look at backends the registry never got to hold. */
    static class RecordingFactory extends ReapiBackendFactory {
        static final List<ReapiBackend> built = new CopyOnWriteArrayList<>();

        @Override
        public CacheBackend create(VouchProperties.Backend config) {
            ReapiBackend backend = (ReapiBackend) super.create(config);
            built.add(backend);
            return backend;
        }
    }

    @Test
    void backendThatFailsToBuildClosesTheOnesBuiltBeforeIt() {
        RecordingFactory.built.clear();
        new ApplicationContextRunner()
                .withUserConfiguration(Properties.class, BackendConfiguration.class, RecordingFactory.class)
                .withPropertyValues(
                        "vouch.backends[0].name=first",
                        "vouch.backends[0].type=grpc",
                        "vouch.backends[0].target=grpc://127.0.0.1:1",
                        "vouch.backends[1].name=second",
                        "vouch.backends[1].type=grpc",
                        "vouch.backends[1].target=grpcs://cache.example:443",
                        "vouch.backends[1].tls.ca-file=/nonexistent/vouch-ca.pem")
                .run(running -> assertThat(running).getFailure()
                        .hasStackTraceContaining("vouch.backends[second].tls.ca-file"));

        assertThat(RecordingFactory.built).hasSize(1);
        assertThat(RecordingFactory.built.get(0).name()).isEqualTo("first");
        assertThat(RecordingFactory.built.get(0).channel().isShutdown())
                .as("the first backend's channel is shut down when start-up fails").isTrue();
    }

    @Test
    void clientCertificateWithoutKeyStopsStartUp() {
        context.withPropertyValues(
                        "vouch.backends[0].name=remote",
                        "vouch.backends[0].type=grpc",
                        "vouch.backends[0].target=grpcs://cache.example:443",
                        "vouch.backends[0].tls.cert-file=/etc/vouch/client.crt")
                .run(running -> assertThat(running).getFailure()
                        .rootCause().hasMessageContaining("vouch.backends[remote].tls.cert-file"));
    }
}
