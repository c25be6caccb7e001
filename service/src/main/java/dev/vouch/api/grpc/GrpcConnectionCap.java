package dev.vouch.api.grpc;

import io.grpc.netty.shaded.io.netty.channel.Channel;
import io.grpc.netty.shaded.io.netty.channel.ChannelFactory;
import io.grpc.netty.shaded.io.netty.channel.ChannelHandler;
import io.grpc.netty.shaded.io.netty.channel.ChannelHandlerContext;
import io.grpc.netty.shaded.io.netty.channel.ChannelInboundHandlerAdapter;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.ServerChannel;
import io.grpc.netty.shaded.io.netty.channel.epoll.Epoll;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollServerSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.nio.NioEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.socket.nio.NioServerSocketChannel;
import io.grpc.netty.shaded.io.netty.util.concurrent.DefaultThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The bound on connections of the gRPC port ({@code vouch.grpc.max-connections}), which grpc-java
 * lacks: the listening channel hands each accepted connection to this handler before grpc-java's
 * acceptor sees it, and one past the bound is closed there, before any HTTP/2 state exists. Built
 * on the transport grpc-java would pick itself (epoll where available, else NIO), with event loops
 * of its own that {@link #shutdown} releases.
 */
final class GrpcConnectionCap {
    private static final Logger log = LoggerFactory.getLogger(GrpcConnectionCap.class);

    private final int max;
    private final AtomicInteger open = new AtomicInteger();
    private final AtomicInteger refused = new AtomicInteger();
    private final boolean epoll = Epoll.isAvailable();
    private final EventLoopGroup boss;
    private final EventLoopGroup workers;

    GrpcConnectionCap(int max) {
        this.max = max;
        // daemon threads, as grpc-java's own: a forgotten server must not keep the JVM alive
        this.boss = group(1, "vouch-grpc-boss");
        this.workers = group(0, "vouch-grpc-worker");
    }

    EventLoopGroup boss() {
        return boss;
    }

    EventLoopGroup workers() {
        return workers;
    }

    ChannelFactory<ServerChannel> channelFactory() {
        ChannelHandler gate = new Gate();
        return () -> {
            ServerChannel channel = epoll ? new EpollServerSocketChannel() : new NioServerSocketChannel();
            // first in the listening channel's pipeline: ServerBootstrap adds its acceptor after it
            channel.pipeline().addLast(gate);
            return channel;
        };
    }

    int open() {
        return open.get();
    }

    void shutdown() {
        boss.shutdownGracefully();
        workers.shutdownGracefully();
    }

    private EventLoopGroup group(int threads, String name) {
        DefaultThreadFactory threadFactory = new DefaultThreadFactory(name, true);
        return epoll ? new EpollEventLoopGroup(threads, threadFactory) : new NioEventLoopGroup(threads, threadFactory);
    }

    @ChannelHandler.Sharable
    private final class Gate extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            Channel child = (Channel) msg;
            if (open.incrementAndGet() > max) {
                open.decrementAndGet();
                // not registered yet: closed without an event loop, nothing of gRPC's was built for it
                child.unsafe().closeForcibly();
                if (refused.getAndIncrement() % 1000 == 0) {
                    log.warn("gRPC port at its {} connections (vouch.grpc.max-connections): closing new ones "
                            + "({} so far)", max, refused.get());
                }
                return;
            }
            child.closeFuture().addListener(f -> open.decrementAndGet());
            ctx.fireChannelRead(child);
        }
    }
}
