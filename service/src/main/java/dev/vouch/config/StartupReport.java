package dev.vouch.config;

import dev.vouch.api.grpc.GrpcServer;
import dev.vouch.auth.Authorizer;
import dev.vouch.tls.ServerTls;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.context.event.ApplicationReadyEvent;
import org.springframework.context.event.EventListener;
import org.springframework.core.env.Environment;
import org.springframework.stereotype.Component;

/**
 * Logs once, when Vouch is ready, where it listens and what to paste next: a Bazel line that fills
 * the embedded cache and a curl line that asks Vouch about an action; and whether authentication is
 * on, with a warning when it is off, since the gRPC port always listens beyond loopback.
 */
@Component
public class StartupReport {
    private static final Logger log = LoggerFactory.getLogger(StartupReport.class);

    private final VouchProperties properties;
    private final GrpcServer grpcServer;
    private final Environment environment;
    private final Authorizer authorizer;
    private ServerTls tls;

    public StartupReport(VouchProperties properties, GrpcServer grpcServer, Environment environment,
            Authorizer authorizer) {
        this.properties = properties;
        this.grpcServer = grpcServer;
        this.environment = environment;
        this.authorizer = authorizer;
    }

    /** TLS on the ports ({@code vouch.tls.*}): the report then gives https:// and grpcs:// addresses. */
    @Autowired(required = false)
    public void setTls(ServerTls tls) {
        this.tls = tls;
    }

    @EventListener(ApplicationReadyEvent.class)
    public void report() {
        String httpPort = environment.getProperty("local.server.port", environment.getProperty("server.port", "8080"));
        int grpcPort = grpcServer.port();
        boolean secure = tls != null && tls.enabled();
        StringBuilder text = new StringBuilder("Vouch is ready.\n")
                .append("  REST API and actuator:   ").append(secure ? "https" : "http").append("://localhost:").append(httpPort)
                .append("  (/v1/validate, /actuator/health, /actuator/prometheus)\n")
                .append("  backends:                ").append(properties.backends().stream()
                        .map(b -> b.name() + " (" + b.type() + ")").toList())
                .append(", default ").append(properties.defaultBackend()).append('\n');
        if (properties.embeddedEnabled()) {
            text.append("  embedded cache (REAPI):  ").append(secure ? "grpcs" : "grpc").append("://localhost:").append(grpcPort).append('\n')
                    .append("  data directory:          ").append(properties.dataDir().toAbsolutePath().normalize())
                    .append(" (size bound ").append(humanBytes(properties.embedded().maxSizeBytes()))
                    .append(", least recently used evicted above it)\n")
                    .append("  fill the cache:          bazel build --remote_cache=").append(secure ? "grpcs" : "grpc").append("://localhost:").append(grpcPort)
                    .append(" //...\n")
                    .append("  or over HTTP:            bazel build --remote_cache=").append(secure ? "https" : "http").append("://localhost:").append(httpPort)
                    .append("/cache //...\n");
        }
        if (properties.frontEnabled() && !properties.embeddedEnabled()) {
            text.append("  cache front (REAPI):     grpc://localhost:").append(grpcPort).append(" and http://localhost:")
                    .append(httpPort).append("/cache, every Action Cache read checked (")
                    .append(properties.front().check()).append(")\n")
                    .append("  point Bazel at it:       bazel build --remote_cache=grpc://localhost:").append(grpcPort)
                    .append(" --remote_instance_name=<routed to a backend> //...\n");
        } else if (!properties.frontEnabled()) {
            text.append("  cache front:             off (vouch.front.enabled=true serves Bazel in front of these backends)\n");
        }
        text.append("  authentication:          ").append(authorizer.describe()).append('\n');
        if (tls != null) {
            text.append("  TLS:                     ").append(tls.describe()).append('\n');
        }
        text.append("  ask about an action:     curl -s ").append(secure ? "--cacert <ca.pem> https://" : "")
                .append("localhost:").append(httpPort).append("/v1/actions/<hash>/<sizeBytes>");
        // as the message itself, not an argument: the log escapes line breaks in arguments only
        // (logback-spring.xml), and this text is configuration, not client input
        log.info(text.toString());
        if (!authorizer.enabled()) {
            String httpAddress = environment.getProperty("server.address", "");
            // the gRPC port always binds every interface; the HTTP port unless server.address says otherwise
            log.warn("authentication is off and the ports listen beyond loopback (gRPC port {} on every interface, "
                    + "HTTP port {} on {}): anyone who reaches them may validate, read and write the cache. Set "
                    + "vouch.auth.enabled=true with vouch.auth.tokens, vouch.auth.tokens-file or vouch.auth.jwt "
                    + "(README \"Authentication\")", grpcPort, httpPort,
                    loopback(httpAddress) ? httpAddress : httpAddress.isEmpty() ? "every interface" : httpAddress);
        }
    }

    private static boolean loopback(String address) {
        return address.equals("localhost") || address.startsWith("127.") || address.equals("::1");
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
