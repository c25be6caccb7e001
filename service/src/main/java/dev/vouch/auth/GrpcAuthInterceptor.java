package dev.vouch.auth;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import org.springframework.stereotype.Component;
import reactor.core.Disposable;

/**
 * Authentication on the gRPC port: when auth is on, every call needs an identity in its
 * {@code authorization} metadata, or is closed UNAUTHENTICATED before any service sees it. The
 * identity is put in the call's {@link Context} as {@link #IDENTITY}, where services read it (on the
 * thread that calls them in) for {@link Authorizer#check}. With auth off every call carries
 * {@link Identity#ANONYMOUS}.
 *
 * <p>A JWT may need the issuer's keys fetched first, and nothing may block the event loop, so the
 * call is started only once the identity is known; what the client sends meanwhile is held in order
 * and delivered after. Static tokens and cached keys decide at once, on the calling thread.
 */
@Component
public class GrpcAuthInterceptor implements ServerInterceptor {
    /** The caller of the current call; null outside a call that passed this interceptor. */
    public static final Context.Key<Identity> IDENTITY = Context.key("vouch-identity");
    static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    private final Authorizer authorizer;

    public GrpcAuthInterceptor(Authorizer authorizer) {
        this.authorizer = authorizer;
    }

    /** The identity of the call running on this thread, for {@link Authorizer#check}. */
    public static Identity current() {
        return IDENTITY.get();
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
            ServerCallHandler<Q, R> next) {
        if (!authorizer.enabled()) {
            return Contexts.interceptCall(Context.current().withValue(IDENTITY, Identity.ANONYMOUS), call, headers, next);
        }
        Context context = Context.current();
        PendingListener<Q> pending = new PendingListener<>();
        Disposable decision = authorizer.authenticate(headers.get(AUTHORIZATION), peer(call)).subscribe(
                identity -> pending.start(() -> Contexts.interceptCall(context.withValue(IDENTITY, identity), call,
                        headers, next)),
                error -> pending.refuse(() -> call.close(error instanceof AuthException e ? status(e)
                        : Status.UNAUTHENTICATED.withDescription("the identity could not be established"), new Metadata())));
        pending.onCancelled(decision::dispose);
        return pending;
    }

    /** The client certificate chain of a call over mutual TLS; null over plaintext or TLS without one. */
    private static X509Certificate[] peer(ServerCall<?, ?> call) {
        SSLSession session = call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION);
        if (session == null) {
            return null;
        }
        try {
            return Arrays.stream(session.getPeerCertificates()).filter(X509Certificate.class::isInstance)
                    .map(X509Certificate.class::cast).toArray(X509Certificate[]::new);
        } catch (SSLPeerUnverifiedException e) {
            return null;
        }
    }

    /** The gRPC form of a refusal: PERMISSION_DENIED or UNAUTHENTICATED, with the client's detail. */
    public static Status status(AuthException e) {
        return (e.forbidden() ? Status.PERMISSION_DENIED : Status.UNAUTHENTICATED).withDescription(e.getMessage());
    }

    /**
     * Holds a call's events until it is started (then replays them, in order) or refused (then drops
     * them). grpc-java delivers events one at a time; the decision may land on another thread, so
     * the hand-over is under a lock, and events that arrive during the replay queue behind it.
     */
    private static final class PendingListener<Q> extends ServerCall.Listener<Q> {
        private final List<Consumer<ServerCall.Listener<Q>>> held = new ArrayList<>();
        private ServerCall.Listener<Q> delegate;
        private boolean refused;
        private boolean cancelled;
        private Runnable onCancel = () -> { };

        synchronized void onCancelled(Runnable action) {
            if (cancelled) {
                action.run();
            } else {
                onCancel = action;
            }
        }

        void start(java.util.function.Supplier<ServerCall.Listener<Q>> starter) {
            ServerCall.Listener<Q> started = starter.get();
            while (true) {
                List<Consumer<ServerCall.Listener<Q>>> batch;
                synchronized (this) {
                    if (held.isEmpty()) {
                        delegate = started;
                        return;
                    }
                    batch = new ArrayList<>(held);
                    held.clear();
                }
                batch.forEach(event -> event.accept(started));
            }
        }

        void refuse(Runnable close) {
            synchronized (this) {
                refused = true;
                held.clear();
                if (cancelled) {
                    return;
                }
            }
            close.run();
        }

        private void deliver(Consumer<ServerCall.Listener<Q>> event) {
            ServerCall.Listener<Q> target;
            synchronized (this) {
                if (refused) {
                    return;
                }
                if (delegate == null) {
                    held.add(event);
                    return;
                }
                target = delegate;
            }
            event.accept(target);
        }

        @Override
        public void onMessage(Q message) {
            deliver(l -> l.onMessage(message));
        }

        @Override
        public void onHalfClose() {
            deliver(ServerCall.Listener::onHalfClose);
        }

        @Override
        public void onCancel() {
            Runnable action;
            synchronized (this) {
                cancelled = true;
                action = onCancel;
            }
            action.run();
            deliver(ServerCall.Listener::onCancel);
        }

        @Override
        public void onComplete() {
            deliver(ServerCall.Listener::onComplete);
        }

        @Override
        public void onReady() {
            deliver(ServerCall.Listener::onReady);
        }
    }
}
