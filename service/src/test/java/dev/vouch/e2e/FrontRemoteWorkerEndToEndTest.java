package dev.vouch.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vouch.api.grpc.GrpcServer;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * Issue 9's story against a real third-party REAPI server: Bazel's own reference remote worker
 * (cache only), which serves Action Cache entries whose blobs it has lost. A real Bazel 4.2.3 with
 * {@code --remote_download_minimal} fails against the worker directly once a consumed blob is gone;
 * through Vouch's cache front (a {@code grpc} backend at the worker) the same build succeeds,
 * re-running exactly the incomplete action and its consumer, counted PARTIAL at the front.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        // with no embedded backend the front is off unless asked for
        properties = {"vouch.grpc.port=0", "vouch.front.enabled=true", "vouch.front.presence-ttl=0s"})
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class FrontRemoteWorkerEndToEndTest {
    private static final Path ROOT = E2eFiles.createTempDirectory("vouch-e2e-front-worker-");
    private static final int WORKER_PORT = Nginx.freePort();
    private static final int ACTIONS = 5;
    private static final String[] COMMON = {"--incompatible_strict_action_env", "--spawn_strategy=local", "--color=no",
        "--curses=no", "--remote_timeout=60", "--remote_download_minimal"};

    @DynamicPropertySource
    static void backends(DynamicPropertyRegistry registry) {
        registry.add("vouch.data-dir", () -> ROOT.resolve("data").toString());
        registry.add("vouch.backends[0].name", () -> "worker");
        registry.add("vouch.backends[0].type", () -> "grpc");
        registry.add("vouch.backends[0].target", () -> "grpc://127.0.0.1:" + WORKER_PORT);
        registry.add("vouch.backends[0].call-timeout", () -> "20s");
    }

    @Autowired
    GrpcServer grpcServer;

    @Autowired
    MeterRegistry meters;

    private RemoteWorker worker;
    private Bazel bazel;

    @BeforeAll
    void start() throws Exception {
        Bazel.ensureInstalled();
        worker = RemoteWorker.start(ROOT.resolve("worker"), WORKER_PORT);
        Path workspace = ROOT.resolve("workspace");
        E2eFiles.copyWorkspace(workspace);
        bazel = new Bazel(workspace, ROOT.resolve("bazel-root"));
    }

    @AfterAll
    void cleanUp() throws Exception {
        if (worker != null) {
            worker.close();
        }
        if (bazel != null) {
            bazel.run("clean", "--expunge");
        }
        E2eFiles.deleteTree(ROOT);
    }

    @Test
    void theWorkerWithALostBlobBreaksBazelDirectlyButNotThroughTheFront() throws Exception {
        String direct = "--remote_cache=" + worker.target();
        String filled = bazel.run("build", E2eVerdicts.concat(COMMON, direct, "//..."));
        assertThat(E2eFiles.processes(filled, "local")).as("%s%s", filled, worker.logs()).isEqualTo(ACTIONS);
        LostBlobs.loseGreetingAndShout(worker.storeDir().resolve("ac"), worker.storeDir().resolve("cas"));

        bazel.run("clean");
        Bazel.Outcome broken = bazel.attempt("build", E2eVerdicts.concat(COMMON, direct, "//..."));
        System.out.println("Bazel directly against the remote worker, after the blob was deleted, exit "
                + broken.exitCode() + ":\n" + broken.output());
        assertThat(broken.exitCode()).as(broken.output()).isNotZero();
        assertThat(broken.output()).contains("does not exist remotely");

        double partialBefore = frontVerdicts("PARTIAL");
        double missBefore = frontVerdicts("MISS");
        bazel.run("clean");
        String viaFront = bazel.run("build", E2eVerdicts.concat(COMMON,
                "--remote_cache=grpc://127.0.0.1:" + grpcServer.port(), "//..."));

        assertThat(E2eFiles.processes(viaFront, "local")).as("greeting (incomplete) and shout (no entry) run:\n%s", viaFront)
                .isEqualTo(2);
        assertThat(E2eFiles.processes(viaFront, "remote cache hit")).as(viaFront).isEqualTo(ACTIONS - 2);
        assertThat(frontVerdicts("PARTIAL") - partialBefore).isEqualTo(1);
        assertThat(frontVerdicts("MISS") - missBefore).isEqualTo(1);
        // what Bazel re-ran went back to the worker through the front
        assertThat(LostBlobs.find(worker.storeDir().resolve("ac"), "shout.txt")).isNotNull();
    }

    private double frontVerdicts(String verdict) {
        return meters.find("vouch.verdicts").tags("source", "front", "backend", "worker", "verdict", verdict)
                .counters().stream().mapToDouble(Counter::count).sum();
    }
}
