package dev.vouch.backend.reapi;

import build.bazel.remote.execution.v2.RequestMetadata;
import build.bazel.remote.execution.v2.ToolDetails;
import dev.vouch.backend.CallMetadata;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ForwardingClientCall;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.protobuf.ProtoUtils;
import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/**
 * Puts REAPI's {@code build.bazel.remote.execution.v2.requestmetadata-bin} header on every call of a
 * {@code grpc} backend's channel, so no call can leave without it, whoever adds calls later. Each
 * call sends the {@link CallMetadata} its stub carries in {@link #CALL_OPTION} (set from the Reactor
 * context where the call is made), or {@link CallMetadata#own()} when it carries none; Vouch's own
 * gets {@code tool_details} {"vouch", the build's version}, a client's forwarded one is sent as it came.
 *
 * <p>A value configured for the header ({@code vouch.backends[i].headers.build.bazel.remote.execution.v2.requestmetadata-bin},
 * base64) replaces Vouch's own metadata; a client's forwarded metadata replaces both. The header is
 * sent once: any other value of it is dropped.
 */
public final class RequestMetadataHeader implements ClientInterceptor {
    /** The header, as REAPI names it; the cache front reads a client's own metadata with it too. */
    public static final Metadata.Key<RequestMetadata> KEY = Metadata.Key.of(
            "build.bazel.remote.execution.v2.requestmetadata-bin",
            ProtoUtils.metadataMarshaller(RequestMetadata.getDefaultInstance()));
    /** The metadata of one call, set on its stub with {@code withOption}. */
    static final CallOptions.Key<CallMetadata> CALL_OPTION = CallOptions.Key.create("vouch.request-metadata");

    private final ToolDetails vouch;
    private final RequestMetadata configured;

    /**
     * Made with the channel, at start-up: the version is read here, once, and not on an event loop.
     *
     * @param configured the operator's value for the header, sent instead of Vouch's own; null for none
     */
    RequestMetadataHeader(RequestMetadata configured) {
        this.vouch = ToolDetails.newBuilder().setToolName("vouch").setToolVersion(version()).build();
        this.configured = configured;
    }

    /** What a call with {@code call}'s metadata sends. */
    RequestMetadata sent(CallMetadata call) {
        if (call.forwarded()) {
            return call.metadata();
        }
        return configured != null ? configured : call.metadata().toBuilder().setToolDetails(vouch).build();
    }

    @Override
    public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> method, CallOptions options, Channel next) {
        CallMetadata call = options.getOption(CALL_OPTION);
        RequestMetadata metadata = sent(call != null ? call : CallMetadata.own());
        return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(method, options)) {
            @Override
            public void start(Listener<R> listener, Metadata headers) {
                headers.discardAll(KEY);
                headers.put(KEY, metadata);
                super.start(listener, headers);
            }
        };
    }

    /** The version Maven's build-info recorded (target/classes has it too, so tests see it); else the manifest's. */
    static String version() {
        try (InputStream in = RequestMetadataHeader.class.getResourceAsStream("/META-INF/build-info.properties")) {
            if (in != null) {
                Properties build = new Properties();
                build.load(in);
                String version = build.getProperty("build.version");
                if (version != null && !version.isBlank()) {
                    return version;
                }
            }
        } catch (IOException e) {
            // a name without a version is better than no name: the manifest may still say
        }
        String manifest = RequestMetadataHeader.class.getPackage().getImplementationVersion();
        return manifest != null ? manifest : "unknown";
    }
}
