package dev.vouch.config;

import static org.assertj.core.api.Assertions.assertThat;

import org.assertj.core.util.Throwables;
import org.junit.jupiter.api.Test;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.annotation.Configuration;

/** Configuration as an operator writes it: defaults, and start-up failures that name the key to fix. */
class VouchPropertiesTest {

    @Configuration(proxyBeanMethods = false)
    @EnableConfigurationProperties(VouchProperties.class)
    static class Properties {
    }

    private final ApplicationContextRunner context = new ApplicationContextRunner().withUserConfiguration(Properties.class);

    @Test
    void noBackendsMeansOneEmbeddedBackendAsDefault() {
        context.run(running -> {
            VouchProperties p = running.getBean(VouchProperties.class);
            assertThat(p.backends()).singleElement().satisfies(b -> {
                assertThat(b.name()).isEqualTo("embedded");
                assertThat(b.type()).isEqualTo(VouchProperties.BackendType.EMBEDDED);
            });
            assertThat(p.defaultBackend()).isEqualTo("embedded");
            assertThat(p.embeddedEnabled()).isTrue();
            assertThat(p.limits().maxActions()).isEqualTo(1000);
            assertThat(p.limits().maxRequestBytes()).isEqualTo(4194304);
            assertThat(p.embedded().maxSizeBytes()).isEqualTo(10737418240L);
            assertThat(p.grpc().port()).isEqualTo(9092);
        });
    }

    @Test
    void backendsAndRoutesBindFromNormativeKeys() {
        context.withPropertyValues(
                        "vouch.backends[0].name=remote", "vouch.backends[0].type=grpc",
                        "vouch.backends[0].target=grpcs://cache.example:443",
                        "vouch.backends[0].headers.authorization=Bearer t",
                        "vouch.backends[0].instance-name=main",
                        "vouch.backends[1].name=web", "vouch.backends[1].type=http",
                        "vouch.backends[1].url=http://cache:8080/prefix",
                        "vouch.routes[0].instance-pattern=ci/.*", "vouch.routes[0].backend=web",
                        "vouch.default-backend=web")
                .run(running -> {
                    VouchProperties p = running.getBean(VouchProperties.class);
                    assertThat(p.backends()).extracting(VouchProperties.Backend::name).containsExactly("remote", "web");
                    assertThat(p.backends().get(0).headers()).containsEntry("authorization", "Bearer t");
                    assertThat(p.backends().get(0).instanceName()).isEqualTo("main");
                    assertThat(p.backends().get(1).url().getPath()).isEqualTo("/prefix");
                    assertThat(p.routes()).singleElement().satisfies(r -> assertThat(r.backend()).isEqualTo("web"));
                    assertThat(p.defaultBackend()).isEqualTo("web");
                    assertThat(p.embeddedEnabled()).isFalse();
                });
    }

    @Test
    void unknownType() {
        assertStartupFails("vouch.backends[0].type", "vouch.backends[0].name=x", "vouch.backends[0].type=redis");
    }

    @Test
    void grpcWithoutTarget() {
        assertStartupFails("vouch.backends[0].target", "vouch.backends[0].name=x", "vouch.backends[0].type=grpc");
    }

    @Test
    void grpcTargetWithWrongScheme() {
        assertStartupFails("vouch.backends[0].target", "vouch.backends[0].name=x", "vouch.backends[0].type=grpc",
                "vouch.backends[0].target=http://cache:9092");
    }

    @Test
    void httpWithoutUrl() {
        assertStartupFails("vouch.backends[1].url", "vouch.backends[0].name=e", "vouch.backends[0].type=embedded",
                "vouch.backends[1].name=h", "vouch.backends[1].type=http");
    }

    @Test
    void duplicateBackendName() {
        assertStartupFails("vouch.backends[1].name", "vouch.backends[0].name=e", "vouch.backends[0].type=embedded",
                "vouch.backends[1].name=e", "vouch.backends[1].type=embedded");
    }

    @Test
    void routeToUnknownBackend() {
        assertStartupFails("vouch.routes[0].backend", "vouch.routes[0].instance-pattern=.*",
                "vouch.routes[0].backend=nowhere");
    }

    @Test
    void routeWithBadRegex() {
        assertStartupFails("vouch.routes[0].instance-pattern", "vouch.routes[0].instance-pattern=ci/(",
                "vouch.routes[0].backend=embedded");
    }

    @Test
    void unknownDefaultBackend() {
        assertStartupFails("vouch.default-backend", "vouch.default-backend=nowhere");
    }

    @Test
    void repairFromAnUnknownBackend() {
        assertStartupFails("vouch.front.repair-from 'nowhere' is not a configured backend", "vouch.front.repair-from=nowhere");
    }

    @Test
    void negativeLimit() {
        assertStartupFails("maxActions", "vouch.limits.max-actions=-1");
    }

    @Test
    void fetchConcurrencyDefaultsToEightAndBinds() {
        context.run(running -> assertThat(running.getBean(VouchProperties.class).limits().fetchConcurrency()).isEqualTo(8));
        context.withPropertyValues("vouch.limits.fetch-concurrency=3").run(running ->
                assertThat(running.getBean(VouchProperties.class).limits().fetchConcurrency()).isEqualTo(3));
    }

    @Test
    void zeroFetchConcurrency() {
        assertStartupFails("fetchConcurrency", "vouch.limits.fetch-concurrency=0");
    }

    private void assertStartupFails(String key, String... properties) {
        context.withPropertyValues(properties).run(running -> {
            assertThat(running).hasFailed();
            String messages = Throwables.getStackTrace(running.getStartupFailure());
            assertThat(messages).contains(key);
        });
    }
}
