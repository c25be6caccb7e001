package dev.vouch.backend.reapi;

import build.bazel.remote.execution.v2.RequestMetadata;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.vouch.config.VouchProperties;
import io.grpc.ChannelCredentials;
import io.grpc.ClientInterceptor;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.TlsChannelCredentials;
import io.grpc.stub.MetadataUtils;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Opens the one long-lived channel of a {@code grpc} backend: plaintext or TLS, static headers and
 * the RequestMetadata header on every call; with {@code forward-credentials}, the caller's
 * {@code authorization} instead of a configured one ({@link ForwardedAuthorization}).
 */
final class ReapiChannels {
    /** The largest message the channel accepts: GetTree pages and batch reads must fit in it. */
    static final int MAX_INBOUND_MESSAGE_BYTES = 16 << 20;

    private ReapiChannels() {
    }

    static ManagedChannel open(VouchProperties.Backend config) {
        URI target = config.target();
        ChannelCredentials credentials = isTls(target) ? tls(config) : InsecureChannelCredentials.create();
        List<ClientInterceptor> interceptors = new ArrayList<>();
        if (config.forwardCredentials()) {
            // the first added runs last: it has the final word on the authorization header
            interceptors.add(new ForwardedAuthorization());
        }
        interceptors.add(new RequestMetadataHeader(configuredRequestMetadata(config)));
        interceptors.add(MetadataUtils.newAttachHeadersInterceptor(headers(config)));
        return Grpc.newChannelBuilderForAddress(host(target), target.getPort(), credentials)
                .intercept(interceptors)
                .maxInboundMessageSize(MAX_INBOUND_MESSAGE_BYTES)
                .userAgent("vouch")
                .build();
    }

    static boolean isTls(URI target) {
        return "grpcs".equals(target.getScheme());
    }

    // URI keeps the brackets of an IPv6 literal, which the resolver does not want
    private static String host(URI target) {
        String host = target.getHost();
        return host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
    }

    private static ChannelCredentials tls(VouchProperties.Backend config) {
        VouchProperties.Tls tls = config.tls();
        TlsChannelCredentials.Builder builder = TlsChannelCredentials.newBuilder();
        String key = "vouch.backends[" + config.name() + "].tls";
        if (tls.caFile() != null) {
            try {
                builder.trustManager(tls.caFile().toFile());
            } catch (IOException | RuntimeException e) {
                throw unreadable(key + ".ca-file", tls.caFile(), e);
            }
        }
        if (tls.certFile() != null || tls.keyFile() != null) {
            if (tls.certFile() == null || tls.keyFile() == null) {
                throw new IllegalArgumentException(key + ".cert-file and " + key
                        + ".key-file must be set together for a client certificate");
            }
            try {
                builder.keyManager(tls.certFile().toFile(), tls.keyFile().toFile());
            } catch (IOException | RuntimeException e) {
                throw unreadable(key + ".cert-file/key-file", tls.certFile(), e);
            }
        }
        return builder.build();
    }

    private static IllegalArgumentException unreadable(String key, Path file, Exception e) {
        return new IllegalArgumentException(key + " " + file + " is not a readable PEM file: " + e.getMessage(), e);
    }

    /**
     * Header names ending in {@code -bin} are binary in gRPC; their configured value is base64. The
     * RequestMetadata header is left to {@link RequestMetadataHeader}, which sends it on every call.
     */
    static Metadata headers(VouchProperties.Backend config) {
        Metadata metadata = new Metadata();
        for (Map.Entry<String, String> header : config.headers().entrySet()) {
            String name = header.getKey();
            if (isRequestMetadata(name) || config.forwardCredentials()
                    && ForwardedAuthorization.AUTHORIZATION.name().equals(name.toLowerCase(Locale.ROOT))) {
                continue;
            }
            try {
                if (name.endsWith(Metadata.BINARY_HEADER_SUFFIX)) {
                    metadata.put(Metadata.Key.of(name, Metadata.BINARY_BYTE_MARSHALLER),
                            Base64.getDecoder().decode(header.getValue()));
                } else {
                    metadata.put(Metadata.Key.of(name, Metadata.ASCII_STRING_MARSHALLER), header.getValue());
                }
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("vouch.backends[" + config.name() + "].headers." + name
                        + " is not a valid gRPC header: " + e.getMessage(), e);
            }
        }
        return metadata;
    }

    /** The configured RequestMetadata header (base64 of the message), parsed; null when none is configured. */
    static RequestMetadata configuredRequestMetadata(VouchProperties.Backend config) {
        for (Map.Entry<String, String> header : config.headers().entrySet()) {
            if (isRequestMetadata(header.getKey())) {
                try {
                    return RequestMetadata.parseFrom(Base64.getDecoder().decode(header.getValue()));
                } catch (IllegalArgumentException | InvalidProtocolBufferException e) {
                    throw new IllegalArgumentException("vouch.backends[" + config.name() + "].headers." + header.getKey()
                            + " is not the base64 of a build.bazel.remote.execution.v2.RequestMetadata: " + e.getMessage(), e);
                }
            }
        }
        return null;
    }

    // gRPC header names are case-insensitive
    private static boolean isRequestMetadata(String name) {
        return RequestMetadataHeader.KEY.name().equals(name.toLowerCase(Locale.ROOT));
    }
}
