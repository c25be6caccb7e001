package dev.vouch.ops;

import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Debian's Prometheus server as a child of the test JVM, on a free loopback port, its TSDB and
 * log in {@code dir}, scraping one target every second and evaluating the given rule files every
 * second; queried through its HTTP API.
 */
final class Prometheus implements AutoCloseable {
    static final String JOB = "vouch";
    private static final Duration START = Duration.ofSeconds(30);
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private final Process process;
    private final Path log;
    private final URI base;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private Prometheus(Process process, Path log, URI base) {
        this.process = process;
        this.log = log;
        this.base = base;
    }

    /** The server binary, or null where Debian's {@code prometheus} package is not installed. */
    static Path binary() {
        return OpsFiles.executable("prometheus");
    }

    static Prometheus start(Path binary, Path dir, String target, String metricsPath, List<Path> ruleFiles)
            throws IOException {
        int port = freePort();
        StringBuilder config = new StringBuilder("""
                global:
                  scrape_interval: 1s
                  scrape_timeout: 1s
                  evaluation_interval: 1s
                rule_files:
                """);
        for (Path rules : ruleFiles) {
            config.append("  - ").append(rules.toAbsolutePath()).append('\n');
        }
        config.append("""
                scrape_configs:
                  - job_name: %s
                    metrics_path: %s
                    static_configs:
                      - targets: ['%s']
                """.formatted(JOB, metricsPath, target));
        Path file = dir.resolve("prometheus.yml");
        Files.writeString(file, config);
        Path log = dir.resolve("prometheus.log");
        Process process = new ProcessBuilder(binary.toString(), "--config.file=" + file,
                "--storage.tsdb.path=" + dir.resolve("data"), "--web.listen-address=127.0.0.1:" + port)
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        Prometheus prometheus = new Prometheus(process, log, URI.create("http://127.0.0.1:" + port));
        try {
            await("Prometheus ready on port " + port).atMost(START).pollInterval(Duration.ofMillis(200))
                    .until(() -> {
                        if (!process.isAlive()) {
                            throw new IllegalStateException("Prometheus exited: " + prometheus.log());
                        }
                        return prometheus.status("/-/ready") == 200;
                    });
        } catch (RuntimeException e) {
            prometheus.close();
            throw e;
        }
        return prometheus;
    }

    /** Waits until {@code n} scrapes of the target have succeeded after {@code after}; returns the last one's time. */
    Instant awaitScrapes(int n, Instant after, Duration atMost) {
        List<Instant> seen = new ArrayList<>();
        await(n + " scrapes after " + after).atMost(atMost).pollInterval(Duration.ofMillis(250)).until(() -> {
            JsonNode target = get("/api/v1/targets?state=active").path("activeTargets").path(0);
            if (!target.path("health").asString().equals("up")) {
                return false;
            }
            Instant last = Instant.parse(target.path("lastScrape").asString());
            if (last.isAfter(after) && (seen.isEmpty() || last.isAfter(seen.get(seen.size() - 1)))) {
                seen.add(last);
            }
            return seen.size() >= n;
        });
        return seen.get(seen.size() - 1);
    }

    /** Waits until every rule group has been evaluated after {@code after}; returns the groups. */
    JsonNode awaitRuleEvaluation(Instant after, Duration atMost) {
        await("rule evaluation after " + after).atMost(atMost).pollInterval(Duration.ofMillis(250)).until(() -> {
            JsonNode groups = get("/api/v1/rules").path("groups");
            if (groups.isEmpty()) {
                return false;
            }
            for (JsonNode group : groups) {
                if (!Instant.parse(group.path("lastEvaluation").asString()).isAfter(after)) {
                    return false;
                }
            }
            return true;
        });
        return get("/api/v1/rules").path("groups");
    }

    /** The instant vector of {@code expr} now; an {@link AssertionError} naming Prometheus' error if it fails. */
    JsonNode query(String expr) {
        return get("/api/v1/query?query=" + URLEncoder.encode(expr, StandardCharsets.UTF_8)).path("result");
    }

    /** The values of {@code label} among the series {@code selector} matches. */
    JsonNode labelValues(String label, String selector) {
        return get("/api/v1/label/" + label + "/values?match[]=" + URLEncoder.encode(selector, StandardCharsets.UTF_8));
    }

    private JsonNode get(String pathAndQuery) {
        try {
            HttpResponse<String> response = http.send(HttpRequest.newBuilder(base.resolve(pathAndQuery))
                    .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
            JsonNode body = JSON.readTree(response.body());
            if (!body.path("status").asString().equals("success")) {
                throw new AssertionError("Prometheus refused " + pathAndQuery.replaceFirst("\\?.*", "") + ": "
                        + body.path("errorType").asString() + ": " + body.path("error").asString());
            }
            return body.path("data");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private int status(String path) {
        try {
            return http.send(HttpRequest.newBuilder(base.resolve(path)).timeout(Duration.ofSeconds(2)).build(),
                    HttpResponse.BodyHandlers.discarding()).statusCode();
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    String log() {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
        }
    }
}
