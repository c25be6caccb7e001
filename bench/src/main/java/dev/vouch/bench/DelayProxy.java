package dev.vouch.bench;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.locks.LockSupport;

/**
 * A TCP proxy on loopback that delays every chunk of bytes by half the round trip in each
 * direction. Each direction has a reader thread that stamps each chunk with its deadline and a
 * writer thread that waits for that deadline and writes, so the delay adds latency without
 * limiting throughput, and bytes keep their order.
 */
public final class DelayProxy implements AutoCloseable {

    private static final byte[] EOF = new byte[0];

    private record Chunk(long deadlineNanos, byte[] bytes) {
    }

    private final ServerSocket server;
    private final InetSocketAddress upstream;
    private volatile long oneWayNanos;
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();
    private volatile boolean closed;

    public DelayProxy(InetSocketAddress upstream, double rttMillis) throws IOException {
        this.upstream = upstream;
        setRttMillis(rttMillis);
        this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread accept = new Thread(this::acceptLoop, "delay-proxy-accept");
        accept.setDaemon(true);
        accept.start();
    }

    public int port() {
        return server.getLocalPort();
    }

    /** Applies to chunks read from now on. */
    public void setRttMillis(double rttMillis) {
        this.oneWayNanos = (long) (rttMillis * 1_000_000 / 2);
    }

    private void acceptLoop() {
        while (!closed) {
            try {
                Socket client = server.accept();
                Socket backend = new Socket();
                backend.connect(upstream, 5_000);
                client.setTcpNoDelay(true);
                backend.setTcpNoDelay(true);
                sockets.add(client);
                sockets.add(backend);
                pipe(client, backend, "up");
                pipe(backend, client, "down");
            } catch (IOException e) {
                if (!closed) {
                    System.err.println("delay proxy: " + e);
                }
            }
        }
    }

    private void pipe(Socket from, Socket to, String direction) throws IOException {
        LinkedBlockingQueue<Chunk> queue = new LinkedBlockingQueue<>();
        InputStream in = from.getInputStream();
        OutputStream out = to.getOutputStream();
        Thread reader = new Thread(() -> {
            byte[] buf = new byte[65536];
            try {
                int n;
                while ((n = in.read(buf)) >= 0) {
                    if (n > 0) {
                        queue.add(new Chunk(System.nanoTime() + oneWayNanos, Arrays.copyOf(buf, n)));
                    }
                }
            } catch (IOException e) {
                // the connection was reset or closed: end this direction like an EOF
            }
            queue.add(new Chunk(System.nanoTime() + oneWayNanos, EOF));
        }, "delay-proxy-read-" + direction);
        Thread writer = new Thread(() -> {
            try {
                while (true) {
                    Chunk c = queue.take();
                    long wait;
                    // a deadline per chunk: chunks queued while we wait are not delayed again
                    while ((wait = c.deadlineNanos() - System.nanoTime()) > 0) {
                        LockSupport.parkNanos(wait);
                    }
                    if (c.bytes() == EOF) {
                        to.shutdownOutput();
                        return;
                    }
                    out.write(c.bytes());
                    out.flush();
                }
            } catch (IOException | InterruptedException e) {
                closeQuietly(from);
                closeQuietly(to);
            }
        }, "delay-proxy-write-" + direction);
        reader.setDaemon(true);
        writer.setDaemon(true);
        reader.start();
        writer.start();
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException e) {
            // already closed
        }
    }

    @Override
    public void close() throws IOException {
        closed = true;
        server.close();
        for (Socket s : sockets) {
            closeQuietly(s);
        }
    }
}
