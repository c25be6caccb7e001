package dev.vouch.api.http;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpStatusClass;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.URI;
import java.net.URISyntaxException;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.databind.json.JsonMapper;

/**
 * One HTTP connection's guard, right after Netty's HTTP codec: it knows whether a request is in
 * progress (for {@link HttpConnections} to pick an idle connection to close), closes a connection
 * whose request line and headers take longer than {@code vouch.http.request-header-timeout} from
 * their first byte (slowloris), and answers requests the codec could not decode, or whose target is
 * not a URI, with an RFC 9457 problem detail instead of Reactor Netty's bare status.
 * {@link #requestStart()} goes before the codec: only raw bytes tell when a request begins.
 */
final class HttpConnectionGuard extends ChannelDuplexHandler {
    private static final Logger log = LoggerFactory.getLogger(HttpConnectionGuard.class);

    private final Channel channel;
    private final long headerTimeoutNanos;
    private final JsonMapper json;
    // event-loop state
    private boolean awaitingRequest = true;
    private ScheduledFuture<?> headerTimer;
    // read by admissions on other event loops
    private volatile int inProgress;
    private volatile long idleSince = System.nanoTime();
    private final AtomicBoolean evicted = new AtomicBoolean();

    HttpConnectionGuard(Channel channel, Duration requestHeaderTimeout, JsonMapper json) {
        this.channel = channel;
        this.headerTimeoutNanos = requestHeaderTimeout.toNanos();
        this.json = json;
    }

    /** The handler that goes before the codec and starts the header clock at a request's first byte. */
    ChannelInboundHandlerAdapter requestStart() {
        return new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext raw, Object msg) {
                if (awaitingRequest && headerTimer == null && msg instanceof ByteBuf bytes && bytes.isReadable()) {
                    headerTimer = raw.executor().schedule(() -> headersTooSlow(raw), headerTimeoutNanos,
                            TimeUnit.NANOSECONDS);
                }
                raw.fireChannelRead(msg);
            }
        };
    }

    boolean isIdle() {
        return inProgress == 0 && !evicted.get();
    }

    long idleSince() {
        return idleSince;
    }

    /** Closes this idle connection to make room for a new one; false if another admission took it first. */
    boolean evict() {
        if (!evicted.compareAndSet(false, true)) {
            return false;
        }
        channel.close();
        return true;
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        cancelHeaderTimer();
        ctx.fireChannelInactive();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof HttpRequest request) {
            cancelHeaderTimer();
            awaitingRequest = false;
            // with a request already in progress, the answer would overtake it: leave it to Reactor Netty
            if (inProgress == 0 && refused(ctx, request)) {
                ReferenceCountUtil.release(msg);
                return;
            }
            inProgress++;
        }
        if (msg instanceof LastHttpContent) {
            awaitingRequest = true;
        }
        ctx.fireChannelRead(msg);
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        boolean ends = msg instanceof LastHttpContent
                && !(msg instanceof HttpResponse response && response.status().codeClass() == HttpStatusClass.INFORMATIONAL);
        ctx.write(msg, promise);
        if (ends && inProgress > 0) {
            inProgress--;
            idleSince = System.nanoTime();
        }
    }

    private void headersTooSlow(ChannelHandlerContext raw) {
        headerTimer = null;
        if (awaitingRequest && raw.channel().isActive()) {
            log.debug("closing {}: request headers not complete within {} ms (vouch.http.request-header-timeout)",
                    raw.channel().remoteAddress(), TimeUnit.NANOSECONDS.toMillis(headerTimeoutNanos));
            raw.channel().close();
        }
    }

    private void cancelHeaderTimer() {
        if (headerTimer != null) {
            headerTimer.cancel(false);
            headerTimer = null;
        }
    }

    /** Answers a request that cannot be served and closes the connection; false if it is fine. */
    private boolean refused(ChannelHandlerContext ctx, HttpRequest request) {
        if (request.decoderResult().isFailure()) {
            Throwable cause = request.decoderResult().cause();
            if (cause instanceof TooLongHttpLineException) {
                answer(ctx, ProblemType.URI_TOO_LONG, "the request line is too long: " + cause.getMessage()
                        + " (server.netty.max-initial-line-length)");
            } else if (cause instanceof TooLongHttpHeaderException) {
                answer(ctx, ProblemType.HEADERS_TOO_LARGE, "the request headers are too large: " + cause.getMessage()
                        + " (server.max-http-request-header-size)");
            } else {
                answer(ctx, ProblemType.MALFORMED_REQUEST, "the request could not be decoded: " + cause.getMessage());
            }
            return true;
        }
        String problem = uriProblem(request.uri());
        if (problem != null) {
            answer(ctx, ProblemType.MALFORMED_REQUEST, problem);
            return true;
        }
        return false;
    }

    /**
     * What Spring WebFlux would refuse with a bare 400 when it builds the request's URI (a {@code %}
     * not followed by two hex digits, a space), checked the way it builds it: the request target
     * after the scheme and authority, behind a base URL.
     */
    static String uriProblem(String target) {
        int pathStart = target.startsWith("/") ? 0 : target.indexOf("://");
        if (pathStart > 0) {
            int slash = target.indexOf('/', pathStart + 3);
            target = slash < 0 ? "" : target.substring(slash);
        }
        try {
            new URI("http://localhost" + target);
            return null;
        } catch (URISyntaxException e) {
            return "the request target is not a valid URI: " + e.getReason() + " at index "
                    + Math.max(0, e.getIndex() - "http://localhost".length());
        }
    }

    private void answer(ChannelHandlerContext ctx, ProblemType type, String detail) {
        Map<String, Object> problem = new LinkedHashMap<>();
        problem.put("type", type.type().toString());
        problem.put("title", type.title());
        problem.put("status", type.status().value());
        problem.put("detail", detail);
        FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                HttpResponseStatus.valueOf(type.status().value()), Unpooled.wrappedBuffer(json.writeValueAsBytes(problem)));
        response.headers()
                .set(HttpHeaderNames.CONTENT_TYPE, "application/problem+json")
                .setInt(HttpHeaderNames.CONTENT_LENGTH, response.content().readableBytes())
                .set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        // the codec stops decoding after a failure: nothing more can be read from this connection
        ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
    }
}
