package dev.vouch.backend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import build.bazel.remote.execution.v2.ActionResult;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestSet;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.MapConfigurationPropertySource;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/** Routing by instance name: first matching route wins, whole-name matches only, else the default. */
class BackendRegistryTest {

    private final List<String> closed = new ArrayList<>();

    @Test
    void routesByInstanceNameAndFallsBackToDefault() {
        BackendRegistry registry = registry(
                "vouch.backends[0].name", "main", "vouch.backends[0].type", "embedded",
                "vouch.backends[1].name", "ci", "vouch.backends[1].type", "embedded",
                "vouch.backends[2].name", "release", "vouch.backends[2].type", "embedded",
                "vouch.routes[0].instance-pattern", "ci/.*", "vouch.routes[0].backend", "ci",
                "vouch.routes[1].instance-pattern", "ci/release|release/.*", "vouch.routes[1].backend", "release");

        assertThat(registry.route("ci/linux").name()).isEqualTo("ci");
        // first match wins even though the second route matches too
        assertThat(registry.route("ci/release").name()).isEqualTo("ci");
        assertThat(registry.route("release/2026").name()).isEqualTo("release");
        // a pattern must match the whole name, not a part of it
        assertThat(registry.route("my-ci/linux").name()).isEqualTo("main");
        assertThat(registry.route("").name()).isEqualTo("main");
        assertThat(registry.route(null).name()).isEqualTo("main");
    }

    @Test
    void explicitDefaultBackend() {
        BackendRegistry registry = registry(
                "vouch.backends[0].name", "main", "vouch.backends[0].type", "embedded",
                "vouch.backends[1].name", "other", "vouch.backends[1].type", "embedded",
                "vouch.default-backend", "other");
        assertThat(registry.route("anything").name()).isEqualTo("other");
    }

    @Test
    void closesBackendsThatHoldResources() {
        registry("vouch.backends[0].name", "a", "vouch.backends[0].type", "embedded",
                "vouch.backends[1].name", "b", "vouch.backends[1].type", "embedded").close();
        assertThat(closed).containsExactly("a", "b");
    }

    @Test
    void backendThatFailsToBuildClosesTheOnesBuiltBeforeIt() {
        VouchProperties properties = bind(
                "vouch.backends[0].name", "a", "vouch.backends[0].type", "embedded",
                "vouch.backends[1].name", "b", "vouch.backends[1].type", "embedded",
                "vouch.backends[2].name", "broken", "vouch.backends[2].type", "embedded",
                "vouch.backends[3].name", "never", "vouch.backends[3].type", "embedded");
        BackendFactory failing = new Factory() {
            @Override
            public CacheBackend create(VouchProperties.Backend config) {
                if (config.name().equals("broken")) {
                    throw new IllegalArgumentException("vouch.backends[broken].tls.ca-file is not readable");
                }
                return super.create(config);
            }
        };

        assertThatThrownBy(() -> new BackendRegistry(properties, List.of(failing)))
                .hasMessage("vouch.backends[broken].tls.ca-file is not readable");
        assertThat(closed).containsExactly("a", "b");
    }

    @Test
    void typeWithoutFactoryFailsNamingTheKey() {
        VouchProperties properties = bind("vouch.backends[0].name", "r", "vouch.backends[0].type", "grpc",
                "vouch.backends[0].target", "grpc://localhost:1");
        assertThatThrownBy(() -> new BackendRegistry(properties, List.of(new Factory())))
                .hasMessageContaining("vouch.backends[0].type");
    }

    private BackendRegistry registry(String... keyValues) {
        return new BackendRegistry(bind(keyValues), List.of(new Factory()));
    }

    private static VouchProperties bind(String... keyValues) {
        MapConfigurationPropertySource source = new MapConfigurationPropertySource();
        for (int i = 0; i < keyValues.length; i += 2) {
            source.put(keyValues[i], keyValues[i + 1]);
        }
        return new Binder(source).bindOrCreate("vouch", VouchProperties.class);
    }

    /** Named stand-ins: routing never calls a backend. */
    private class Factory implements BackendFactory {
        @Override
        public VouchProperties.BackendType type() {
            return VouchProperties.BackendType.EMBEDDED;
        }

        @Override
        public CacheBackend create(VouchProperties.Backend config) {
            return new Named(config.name());
        }
    }

    private final class Named implements CacheBackend, AutoCloseable {
        private final String name;

        Named(String name) {
            this.name = name;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public Mono<BackendCapabilities> capabilities(Scope scope) {
            return Mono.just(new BackendCapabilities(Set.of(), 0));
        }

        @Override
        public Mono<ActionResult> getActionResult(Scope scope, Digest action) {
            return Mono.empty();
        }

        @Override
        public Mono<DigestSet> findMissing(Scope scope, DigestSet digests) {
            return Mono.just(digests);
        }

        @Override
        public Flux<ByteBuffer> readBlob(Scope scope, Digest digest) {
            return Flux.error(new BlobNotFoundException(digest));
        }

        @Override
        public void close() {
            closed.add(name);
        }
    }
}
