package dev.vouch.backend.reapi;

import dev.vouch.backend.CallerCredentials;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ForwardingClientCall;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;

/**
 * On the channel of a backend with {@code forward-credentials}: every call sends the
 * {@code authorization} of the client it is made for ({@link CallerCredentials}, set on its stub in
 * {@link #CALL_OPTION} from the Reactor context), and no other: any value already on the call (a
 * configured static header) is dropped, and a call for no client, or for one that sent none, goes
 * without. Added first to the channel, so it runs last, after the static headers are attached.
 */
final class ForwardedAuthorization implements ClientInterceptor {
    static final CallOptions.Key<CallerCredentials> CALL_OPTION =
            CallOptions.Key.createWithDefault("vouch.caller-credentials", CallerCredentials.NONE);
    static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    @Override
    public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> method, CallOptions options, Channel next) {
        CallerCredentials caller = options.getOption(CALL_OPTION);
        return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(method, options)) {
            @Override
            public void start(Listener<R> listener, Metadata headers) {
                headers.discardAll(AUTHORIZATION);
                caller.authorization().ifPresent(value -> headers.put(AUTHORIZATION, value));
                super.start(listener, headers);
            }
        };
    }
}
