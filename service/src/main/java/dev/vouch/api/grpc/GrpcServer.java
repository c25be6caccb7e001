package dev.vouch.api.grpc;

import dev.vouch.config.VouchProperties;
import dev.vouch.tls.ServerTls;
import io.grpc.BindableService;
import io.grpc.Server;
import io.grpc.ServerInterceptor;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.web.server.context.WebServerGracefulShutdownLifecycle;
import org.springframework.context.SmartLifecycle;
import org.springframework.stereotype.Component;

/**
 * The one gRPC server on {@code vouch.grpc.port}, serving every {@link BindableService} bean (the
 * embedded REAPI services, {@code vouch.v1}). Its connections are bounded in number, idle time, age
 * and concurrent calls, and silent peers are pinged ({@code vouch.grpc.*}), so that clients cannot
 * pile up connections until the process runs out of file descriptors. Stops gracefully: in-flight
 * calls get {@code vouch.grpc.shutdown-grace-seconds} before they are cancelled.
 */
@Component
public class GrpcServer implements SmartLifecycle {
    private static final Logger log = LoggerFactory.getLogger(GrpcServer.class);

    private final VouchProperties.Grpc config;
    private final List<BindableService> services;
    private final Executor callExecutor;
    private final List<ServerInterceptor> interceptors;
    private volatile Server server;
    private volatile GrpcConnectionCap connections;
    private ServerTls tls;

    public GrpcServer(VouchProperties properties, List<BindableService> services) {
        this(properties, services, null, List.of());
    }

    /** @param interceptors around every call, outermost first (authentication: {@code GrpcAuthInterceptor}) */
    @Autowired
    public GrpcServer(VouchProperties properties, List<BindableService> services, List<ServerInterceptor> interceptors) {
        this(properties, services, null, interceptors);
    }

    /**
     * @param callExecutor where calls run; {@code null} for grpc-java's default pool. Tests pass a
     *     direct executor so handlers run on the Netty event loop, where BlockHound catches blocking.
     */
    public GrpcServer(VouchProperties properties, List<BindableService> services, Executor callExecutor) {
        this(properties, services, callExecutor, List.of());
    }

    public GrpcServer(VouchProperties properties, List<BindableService> services, Executor callExecutor,
            List<ServerInterceptor> interceptors) {
        this.config = properties.grpc();
        this.services = List.copyOf(services);
        this.callExecutor = callExecutor;
        this.interceptors = List.copyOf(interceptors);
    }

    /** TLS on the port ({@code vouch.tls.*}); plaintext without it or when it is off. */
    @Autowired(required = false)
    public void setTls(ServerTls tls) {
        this.tls = tls;
    }

    @Override
    public synchronized void start() {
        if (server != null) {
            return;
        }
        GrpcConnectionCap cap = new GrpcConnectionCap(config.maxConnections());
        NettyServerBuilder builder = (tls != null && tls.enabled()
                ? NettyServerBuilder.forPort(config.port(), tls.grpcCredentials())
                : NettyServerBuilder.forPort(config.port()))
                .maxInboundMessageSize(config.maxInboundMessageBytes())
                .channelFactory(cap.channelFactory())
                .bossEventLoopGroup(cap.boss())
                .workerEventLoopGroup(cap.workers())
                .maxConnectionIdle(config.maxConnectionIdle().toNanos(), TimeUnit.NANOSECONDS)
                .maxConnectionAge(config.maxConnectionAge().toNanos(), TimeUnit.NANOSECONDS)
                .maxConnectionAgeGrace(config.maxConnectionAgeGrace().toNanos(), TimeUnit.NANOSECONDS)
                .keepAliveTime(config.keepAliveTime().toNanos(), TimeUnit.NANOSECONDS)
                .keepAliveTimeout(config.keepAliveTimeout().toNanos(), TimeUnit.NANOSECONDS)
                .permitKeepAliveTime(config.permitKeepAliveTime().toNanos(), TimeUnit.NANOSECONDS)
                .maxConcurrentCallsPerConnection(config.maxConcurrentCallsPerConnection())
                .handshakeTimeout(config.handshakeTimeout().toNanos(), TimeUnit.NANOSECONDS)
                .intercept(new CancelledUnaryCalls());
        // the builder runs the last interceptor added first
        for (int i = interceptors.size() - 1; i >= 0; i--) {
            builder.intercept(interceptors.get(i));
        }
        if (callExecutor != null) {
            builder.executor(callExecutor);
        }
        services.forEach(builder::addService);
        try {
            server = builder.build().start();
        } catch (IOException e) {
            cap.shutdown();
            throw new UncheckedIOException("cannot start the gRPC server on port " + config.port(), e);
        }
        connections = cap;
        log.info("gRPC server listening on port {} with {}", server.getPort(),
                services.stream().map(s -> s.bindService().getServiceDescriptor().getName()).toList());
    }

    @Override
    public synchronized void stop() {
        Server running = server;
        if (running == null) {
            return;
        }
        running.shutdown();
        try {
            if (!running.awaitTermination(config.shutdownGraceSeconds(), TimeUnit.SECONDS)) {
                log.warn("gRPC calls still running after {} s, cancelling them", config.shutdownGraceSeconds());
                running.shutdownNow();
                running.awaitTermination(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            running.shutdownNow();
            Thread.currentThread().interrupt();
        }
        connections.shutdown();
        server = null;
    }

    /**
     * Stops with the web server's graceful shutdown, after the readiness drain (the highest
     * phase), so gRPC keeps serving while readiness already says the instance is going away.
     */
    @Override
    public int getPhase() {
        return WebServerGracefulShutdownLifecycle.SMART_LIFECYCLE_PHASE;
    }

    @Override
    public boolean isRunning() {
        return server != null;
    }

    /** Connections open on the gRPC port now. */
    public int openConnections() {
        GrpcConnectionCap cap = connections;
        return cap == null ? 0 : cap.open();
    }

    /** The bound port: the configured one, or the one the OS picked when it is 0. */
    public int port() {
        Server running = server;
        if (running == null) {
            throw new IllegalStateException("the gRPC server is not running");
        }
        return running.getPort();
    }
}
