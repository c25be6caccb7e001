package dev.vouch.e2e;

import static org.assertj.core.api.Assertions.fail;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import reactor.core.publisher.Mono;
import reactor.util.retry.Retry;

/**
 * Debian's nginx as a WebDAV cache, the HTTP cache setup Bazel documents: {@code PUT} stores a file
 * under {@code <dir>/cache/<uri>}, {@code GET}/{@code HEAD} serve it. Runs in the foreground as a
 * child of the test JVM, with every path it writes inside {@code dir}.
 */
final class Nginx implements AutoCloseable {
    private static final Path NGINX = Path.of("/usr/sbin/nginx");

    private final Path dir;
    private final int port;
    private final Process process;

    private Nginx(Path dir, int port, Process process) {
        this.dir = dir;
        this.port = port;
        this.process = process;
    }

    /** A free loopback port, for configuration that must name nginx's port before it starts. */
    static int freePort() {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Nginx start(Path dir, int port) throws IOException, InterruptedException {
        // Debian's nginx has ngx_http_dav_module built in
        Bazel.ensureDebianPackage(NGINX, "nginx");
        Files.createDirectories(dir.resolve("cache"));
        Files.createDirectories(dir.resolve("logs"));
        Path conf = dir.resolve("nginx.conf");
        Files.writeString(conf, config(dir, port), StandardCharsets.UTF_8);
        Process process = new ProcessBuilder(NGINX.toString(), "-c", conf.toString(), "-p", dir.toString())
                .redirectErrorStream(true)
                .redirectOutput(dir.resolve("logs/console.log").toFile())
                .start();
        Nginx nginx = new Nginx(dir, port, process);
        nginx.awaitListening();
        return nginx;
    }

    private static String config(Path dir, int port) {
        boolean root = "root".equals(System.getProperty("user.name"));
        return (root ? "user root;\n" : "") + """
                daemon off;
                master_process on;
                worker_processes 1;
                pid %1$s/nginx.pid;
                error_log %1$s/logs/error.log info;
                events { worker_connections 256; }
                http {
                    access_log %1$s/logs/access.log;
                    client_body_temp_path %1$s/client_body_temp;
                    proxy_temp_path %1$s/proxy_temp;
                    fastcgi_temp_path %1$s/fastcgi_temp;
                    uwsgi_temp_path %1$s/uwsgi_temp;
                    scgi_temp_path %1$s/scgi_temp;
                    server {
                        listen 127.0.0.1:%2$d;
                        client_max_body_size 0;
                        location / {
                            root %1$s/cache;
                            dav_methods PUT;
                            create_full_put_path on;
                            dav_access user:rw group:rw all:r;
                        }
                    }
                }
                """.formatted(dir, port);
    }

    /** Retries a connect until nginx listens; fails with its error log if it exits or never does. */
    private void awaitListening() throws IOException {
        try {
            Mono.fromCallable(() -> {
                        if (!process.isAlive()) {
                            throw new IllegalStateException("nginx exited with " + process.exitValue());
                        }
                        try (Socket socket = new Socket()) {
                            socket.connect(new InetSocketAddress("127.0.0.1", port), 1000);
                        }
                        return true;
                    })
                    .retryWhen(Retry.fixedDelay(100, Duration.ofMillis(100)).filter(e -> e instanceof IOException))
                    .block(Duration.ofSeconds(30));
        } catch (RuntimeException e) {
            close();
            fail("nginx did not start on port " + port + ": " + e.getMessage() + "\n" + logs());
        }
    }

    int port() {
        return port;
    }

    /** Where nginx keeps what Bazel PUT: {@code ac/<hash>} and {@code cas/<hash>}. */
    Path cacheDir() {
        return dir.resolve("cache");
    }

    String logs() throws IOException {
        StringBuilder text = new StringBuilder();
        for (String name : new String[] {"console.log", "error.log"}) {
            Path log = dir.resolve("logs").resolve(name);
            if (Files.exists(log)) {
                text.append("--- ").append(name).append('\n').append(Files.readString(log, StandardCharsets.UTF_8));
            }
        }
        return text.toString();
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
        }
    }
}
