package dev.vouch.scenarios;

import java.net.URI;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.wait.strategy.Wait;
import org.testcontainers.junit.jupiter.Container;
import org.testcontainers.junit.jupiter.Testcontainers;
import org.testcontainers.utility.DockerImageName;

/**
 * The cache scenarios against the real bazel-remote image, over its gRPC and HTTP ports. Skipped
 * where no Docker engine runs (as on the project's build machines); {@link EmbeddedCacheScenariosTest}
 * runs the same scenarios everywhere.
 */
@Testcontainers(disabledWithoutDocker = true)
public class BazelRemoteScenariosTest extends CacheScenarios {
    /** The bazel-remote these scenarios run against; docker-compose.yml runs the same. */
    public static final String IMAGE = "buchgr/bazel-remote-cache:v2.6.2";
    private static final int HTTP_PORT = 8080;
    private static final int GRPC_PORT = 9092;

    // bazel-remote checks that an AC entry's blobs exist before serving it; Vouch must see the raw
    // entry to judge it, exactly as it would after the blobs were evicted later
    @Container
    static final GenericContainer<?> BAZEL_REMOTE = new GenericContainer<>(
            DockerImageName.parse(IMAGE))
            .withExposedPorts(HTTP_PORT, GRPC_PORT)
            .withCommand("--dir=/data", "--max_size=1", "--port=" + HTTP_PORT, "--grpc_port=" + GRPC_PORT,
                    "--disable_http_ac_validation", "--disable_grpc_ac_deps_check")
            .waitingFor(Wait.forHttp("/status").forPort(HTTP_PORT));

    @Override
    protected String grpcAuthority() {
        return BAZEL_REMOTE.getHost() + ":" + BAZEL_REMOTE.getMappedPort(GRPC_PORT);
    }

    @Override
    protected URI httpUrl() {
        return URI.create("http://" + BAZEL_REMOTE.getHost() + ":" + BAZEL_REMOTE.getMappedPort(HTTP_PORT));
    }
}
