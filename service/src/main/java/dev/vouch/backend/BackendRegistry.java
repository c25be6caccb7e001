package dev.vouch.backend;

import dev.vouch.config.VouchProperties;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Every configured backend, built once at start-up, and the routing rules of SPEC "Backends": the
 * first {@code vouch.routes[j]} whose pattern matches the whole instance name wins, else the
 * default backend.
 */
public final class BackendRegistry implements BackendRouter, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(BackendRegistry.class);

    private final Map<String, CacheBackend> backends = new LinkedHashMap<>();
    private final List<CompiledRoute> routes;
    private final CacheBackend defaultBackend;

    public BackendRegistry(VouchProperties properties, List<BackendFactory> factories) {
        this(properties, factories, BackendDecorator.NONE);
    }

    /** @param decorator wraps every backend the factories build (metrics); resilience is inside the remote ones */
    public BackendRegistry(VouchProperties properties, List<BackendFactory> factories, BackendDecorator decorator) {
        Map<VouchProperties.BackendType, BackendFactory> byType = new EnumMap<>(VouchProperties.BackendType.class);
        factories.forEach(f -> byType.put(f.type(), f));
        try {
            build(properties.backends(), byType, decorator);
            this.routes = properties.routes().stream()
                    .map(r -> new CompiledRoute(Pattern.compile(r.instancePattern()), backends.get(r.backend())))
                    .toList();
            this.defaultBackend = backends.get(properties.defaultBackend());
        } catch (RuntimeException e) {
            // Spring never gets this bean to destroy: the channels and pools built so far are ours to close
            close();
            throw e;
        }
    }

    private void build(List<VouchProperties.Backend> configs, Map<VouchProperties.BackendType, BackendFactory> byType,
            BackendDecorator decorator) {
        for (int i = 0; i < configs.size(); i++) {
            VouchProperties.Backend config = configs.get(i);
            BackendFactory factory = byType.get(config.type());
            if (factory == null) {
                throw new IllegalStateException("vouch.backends[" + i + "].type " + config.type()
                        + " is not available in this build");
            }
            CacheBackend created = factory.create(config);
            try {
                backends.put(config.name(), decorator.decorate(created, config));
            } catch (RuntimeException e) {
                // a decorator that refuses the backend: the undecorated backend is closed with the rest
                backends.put(config.name(), created);
                throw e;
            }
            log.info("backend {}: {} {}", config.name(), config.type(), describe(config));
        }
    }

    @Override
    public CacheBackend route(String instanceName) {
        String name = instanceName == null ? "" : instanceName;
        for (CompiledRoute route : routes) {
            if (route.pattern().matcher(name).matches()) {
                return route.backend();
            }
        }
        return defaultBackend;
    }

    /** The backends by name, in configuration order. */
    public Map<String, CacheBackend> backends() {
        return Map.copyOf(backends);
    }

    @Override
    public void close() {
        for (CacheBackend backend : backends.values()) {
            if (backend instanceof AutoCloseable closeable) {
                try {
                    closeable.close();
                } catch (Exception e) {
                    log.warn("closing backend {} failed: {}", backend.name(), e.toString());
                }
            }
        }
    }

    private static String describe(VouchProperties.Backend config) {
        return switch (config.type()) {
            case GRPC -> config.target().toString();
            case HTTP -> config.url().toString();
            case EMBEDDED -> "(this process)";
        };
    }

    private record CompiledRoute(Pattern pattern, CacheBackend backend) {
    }
}
