package dev.vouch.bench;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** A Vouch started from service/target/vouch.jar as a child process, its log kept in the output dir. */
public final class VouchProcess implements AutoCloseable {

    private final String name;
    private final Process process;
    private final int httpPort;
    private final int grpcPort;
    private final List<String> flags;
    private final Path log;
    private final ProcStats.RssSampler rss;
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();

    private VouchProcess(String name, Process process, int httpPort, int grpcPort, List<String> flags, Path log) {
        this.name = name;
        this.process = process;
        this.httpPort = httpPort;
        this.grpcPort = grpcPort;
        this.flags = flags;
        this.log = log;
        this.rss = new ProcStats.RssSampler(process.pid());
    }

    /**
     * Starts {@code java -Xmx<heap> -XX:+ExitOnOutOfMemoryError -jar <jar> --server.port=.. --vouch.grpc.port=..
     * --vouch.data-dir=.. <flags>} and waits until readiness answers 200.
     *
     * @param flags non-default configuration, printed in the report
     */
    public static VouchProcess start(String name, Path java, Path jar, String heap, Path dataDir, Path logDir,
            List<String> flags) throws IOException, InterruptedException {
        int httpPort = freePort();
        int grpcPort = freePort();
        Files.createDirectories(dataDir);
        Files.createDirectories(logDir);
        List<String> cmd = new ArrayList<>(List.of(java.toString(), "-Xmx" + heap, "-XX:+ExitOnOutOfMemoryError",
                "-jar", jar.toString(), "--server.port=" + httpPort, "--vouch.grpc.port=" + grpcPort,
                "--vouch.data-dir=" + dataDir));
        cmd.addAll(flags);
        Path log = logDir.resolve(name + ".log");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
        VouchProcess v = new VouchProcess(name, p, httpPort, grpcPort, flags, log);
        Children.register(v);
        v.awaitReady(Duration.ofSeconds(120));
        return v;
    }

    private void awaitReady(Duration timeout) throws IOException, InterruptedException {
        long end = System.nanoTime() + timeout.toNanos();
        HttpRequest req = HttpRequest.newBuilder(URI.create(base() + "/actuator/health/readiness"))
                .timeout(Duration.ofSeconds(2)).build();
        while (System.nanoTime() < end) {
            if (!process.isAlive()) {
                throw new IOException(name + " exited with " + process.exitValue() + " before it was ready; its log "
                        + log + " ends with:\n" + tail(log, 30));
            }
            try {
                if (http.send(req, HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                    return;
                }
            } catch (IOException e) {
                // not listening yet
            }
            Thread.sleep(200);
        }
        throw new IOException(name + " was not ready within " + timeout + "; see " + log);
    }

    static String tail(Path file, int lines) {
        try {
            List<String> all = Files.readAllLines(file);
            return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
        } catch (IOException e) {
            return "(unreadable: " + e + ")";
        }
    }

    public String name() {
        return name;
    }

    public long pid() {
        return process.pid();
    }

    public int httpPort() {
        return httpPort;
    }

    public int grpcPort() {
        return grpcPort;
    }

    public List<String> flags() {
        return flags;
    }

    public String base() {
        return "http://127.0.0.1:" + httpPort;
    }

    public ProcStats.RssSampler rss() {
        return rss;
    }

    public double cpuSeconds() {
        return ProcStats.cpuSeconds(process.pid());
    }

    public boolean alive() {
        return process.isAlive();
    }

    public Prometheus scrape() throws IOException, InterruptedException {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base() + "/actuator/prometheus"))
                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200) {
            throw new IOException(name + " /actuator/prometheus answered " + r.statusCode());
        }
        return Prometheus.parse(r.body());
    }

    @Override
    public void close() {
        rss.close();
        if (process.isAlive()) {
            process.destroy();
            try {
                if (!process.waitFor(Duration.ofSeconds(15).toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS)) {
                    process.destroyForcibly().waitFor();
                }
            } catch (InterruptedException e) {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
        Children.unregister(this);
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** The children still running, killed by a shutdown hook on Ctrl-C or a failure. */
    static final class Children {
        private static final List<VouchProcess> RUNNING = new ArrayList<>();

        static {
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                List<VouchProcess> left;
                synchronized (RUNNING) {
                    left = new ArrayList<>(RUNNING);
                }
                for (VouchProcess v : left) {
                    v.process.destroyForcibly();
                }
            }, "kill-vouch-children"));
        }

        static void register(VouchProcess v) {
            synchronized (RUNNING) {
                RUNNING.add(v);
            }
        }

        static void unregister(VouchProcess v) {
            synchronized (RUNNING) {
                RUNNING.remove(v);
            }
        }
    }
}
