package dev.vouch.api.grpc;

import build.bazel.remote.execution.v2.RequestMetadata;
import dev.vouch.backend.CallMetadata;
import dev.vouch.backend.CallerCredentials;
import dev.vouch.backend.reapi.RequestMetadataHeader;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import java.util.function.UnaryOperator;
import org.springframework.stereotype.Component;

/**
 * What of a gRPC client's headers the backend calls made for its call carry: its {@code authorization}
 * (for backends with {@code forward-credentials}) and, at the cache front, its REAPI RequestMetadata.
 * The interceptor keeps them in the call's gRPC {@link Context}; a service reads them on the thread
 * that calls it in (the Context does not follow Reactor's hops) with {@link #forValidation} or
 * {@link #forFront}, and puts them in the Reactor context of the work it starts with
 * {@code contextWrite}. Runs whether or not {@code vouch.auth} is on.
 */
@Component
public class ClientHeaders implements ServerInterceptor {
    private static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization",
            Metadata.ASCII_STRING_MARSHALLER);
    private static final Context.Key<String> CALLER_AUTHORIZATION = Context.key("vouch-caller-authorization");
    private static final Context.Key<RequestMetadata> CLIENT_METADATA = Context.key("vouch-client-request-metadata");

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
            ServerCallHandler<Q, R> next) {
        RequestMetadata metadata;
        try {
            metadata = headers.get(RequestMetadataHeader.KEY);
        } catch (IllegalArgumentException e) {
            // a header that does not parse is not the client's metadata: the backend gets Vouch's own
            metadata = null;
        }
        Context context = Context.current()
                .withValue(CALLER_AUTHORIZATION, headers.get(AUTHORIZATION))
                .withValue(CLIENT_METADATA, metadata);
        return Contexts.interceptCall(context, call, headers, next);
    }

    /** For the validation API: the caller's credentials (Vouch's own RequestMetadata stays). */
    public static UnaryOperator<reactor.util.context.Context> forValidation() {
        String authorization = CALLER_AUTHORIZATION.get();
        return context -> CallerCredentials.put(context, authorization);
    }

    /** For the cache front: the caller's credentials and, when it sent one, its RequestMetadata, unchanged. */
    public static UnaryOperator<reactor.util.context.Context> forFront() {
        String authorization = CALLER_AUTHORIZATION.get();
        RequestMetadata metadata = CLIENT_METADATA.get();
        return context -> {
            reactor.util.context.Context withCredentials = CallerCredentials.put(context, authorization);
            return metadata == null ? withCredentials : CallMetadata.forward(withCredentials, metadata);
        };
    }
}
