package dev.vouch.scenarios;

import dev.vouch.api.grpc.GrpcServer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * The cache scenarios against Vouch's own embedded cache, running as a whole application: REAPI on
 * its gRPC port and the Bazel HTTP protocol under {@code /cache}, both over loopback sockets. The
 * same scenarios run against bazel-remote in {@link BazelRemoteScenariosTest} where Docker exists.
 */
// the embedded front stands in for the plain remote caches of the scenarios, which serve entries whatever they reference
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {"vouch.grpc.port=0", "vouch.front.check=NONE"})
class EmbeddedCacheScenariosTest extends CacheScenarios {
    private static final Path DATA = tempDir();

    @DynamicPropertySource
    static void dataDir(DynamicPropertyRegistry registry) {
        registry.add("vouch.data-dir", DATA::toString);
    }

    @LocalServerPort
    int httpPort;

    @Autowired
    GrpcServer grpcServer;

    @Override
    protected String grpcAuthority() {
        return "127.0.0.1:" + grpcServer.port();
    }

    @Override
    protected URI httpUrl() {
        return URI.create("http://127.0.0.1:" + httpPort + "/cache");
    }

    private static Path tempDir() {
        try {
            Path dir = Files.createTempDirectory("vouch-scenarios-");
            dir.toFile().deleteOnExit();
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
