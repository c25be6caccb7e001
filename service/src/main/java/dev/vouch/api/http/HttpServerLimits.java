package dev.vouch.api.http;

import dev.vouch.config.VouchProperties;
import io.netty.channel.ChannelPipeline;
import org.springframework.boot.reactor.netty.NettyServerCustomizer;
import org.springframework.stereotype.Component;
import reactor.netty.NettyPipeline;
import reactor.netty.http.server.HttpServer;
import tools.jackson.databind.json.JsonMapper;

/**
 * Applies {@code vouch.http.*} to every Reactor Netty server Spring Boot starts (the application's,
 * and the management port's when {@code management.server.port} is set, each with its own bound):
 * the idle timeout, and an {@link HttpConnectionGuard} on each connection for the request-header
 * timeout, the connection bound and problem details for undecodable requests.
 */
@Component
class HttpServerLimits implements NettyServerCustomizer {
    private final VouchProperties.Http limits;
    private final JsonMapper json;

    HttpServerLimits(VouchProperties properties, JsonMapper json) {
        this.limits = properties.http();
        this.json = json;
    }

    @Override
    public HttpServer apply(HttpServer server) {
        HttpConnections connections = new HttpConnections(limits.maxConnections());
        return server.idleTimeout(limits.idleTimeout())
                .doOnChannelInit((observer, channel, remoteAddress) -> {
                    ChannelPipeline pipeline = channel.pipeline();
                    HttpConnectionGuard guard = new HttpConnectionGuard(channel, limits.requestHeaderTimeout(), json);
                    if (!connections.admit(channel, guard)) {
                        channel.close();
                        return;
                    }
                    // HTTP/1.1 only: Vouch does not configure h2c, so the codec is always there
                    if (pipeline.get(NettyPipeline.HttpCodec) != null) {
                        pipeline.addBefore(NettyPipeline.HttpCodec, "vouch.requestStart", guard.requestStart());
                        pipeline.addAfter(NettyPipeline.HttpCodec, "vouch.connectionGuard", guard);
                    }
                });
    }
}
