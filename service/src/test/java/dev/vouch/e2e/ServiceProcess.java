package dev.vouch.e2e;

import static org.awaitility.Awaitility.await;

import dev.vouch.VouchApplication;
import java.io.File;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * The service in a JVM of its own, as an operator starts it, for tests that need a heap of a chosen
 * size: started from this JVM's class path minus the test classes, logging to a file.
 */
final class ServiceProcess implements AutoCloseable {
    final int httpPort;
    final int grpcPort;
    final Path log;
    private final Process process;

    private ServiceProcess(int httpPort, int grpcPort, Path log, Process process) {
        this.httpPort = httpPort;
        this.grpcPort = grpcPort;
        this.log = log;
        this.process = process;
    }

    /** Starts {@code java <jvmOptions> VouchApplication --server.port=.. --vouch.grpc.port=.. <arguments>}. */
    static ServiceProcess start(Path log, List<String> jvmOptions, List<String> arguments) throws IOException {
        int httpPort = freePort();
        int grpcPort = freePort();
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(jvmOptions);
        command.addAll(List.of("-cp", applicationClassPath(), VouchApplication.class.getName(),
                "--server.port=" + httpPort, "--vouch.grpc.port=" + grpcPort));
        command.addAll(arguments);
        Process process = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .start();
        return new ServiceProcess(httpPort, grpcPort, log, process);
    }

    URI uri(String path) {
        return URI.create("http://127.0.0.1:" + httpPort + path);
    }

    boolean isAlive() {
        return process.isAlive();
    }

    void awaitReady(HttpClient http) {
        HttpRequest readiness = HttpRequest.newBuilder(uri("/actuator/health/readiness"))
                .timeout(Duration.ofSeconds(5)).GET().build();
        await("service readiness")
                .atMost(Duration.ofMinutes(2))
                .pollInterval(Duration.ofMillis(250))
                .ignoreExceptionsInstanceOf(IOException.class)
                .until(() -> {
                    if (!process.isAlive()) {
                        throw new IllegalStateException("the service exited with status " + process.exitValue());
                    }
                    HttpResponse<String> response = http.send(readiness, HttpResponse.BodyHandlers.ofString());
                    return response.statusCode() == 200 && response.body().contains("\"UP\"");
                });
    }

    /** The last {@code lines} lines of the service's log, for failure messages. */
    String tail(int lines) {
        if (!Files.exists(log)) {
            return "(no log)";
        }
        try {
            List<String> all = Files.readAllLines(log, StandardCharsets.UTF_8);
            return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
        } catch (IOException e) {
            return "(log unreadable: " + e + ")";
        }
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(20, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor(20, TimeUnit.SECONDS);
        }
    }

    /**
     * This JVM's class path without the test classes: the application's component scan would
     * otherwise pick up the tests' own configurations (stub validators and the like).
     */
    private static String applicationClassPath() {
        return Arrays.stream(System.getProperty("java.class.path").split(File.pathSeparator))
                .filter(entry -> !Path.of(entry).endsWith("test-classes"))
                .collect(Collectors.joining(File.pathSeparator));
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
