package dev.vouch.api.http;

import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferLimitException;
import org.springframework.core.io.buffer.DataBufferUtils;
import org.springframework.http.HttpHeaders;
import org.springframework.http.InvalidMediaTypeException;
import org.springframework.http.MediaType;
import org.springframework.http.server.reactive.ServerHttpRequest;
import reactor.core.publisher.Mono;

/**
 * Reads a JSON request body into memory, but never more than the configured bound: a declared
 * Content-Length over it is refused before reading, and a body that streams past it is cut off as
 * soon as it does, so an oversized upload costs at most {@code maxBytes} of memory.
 */
final class BoundedBodyReader {
    private final int maxBytes;

    BoundedBodyReader(int maxBytes) {
        this.maxBytes = maxBytes;
    }

    Mono<byte[]> read(ServerHttpRequest request) {
        return Mono.defer(() -> {
            HttpHeaders headers = request.getHeaders();
            checkContentType(headers);
            long declared = headers.getContentLength();
            if (declared > maxBytes) {
                return Mono.error(tooLarge("request body declares " + declared + " bytes"));
            }
            return DataBufferUtils.join(request.getBody(), maxBytes)
                    .map(BoundedBodyReader::drain)
                    .switchIfEmpty(Mono.fromSupplier(() -> new byte[0]))
                    .onErrorMap(DataBufferLimitException.class, e -> tooLarge("request body exceeds the limit"));
        });
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

    private static byte[] drain(DataBuffer buffer) {
        try {
            byte[] bytes = new byte[buffer.readableByteCount()];
            buffer.read(bytes);
            return bytes;
        } finally {
            DataBufferUtils.release(buffer);
        }
    }
}
