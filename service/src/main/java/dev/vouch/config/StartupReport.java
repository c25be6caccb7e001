package dev.vouch.config;

import dev.vouch.api.grpc.GrpcServer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.context.event.ApplicationReadyEvent;
import org.springframework.context.event.EventListener;
import org.springframework.core.env.Environment;
import org.springframework.stereotype.Component;

/**
 * Logs once, when Vouch is ready, where it listens and what to paste next: a Bazel line that fills
 * the embedded cache and a curl line that asks Vouch about an action.
 */
@Component
public class StartupReport {
    private static final Logger log = LoggerFactory.getLogger(StartupReport.class);

    private final VouchProperties properties;
    private final GrpcServer grpcServer;
    private final Environment environment;

    public StartupReport(VouchProperties properties, GrpcServer grpcServer, Environment environment) {
        this.properties = properties;
        this.grpcServer = grpcServer;
        this.environment = environment;
    }

    @EventListener(ApplicationReadyEvent.class)
    public void report() {
        String httpPort = environment.getProperty("local.server.port", environment.getProperty("server.port", "8080"));
        int grpcPort = grpcServer.port();
        log.info("""
                Vouch is ready.
                  REST API and actuator:   http://localhost:{}  (/v1/validate, /actuator/health, /actuator/prometheus)
                  embedded cache (REAPI):  grpc://localhost:{}
                  data directory:          {} (size bound {}, least recently used evicted above it)
                  fill the cache:          bazel build --remote_cache=grpc://localhost:{} //...
                  ask about an action:     curl -s localhost:{}/v1/actions/<hash>/<sizeBytes>""",
                httpPort, grpcPort, properties.dataDir().toAbsolutePath().normalize(),
                humanBytes(properties.embedded().maxSizeBytes()), grpcPort, httpPort);
    }

    static String humanBytes(long bytes) {
        String[] units = {"B", "KiB", "MiB", "GiB", "TiB"};
        double value = bytes;
        int unit = 0;
        while (value >= 1024 && unit < units.length - 1) {
            value /= 1024;
            unit++;
        }
        return unit == 0 ? bytes + " B" : String.format(java.util.Locale.ROOT, "%.1f %s", value, units[unit]);
    }
}
