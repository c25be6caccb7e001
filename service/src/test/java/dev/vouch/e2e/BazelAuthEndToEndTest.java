package dev.vouch.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vouch.api.grpc.GrpcServer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * A real Bazel 4.2.3 through the cache front of a Vouch with {@code vouch.auth} on, the token sent
 * as Bazel sends headers ({@code --remote_header=Authorization=Bearer ...}): a CI token with
 * read and write fills the cache, a read-only token gets every action from it and cannot write,
 * and a build without a token stops at once with the reason (Bazel 4.2.3 exits 34 when its
 * Capabilities call is refused) and stores nothing.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {"vouch.grpc.port=0", "vouch.front.presence-ttl=0s"})
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class BazelAuthEndToEndTest {
    private static final Path ROOT = E2eFiles.createTempDirectory("vouch-e2e-auth-");
    private static final int ACTIONS = 5;
    private static final String CI = token();
    private static final String DEVELOPER = token();
    private static final String[] COMMON = {"--incompatible_strict_action_env", "--spawn_strategy=local", "--color=no",
        "--curses=no", "--remote_timeout=60"};

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry registry) {
        registry.add("vouch.data-dir", () -> ROOT.resolve("data").toString());
        registry.add("vouch.auth.enabled", () -> "true");
        entry(registry, 0, "ci", CI, "read,write");
        entry(registry, 1, "developer", DEVELOPER, "read");
    }

    @Autowired
    GrpcServer grpcServer;

    private Bazel bazel;

    @BeforeAll
    void start() throws Exception {
        Bazel.ensureInstalled();
        Path workspace = ROOT.resolve("workspace");
        E2eFiles.copyWorkspace(workspace);
        bazel = new Bazel(workspace, ROOT.resolve("bazel-root"));
    }

    @AfterAll
    void cleanUp() throws Exception {
        if (bazel != null) {
            bazel.run("clean", "--expunge");
        }
        E2eFiles.deleteTree(ROOT);
    }

    @Test
    @Order(1)
    void withoutATokenBazelStopsWithTheReasonAndStoresNothing() throws Exception {
        Bazel.Outcome outcome = bazel.attempt("build", E2eVerdicts.concat(COMMON, remote(), "//..."));
        System.out.println("Bazel through the front without a token, exit " + outcome.exitCode() + ":\n" + outcome.output());
        assertThat(outcome.exitCode()).as(outcome.output()).isNotZero();
        assertThat(outcome.output()).contains("Failed to query remote execution capabilities: UNAUTHENTICATED: "
                + "this request needs an identity: send Authorization: Bearer <token>");
        assertThat(entries()).as("Action Cache entries stored").isZero();
    }

    @Test
    @Order(2)
    void aCiTokenFillsTheCacheAndAReadOnlyTokenGetsEveryActionFromIt() throws Exception {
        bazel.run("clean");
        String filled = bazel.run("build", E2eVerdicts.concat(COMMON, remote(), bearer(CI), "//..."));
        assertThat(E2eFiles.processes(filled, "local")).as(filled).isEqualTo(ACTIONS);
        assertThat(entries()).isEqualTo(ACTIONS);

        bazel.run("clean");
        String read = bazel.run("build", E2eVerdicts.concat(COMMON, remote(), bearer(DEVELOPER), "//..."));
        assertThat(E2eFiles.processes(read, "remote cache hit")).as(read).isEqualTo(ACTIONS);
    }

    @Test
    @Order(3)
    void aReadOnlyTokenCannotWrite() throws Exception {
        try (Stream<Path> files = Files.walk(ROOT.resolve("data").resolve("ac"))) {
            for (Path file : files.filter(Files::isRegularFile).toList()) {
                Files.delete(file);
            }
        }
        bazel.run("clean");
        Bazel.Outcome outcome = bazel.attempt("build", E2eVerdicts.concat(COMMON, remote(), bearer(DEVELOPER), "//..."));
        assertThat(outcome.exitCode()).as(outcome.output()).isZero();
        assertThat(E2eFiles.processes(outcome.output(), "local")).as(outcome.output()).isEqualTo(ACTIONS);
        assertThat(outcome.output()).contains("PERMISSION_DENIED");
        assertThat(entries()).as("Action Cache entries stored by a read-only token").isZero();
    }

    private String remote() {
        return "--remote_cache=grpc://127.0.0.1:" + grpcServer.port();
    }

    private static String bearer(String token) {
        return "--remote_header=Authorization=Bearer " + token;
    }

    private static long entries() throws IOException {
        Path ac = ROOT.resolve("data").resolve("ac");
        if (!Files.isDirectory(ac)) {
            return 0;
        }
        try (Stream<Path> files = Files.walk(ac)) {
            return files.filter(Files::isRegularFile).count();
        }
    }

    private static void entry(DynamicPropertyRegistry registry, int i, String name, String token, String rights) {
        String key = "vouch.auth.tokens[" + i + "].";
        registry.add(key + "name", () -> name);
        registry.add(key + "sha256", () -> sha256(token));
        registry.add(key + "instance-patterns[0]", () -> "");
        registry.add(key + "rights", () -> rights);
    }

    private static String sha256(String token) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String token() {
        byte[] bytes = new byte[32];
        new SecureRandom().nextBytes(bytes);
        return HexFormat.of().formatHex(bytes);
    }
}
