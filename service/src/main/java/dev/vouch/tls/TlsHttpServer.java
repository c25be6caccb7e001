package dev.vouch.tls;

import org.springframework.boot.reactor.netty.NettyServerCustomizer;
import org.springframework.stereotype.Component;
import reactor.netty.http.server.HttpServer;

/**
 * TLS on the HTTP port when {@code vouch.tls.cert-file} is set, with {@link ServerTls}'s reloading
 * managers (Spring's own {@code server.ssl} would load the files once and watch them on a thread of
 * its own; one watcher for both ports keeps them serving the same certificate).
 */
@Component
class TlsHttpServer implements NettyServerCustomizer {
    private final ServerTls tls;

    TlsHttpServer(ServerTls tls) {
        this.tls = tls;
    }

    @Override
    public HttpServer apply(HttpServer server) {
        return tls.enabled() ? server.secure(spec -> spec.sslContext(tls.httpSslContext())) : server;
    }
}
