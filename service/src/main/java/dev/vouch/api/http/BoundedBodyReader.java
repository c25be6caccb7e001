package dev.vouch.api.http;

import dev.vouch.backend.Buffers;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferLimitException;
import org.springframework.core.io.buffer.DataBufferUtils;
import org.springframework.http.HttpHeaders;
import org.springframework.http.InvalidMediaTypeException;
import org.springframework.http.MediaType;
import org.springframework.http.server.reactive.ServerHttpRequest;
import reactor.core.publisher.Mono;
import reactor.core.publisher.SynchronousSink;

/**
 * Reads a JSON request body into memory, but never more than the configured bound: past it the
 * rest is read and dropped, so an oversized upload costs at most {@code maxBytes} of memory.
 * <p>
 * The 413 comes only after the body has been read, up to {@value #DRAIN_FACTOR} times the bound:
 * clients such as Python's urllib send the whole body before they read anything, and a server
 * that answers and closes with their bytes still unread makes the kernel reset the connection, so
 * they would see "connection reset" instead of the 413. A body larger than that is answered at
 * once; the connection closes after every 413 either way.
 */
final class BoundedBodyReader {
    /** How much more than the bound is read and dropped before a 413, so that ordinary clients see it. */
    static final int DRAIN_FACTOR = 4;

    private final int maxBytes;
    private final long drainBytes;

    BoundedBodyReader(int maxBytes) {
        this.maxBytes = maxBytes;
        this.drainBytes = (long) maxBytes * DRAIN_FACTOR;
    }

    Mono<byte[]> read(ServerHttpRequest request) {
        return Mono.defer(() -> {
            HttpHeaders headers = request.getHeaders();
            checkContentType(headers);
            long declared = headers.getContentLength();
            if (declared > drainBytes) {
                return Mono.error(tooLarge("request body declares " + declared + " bytes"));
            }
            if (declared > maxBytes) {
                return request.getBody()
                        .doOnNext(DataBufferUtils::release)
                        .then(Mono.error(() -> tooLarge("request body declares " + declared + " bytes")));
            }
            Oversize oversize = new Oversize();
            return DataBufferUtils.join(request.getBody()
                                    .<DataBuffer>handle((buffer, sink) -> oversize.pass(buffer, sink, maxBytes, drainBytes)),
                            maxBytes)
                    .map(Buffers::drain)
                    .switchIfEmpty(Mono.fromSupplier(() -> new byte[0]))
                    .flatMap(body -> oversize.seen > maxBytes
                            ? Mono.error(tooLarge("request body has more than " + maxBytes + " bytes"))
                            : Mono.just(body))
                    .onErrorMap(DataBufferLimitException.class, e -> tooLarge("request body exceeds the limit"));
        });
    }

    /** Counts a streamed body's bytes; past the bound its buffers are dropped, past the drain bound reading stops. */
    private static final class Oversize {
        long seen;

        void pass(DataBuffer buffer, SynchronousSink<DataBuffer> sink, int maxBytes, long drainBytes) {
            seen += buffer.readableByteCount();
            if (seen <= maxBytes) {
                sink.next(buffer);
                return;
            }
            DataBufferUtils.release(buffer);
            if (seen > drainBytes) {
                sink.error(new DataBufferLimitException("request body exceeds " + drainBytes + " bytes"));
            }
        }
    }

    private ApiProblemException tooLarge(String what) {
        return new ApiProblemException(ProblemType.BODY_TOO_LARGE,
                what + "; at most " + maxBytes + " bytes are accepted (vouch.limits.max-request-bytes)");
    }

    /** JSON, {@code application/*+json}, or no Content-Type at all (agents often omit it). */
    private static void checkContentType(HttpHeaders headers) {
        MediaType type;
        try {
            type = headers.getContentType();
        } catch (InvalidMediaTypeException e) {
            throw unsupported("Content-Type \"" + e.getMediaType() + "\" is not a valid media type");
        }
        if (type == null) {
            return;
        }
        boolean json = type.getType().equals("application")
                && (type.getSubtype().equals("json") || "json".equals(type.getSubtypeSuffix()));
        if (!json) {
            throw unsupported("Content-Type must be application/json, got " + type);
        }
    }

    private static ApiProblemException unsupported(String detail) {
        return new ApiProblemException(ProblemType.UNSUPPORTED_MEDIA_TYPE, detail);
    }
}
