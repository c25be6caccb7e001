package dev.vouch.front.grpc;

import dev.vouch.api.grpc.CallDeadlines;
import dev.vouch.api.grpc.ClientHeaders;
import dev.vouch.auth.AuthException;
import dev.vouch.auth.Authorizer;
import dev.vouch.auth.GrpcAuthInterceptor;
import dev.vouch.auth.Identity;
import dev.vouch.auth.Right;
import dev.vouch.backend.Deadline;
import java.util.function.UnaryOperator;
import reactor.util.context.Context;

/**
 * Who may use the front's REAPI services: reads (GetActionResult, FindMissingBlobs, BatchReadBlobs,
 * GetTree, ByteStream.Read, GetCapabilities) need the right {@code read} on the request's instance
 * name, writes (UpdateActionResult, BatchUpdateBlobs, ByteStream.Write) {@code write}; refused
 * before any backend is asked, as PERMISSION_DENIED (or UNAUTHENTICATED for a call that never passed
 * the port's {@link GrpcAuthInterceptor}).
 */
final class GrpcAccess {
    private final Authorizer authorizer;
    private final CallDeadlines deadlines;

    GrpcAccess(Authorizer authorizer, CallDeadlines deadlines) {
        this.authorizer = authorizer;
        this.deadlines = deadlines;
    }

    /**
     * What a call takes from the gRPC thread that calls the service in, since the gRPC Context does
     * not follow Reactor's thread hops: its deadline, the caller, and the client's credentials and
     * RequestMetadata, which go with every backend call made for it.
     */
    Call begin() {
        return new Call(deadlines.of(io.grpc.Context.current().getDeadline()), GrpcAuthInterceptor.current(),
                ClientHeaders.forFront());
    }

    /** One call to a front service. */
    final class Call {
        private final Deadline deadline;
        private final Identity caller;
        private final UnaryOperator<Context> client;

        private Call(Deadline deadline, Identity caller, UnaryOperator<Context> client) {
            this.deadline = deadline;
            this.caller = caller;
            this.client = client;
        }

        /** Lets the caller act with {@code right} on {@code instanceName}, or throws the gRPC refusal. */
        void check(String instanceName, Right right) {
            try {
                authorizer.check(caller, instanceName, right);
            } catch (AuthException e) {
                throw GrpcAuthInterceptor.status(e).asRuntimeException();
            }
        }

        /** The Reactor context of the call's work: {@code .contextWrite(call::context)}. */
        Context context(Context context) {
            return deadline.addTo(client.apply(context));
        }
    }
}
