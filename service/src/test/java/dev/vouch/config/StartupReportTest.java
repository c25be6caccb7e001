package dev.vouch.config;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vouch.api.grpc.GrpcServer;
import dev.vouch.auth.AuthProperties;
import dev.vouch.auth.Authorizer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.MapConfigurationPropertySource;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;
import org.springframework.mock.env.MockEnvironment;
import reactor.core.scheduler.Schedulers;

/** The start-up report says plainly whether authentication is on, and warns when it is off. */
@ExtendWith(OutputCaptureExtension.class)
class StartupReportTest {

    @Test
    void authOffIsSaidAndWarnedAbout(CapturedOutput output) {
        report(Authorizer.disabled());
        assertThat(output.getAll())
                .contains("authentication:          OFF (vouch.auth.enabled=false)")
                .contains("WARN")
                .contains("authentication is off and the ports listen beyond loopback (gRPC port");
    }

    @Test
    void authOnNamesItsSourcesAndDoesNotWarn(CapturedOutput output) {
        AuthProperties properties = new Binder(new MapConfigurationPropertySource(Map.of(
                "vouch.auth.enabled", "true",
                "vouch.auth.tokens[0].name", "ci",
                "vouch.auth.tokens[0].sha256", "b".repeat(64),
                "vouch.auth.tokens[0].instance-patterns[0]", ".*",
                "vouch.auth.tokens[0].rights[0]", "validate")))
                .bindOrCreate("vouch.auth", AuthProperties.class);
        report(new Authorizer(properties, Schedulers.immediate(), new SimpleMeterRegistry()));
        assertThat(output.getAll()).contains("authentication:          on: 1 static tokens")
                .doesNotContain("authentication is off").doesNotContain("b".repeat(64));
    }

    @Test
    void aFrontOverRemoteBackendsSaysWhereBazelPointsAndAValidatorThatItIsOff(CapturedOutput output) {
        Map<String, String> remote = Map.of("vouch.grpc.port", "0", "vouch.backends[0].name", "nginx",
                "vouch.backends[0].type", "http", "vouch.backends[0].url", "http://127.0.0.1:1");
        report(Authorizer.disabled(), remote);
        assertThat(output.getAll()).contains("cache front:             off (vouch.front.enabled=true");
        Map<String, String> front = new HashMap<>(remote);
        front.put("vouch.front.enabled", "true");
        front.put("vouch.front.check", "FETCH");
        report(Authorizer.disabled(), front);
        assertThat(output.getAll()).containsPattern("cache front \\(REAPI\\): +grpc://localhost:\\d+ and "
                + "http://localhost:8080/cache, every Action Cache read checked \\(FETCH\\)")
                .containsPattern("point Bazel at it: +bazel build --remote_cache=grpc://localhost:\\d+ ");
    }

    private static void report(Authorizer authorizer) {
        report(authorizer, Map.of("vouch.grpc.port", "0"));
    }

    private static void report(Authorizer authorizer, Map<String, String> values) {
        VouchProperties properties = new Binder(new MapConfigurationPropertySource(values))
                .bindOrCreate("vouch", VouchProperties.class);
        GrpcServer server = new GrpcServer(properties, List.of());
        server.start();
        try {
            new StartupReport(properties, server, new MockEnvironment().withProperty("local.server.port", "8080"),
                    authorizer).report();
        } finally {
            server.stop();
        }
    }
}
