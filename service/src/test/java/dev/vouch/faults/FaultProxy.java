package dev.vouch.faults;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A loopback TCP proxy that puts real faults between a client and a server: added latency, refused
 * connections (the listening socket is closed), connections reset mid-stream (RST, by SO_LINGER 0),
 * responses truncated (a clean close after some bytes), bytes flipped, connections that hang, and
 * schedules that alternate healthy and faulty periods. The client sees what it would see from a
 * sick network or server: its own timeouts fire, its own reads fail with "connection reset".
 *
 * <p>Plain blocking sockets on threads of its own (never an event loop): two pump threads per
 * connection. Faults apply to bytes flowing from the server to the client, counted from the moment
 * the faults were set, so a long-lived HTTP/2 connection is hit as surely as a new one.
 */
public final class FaultProxy implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(FaultProxy.class);
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();

    /**
     * The faults in force; {@link #HEALTHY} forwards everything unchanged.
     *
     * @param latency added before every chunk forwarded, both ways
     * @param refuse the port refuses connections; connections already open are reset
     * @param hang connections are accepted and nothing is forwarded, either way, until the hang lifts
     * @param resetAfterBytes reset each connection (RST) after this many bytes towards the client; -1 never
     * @param truncateAfterBytes close each connection cleanly after this many bytes towards the client; -1 never
     * @param corrupt flip the last byte of every chunk forwarded towards the client
     */
    public record Faults(Duration latency, boolean refuse, boolean hang, long resetAfterBytes, long truncateAfterBytes,
            boolean corrupt) {
        public static final Faults HEALTHY = new Faults(Duration.ZERO, false, false, -1, -1, false);

        public static Faults slow(Duration latency) {
            return new Faults(latency, false, false, -1, -1, false);
        }

        public static Faults refusing() {
            return new Faults(Duration.ZERO, true, false, -1, -1, false);
        }

        public static Faults hanging() {
            return new Faults(Duration.ZERO, false, true, -1, -1, false);
        }

        public static Faults resetAfter(long bytes) {
            return new Faults(Duration.ZERO, false, false, bytes, -1, false);
        }

        public static Faults truncateAfter(long bytes) {
            return new Faults(Duration.ZERO, false, false, -1, bytes, false);
        }

        public static Faults corrupting() {
            return new Faults(Duration.ZERO, false, false, -1, -1, true);
        }

        @Override
        public String toString() {
            if (equals(HEALTHY)) {
                return "healthy";
            }
            StringBuilder out = new StringBuilder();
            if (!latency.isZero()) {
                out.append("latency ").append(latency.toMillis()).append("ms ");
            }
            if (refuse) {
                out.append("refuse ");
            }
            if (hang) {
                out.append("hang ");
            }
            if (resetAfterBytes >= 0) {
                out.append("reset-after ").append(resetAfterBytes).append("B ");
            }
            if (truncateAfterBytes >= 0) {
                out.append("truncate-after ").append(truncateAfterBytes).append("B ");
            }
            if (corrupt) {
                out.append("corrupt ");
            }
            return out.toString().trim();
        }
    }

    /** One period of a schedule: {@code faults} for {@code duration}. */
    public record Phase(Duration duration, Faults faults) {
    }

    private final InetSocketAddress upstream;
    private final int port;
    private final Object lock = new Object();
    private final Set<Connection> connections = ConcurrentHashMap.newKeySet();
    private final AtomicInteger threadIds = new AtomicInteger();
    private final AtomicLong accepted = new AtomicLong();
    private volatile Faults faults = Faults.HEALTHY;
    // bumped whenever the faults change, so byte counts restart for connections already open
    private volatile long generation;
    private volatile boolean closed;
    private ServerSocket listener;
    private ScheduledExecutorService scheduler;

    private FaultProxy(InetSocketAddress upstream, int port) throws IOException {
        this.upstream = upstream;
        this.listener = listen(port);
        this.port = listener.getLocalPort();
        startAccepting(listener);
    }

    /** A healthy proxy on a free loopback port, forwarding to {@code upstreamPort} on loopback. */
    public static FaultProxy start(int upstreamPort) throws IOException {
        return start(0, upstreamPort);
    }

    /** A healthy proxy on {@code port} (0: any free port), forwarding to {@code upstreamPort} on loopback. */
    public static FaultProxy start(int port, int upstreamPort) throws IOException {
        return new FaultProxy(new InetSocketAddress(LOOPBACK, upstreamPort), port);
    }

    public int port() {
        return port;
    }

    public Faults faults() {
        return faults;
    }

    /** Connections accepted so far. */
    public long accepted() {
        return accepted.get();
    }

    /** Puts {@code next} in force at once, for new and open connections alike. */
    public void set(Faults next) {
        synchronized (lock) {
            Faults previous = faults;
            faults = next;
            generation++;
            lock.notifyAll();
            if (next.refuse() && !previous.refuse()) {
                closeListener();
                connections.forEach(Connection::reset);
            } else if (!next.refuse() && previous.refuse() && !closed) {
                try {
                    listener = listen(port);
                    startAccepting(listener);
                } catch (IOException e) {
                    throw new IllegalStateException("cannot listen on port " + port + " again", e);
                }
            }
        }
        log.info("fault proxy :{} -> :{} now {}", port, upstream.getPort(), next);
    }

    /** Resets every open connection now, as a crashing server or middlebox would. */
    public void resetAll() {
        connections.forEach(Connection::reset);
    }

    /**
     * Runs {@code phases} one after another on a thread of the proxy, again from the first when
     * {@code repeat}, until {@link #close} or another schedule; healthy after a schedule that ends.
     *
     * @param onPhase told of each phase as it starts (for a log)
     */
    public void schedule(List<Phase> phases, boolean repeat, Consumer<Phase> onPhase) {
        stopSchedule();
        ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread thread = new Thread(r, "fault-proxy-schedule-" + port);
            thread.setDaemon(true);
            return thread;
        });
        scheduler = timer;
        timer.execute(() -> enter(timer, phases, 0, repeat, onPhase));
    }

    /** Starts phase {@code index} and books the next one for when it ends: a timer, not a sleeping thread. */
    private void enter(ScheduledExecutorService timer, List<Phase> phases, int index, boolean repeat,
            Consumer<Phase> onPhase) {
        if (closed || timer.isShutdown()) {
            return;
        }
        if (index == phases.size()) {
            if (repeat && !phases.isEmpty()) {
                enter(timer, phases, 0, true, onPhase);
            } else {
                set(Faults.HEALTHY);
            }
            return;
        }
        Phase phase = phases.get(index);
        onPhase.accept(phase);
        set(phase.faults());
        timer.schedule(() -> enter(timer, phases, index + 1, repeat, onPhase), phase.duration().toMillis(),
                TimeUnit.MILLISECONDS);
    }

    private void stopSchedule() {
        if (scheduler != null) {
            scheduler.shutdownNow();
            scheduler = null;
        }
    }

    @Override
    public void close() {
        closed = true;
        stopSchedule();
        synchronized (lock) {
            lock.notifyAll();
            closeListener();
        }
        connections.forEach(Connection::close);
    }

    private static ServerSocket listen(int port) throws IOException {
        ServerSocket socket = new ServerSocket();
        socket.setReuseAddress(true);
        socket.bind(new InetSocketAddress(LOOPBACK, port), 128);
        return socket;
    }

    private void closeListener() {
        try {
            if (listener != null) {
                listener.close();
            }
        } catch (IOException e) {
            log.debug("closing the listener failed", e);
        }
    }

    private void startAccepting(ServerSocket socket) {
        thread("accept", () -> {
            while (!socket.isClosed()) {
                try {
                    Socket client = socket.accept();
                    accepted.incrementAndGet();
                    Connection connection = new Connection(client);
                    connections.add(connection);
                    thread("connect", connection::open);
                } catch (IOException e) {
                    // the listener was closed (refuse, or close): stop accepting
                    return;
                }
            }
        });
    }

    private void thread(String role, Runnable body) {
        Thread thread = new Thread(body, "fault-proxy-" + port + "-" + role + "-" + threadIds.incrementAndGet());
        thread.setDaemon(true);
        thread.start();
    }

    /** Blocks while the proxy hangs; false once it is closed. */
    private boolean waitWhileHanging() {
        synchronized (lock) {
            while (faults.hang() && !closed) {
                try {
                    lock.wait();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return false;
                }
            }
            return !closed;
        }
    }

    /**
     * Holds a chunk back for the injected latency; ends early when the proxy closes, so a slow
     * phase never outlives the test that set it.
     */
    private void pause(Duration latency) {
        long until = System.nanoTime() + latency.toNanos();
        synchronized (lock) {
            for (long left = latency.toNanos(); left > 0 && !closed; left = until - System.nanoTime()) {
                try {
                    TimeUnit.NANOSECONDS.timedWait(lock, left);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
    }

    /** One client connection and its upstream connection. */
    private final class Connection {
        private final Socket client;
        private volatile Socket server;
        private long countedGeneration = -1;
        private long downstreamBytes;

        Connection(Socket client) {
            this.client = client;
        }

        void open() {
            // a hanging proxy accepts, then does nothing: not even connect upstream
            if (!waitWhileHanging()) {
                close();
                return;
            }
            try {
                Socket upstreamSocket = new Socket();
                upstreamSocket.connect(upstream, 5_000);
                upstreamSocket.setTcpNoDelay(true);
                client.setTcpNoDelay(true);
                server = upstreamSocket;
            } catch (IOException e) {
                log.debug("upstream {} unreachable: {}", upstream, e.toString());
                reset();
                return;
            }
            thread("up", () -> pump(client, server, false));
            thread("down", () -> pump(server, client, true));
        }

        private void pump(Socket from, Socket to, boolean towardsClient) {
            byte[] buffer = new byte[16 * 1024];
            try {
                InputStream in = from.getInputStream();
                OutputStream out = to.getOutputStream();
                int n;
                while ((n = in.read(buffer)) >= 0) {
                    if (!waitWhileHanging()) {
                        break;
                    }
                    Faults now = faults;
                    pause(now.latency());
                    if (towardsClient && !forwardDown(now, buffer, n, out)) {
                        return;
                    }
                    if (!towardsClient) {
                        out.write(buffer, 0, n);
                        out.flush();
                    }
                }
                // end of stream one way: pass the half-close on, as TCP would
                to.shutdownOutput();
            } catch (IOException e) {
                // one side failed or was reset: so is the other
                reset();
            }
        }

        /** Forwards one chunk towards the client under {@code now}; false when the connection was ended. */
        private boolean forwardDown(Faults now, byte[] buffer, int n, OutputStream out) throws IOException {
            long counted;
            synchronized (this) {
                if (countedGeneration != generation) {
                    countedGeneration = generation;
                    downstreamBytes = 0;
                }
                counted = downstreamBytes;
                downstreamBytes += n;
            }
            long cut = cutAt(now);
            if (cut >= 0 && counted + n > cut) {
                int keep = (int) Math.max(0, cut - counted);
                out.write(buffer, 0, keep);
                out.flush();
                if (now.resetAfterBytes() >= 0 && now.resetAfterBytes() == cut) {
                    reset();
                } else {
                    close();
                }
                return false;
            }
            if (now.corrupt() && n > 0) {
                buffer[n - 1] ^= (byte) 0xff;
            }
            out.write(buffer, 0, n);
            out.flush();
            return true;
        }

        private long cutAt(Faults now) {
            long reset = now.resetAfterBytes();
            long truncate = now.truncateAfterBytes();
            if (reset < 0) {
                return truncate;
            }
            return truncate < 0 ? reset : Math.min(reset, truncate);
        }

        /** An abortive close: SO_LINGER 0 makes the kernel send RST instead of FIN. */
        void reset() {
            abort(client);
            abort(server);
            connections.remove(this);
        }

        void close() {
            quietly(client);
            quietly(server);
            connections.remove(this);
        }

        private void abort(Socket socket) {
            if (socket == null) {
                return;
            }
            try {
                socket.setSoLinger(true, 0);
            } catch (SocketException e) {
                // already closed
            }
            quietly(socket);
        }

        private void quietly(Socket socket) {
            if (socket == null) {
                return;
            }
            try {
                socket.close();
            } catch (IOException e) {
                log.trace("close failed", e);
            }
        }
    }
}
