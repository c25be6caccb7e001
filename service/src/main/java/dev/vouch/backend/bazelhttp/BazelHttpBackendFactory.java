package dev.vouch.backend.bazelhttp;

import dev.vouch.backend.BackendFactory;
import dev.vouch.backend.CacheBackend;
import dev.vouch.backend.CallGuard;
import dev.vouch.backend.CallerCredentials;
import dev.vouch.config.VouchProperties;
import io.netty.channel.ChannelOption;
import io.netty.handler.ssl.SslContextBuilder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.function.UnaryOperator;
import javax.net.ssl.SSLException;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.http.HttpHeaders;
import org.springframework.http.client.reactive.ReactorClientHttpConnector;
import org.springframework.stereotype.Component;
import org.springframework.web.reactive.function.client.ClientRequest;
import org.springframework.web.reactive.function.client.ClientResponse;
import org.springframework.web.reactive.function.client.ExchangeFunction;
import org.springframework.web.reactive.function.client.WebClient;
import reactor.core.publisher.Mono;
import reactor.netty.http.client.HttpClient;
import reactor.netty.resources.ConnectionProvider;

/**
 * Builds {@code http} backends: one WebClient per backend, on its own Reactor Netty connection pool
 * (closed with the backend), with the backend's static headers, credentials and call timeout, and
 * the guard {@code guards} builds for it around each request.
 */
@Component
public class BazelHttpBackendFactory implements BackendFactory {
    private final int maxActionResultBytes;
    private final CallGuard.Factory guards;

    /** A factory with the default limits whose backends' requests go out unguarded, for tests. */
    public BazelHttpBackendFactory() {
        this(CallGuard.Factory.NONE);
    }

    /** A factory with the default limits, for tests. */
    public BazelHttpBackendFactory(CallGuard.Factory guards) {
        this(VouchProperties.Limits.defaults().maxActionResultBytes(), guards);
    }

    /** With the guards of the context's resilience configuration; none without one, as for the decorator. */
    @Autowired
    public BazelHttpBackendFactory(VouchProperties properties, ObjectProvider<CallGuard.Factory> guards) {
        this(properties.limits().maxActionResultBytes(), guards.getIfAvailable(() -> CallGuard.Factory.NONE));
    }

    private BazelHttpBackendFactory(int maxActionResultBytes, CallGuard.Factory guards) {
        this.maxActionResultBytes = maxActionResultBytes;
        this.guards = guards;
    }

    @Override
    public VouchProperties.BackendType type() {
        return VouchProperties.BackendType.HTTP;
    }

    @Override
    public CacheBackend create(VouchProperties.Backend config) {
        String baseUrl = config.url().toString().replaceAll("/+$", "");
        Duration timeout = config.callTimeout();
        // checked either way, so a broken auth block is reported whether or not it is sent
        String configured = authorization(config);
        String authorization = config.forwardCredentials() ? null : configured;
        // TLS files are read, and the guard built, before the pool exists: a bad one leaves nothing behind to close
        UnaryOperator<HttpClient> tls = "https".equals(config.url().getScheme()) ? tls(config) : UnaryOperator.identity();
        CallGuard guard = guards.forBackend(config);
        // several requests may each run maxConcurrentCalls checks at once; waiting for a connection
        // counts against the call timeout rather than queueing without end. The guard's bulkhead
        // bounds the requests in flight, so the queue for a connection needs no bound of its own
        ConnectionProvider pool = ConnectionProvider.builder("vouch-http-" + config.name())
                .maxConnections(Math.max(16, 4 * config.maxConcurrentCalls()))
                .pendingAcquireTimeout(timeout)
                .pendingAcquireMaxCount(-1)
                .build();
        HttpClient http = tls.apply(HttpClient.create(pool)
                .responseTimeout(timeout)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE, timeout.toMillis())));
        WebClient.Builder client = WebClient.builder()
                .clientConnector(new ReactorClientHttpConnector(http))
                .defaultHeaders(headers -> {
                    config.headers().forEach(headers::set);
                    if (config.forwardCredentials()) {
                        headers.remove(HttpHeaders.AUTHORIZATION);
                    }
                    if (authorization != null) {
                        headers.set(HttpHeaders.AUTHORIZATION, authorization);
                    }
                });
        if (config.forwardCredentials()) {
            client.filter(BazelHttpBackendFactory::withCallersAuthorization);
        }
        return new BazelHttpBackend(config.name(), baseUrl, client.build(), timeout, config.maxConcurrentCalls(),
                maxActionResultBytes, guard, () -> {
                    guard.close();
                    pool.dispose();
                });
    }

    /** The request with the {@code Authorization} of the client it is made for ({@link CallerCredentials}), or none. */
    private static Mono<ClientResponse> withCallersAuthorization(ClientRequest request, ExchangeFunction next) {
        return Mono.deferContextual(context -> {
            ClientRequest.Builder forwarded = ClientRequest.from(request).headers(h -> h.remove(HttpHeaders.AUTHORIZATION));
            CallerCredentials.from(context).authorization()
                    .ifPresent(value -> forwarded.header(HttpHeaders.AUTHORIZATION, value));
            return next.exchange(forwarded.build());
        });
    }

    private static String authorization(VouchProperties.Backend config) {
        VouchProperties.Auth auth = config.auth();
        boolean basic = auth.username() != null || auth.password() != null;
        if (basic && auth.bearerToken() != null) {
            throw new IllegalArgumentException("backend '" + config.name()
                    + "': set either auth.username and auth.password or auth.bearer-token, not both");
        }
        if (basic) {
            if (auth.username() == null || auth.password() == null) {
                throw new IllegalArgumentException("backend '" + config.name()
                        + "': basic authentication needs both auth.username and auth.password");
            }
            String pair = auth.username() + ":" + auth.password();
            return "Basic " + Base64.getEncoder().encodeToString(pair.getBytes(StandardCharsets.UTF_8));
        }
        return auth.bearerToken() == null ? null : "Bearer " + auth.bearerToken();
    }

    /** System trust unless {@code tls.ca-file} is set; a client certificate when {@code tls.cert-file} is. */
    private static UnaryOperator<HttpClient> tls(VouchProperties.Backend config) {
        VouchProperties.Tls tls = config.tls();
        if (tls.caFile() == null && tls.certFile() == null) {
            return HttpClient::secure;
        }
        try {
            SslContextBuilder builder = SslContextBuilder.forClient();
            if (tls.caFile() != null) {
                builder.trustManager(tls.caFile().toFile());
            }
            if (tls.certFile() != null) {
                if (tls.keyFile() == null) {
                    throw new IllegalArgumentException("backend '" + config.name() + "': tls.cert-file needs tls.key-file");
                }
                builder.keyManager(tls.certFile().toFile(), tls.keyFile().toFile());
            }
            var context = builder.build();
            return http -> http.secure(spec -> spec.sslContext(context));
        } catch (SSLException e) {
            throw new IllegalArgumentException("backend '" + config.name() + "': cannot load its TLS files: " + e.getMessage(), e);
        }
    }
}
