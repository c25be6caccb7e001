package dev.vouch.front.grpc;

import dev.vouch.auth.AuthException;
import dev.vouch.auth.Authorizer;
import dev.vouch.auth.GrpcAuthInterceptor;
import dev.vouch.auth.Identity;
import dev.vouch.auth.Right;

/**
 * Who may use the front's REAPI services: reads (GetActionResult, FindMissingBlobs, BatchReadBlobs,
 * GetTree, ByteStream.Read, GetCapabilities) need the right {@code read} on the request's instance
 * name, writes (UpdateActionResult, BatchUpdateBlobs, ByteStream.Write) {@code write}; refused
 * before any backend is asked, as PERMISSION_DENIED (or UNAUTHENTICATED for a call that never passed
 * the port's {@link GrpcAuthInterceptor}).
 */
final class GrpcAccess {
    private final Authorizer authorizer;

    GrpcAccess(Authorizer authorizer) {
        this.authorizer = authorizer;
    }

    /** The caller; read on the gRPC thread that calls the service in (the Context does not follow Reactor). */
    static Identity caller() {
        return GrpcAuthInterceptor.current();
    }

    void check(Identity caller, String instanceName, Right right) {
        try {
            authorizer.check(caller, instanceName, right);
        } catch (AuthException e) {
            throw GrpcAuthInterceptor.status(e).asRuntimeException();
        }
    }
}
