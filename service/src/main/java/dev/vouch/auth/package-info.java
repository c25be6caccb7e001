/**
 * Who may call Vouch, for every front (SPEC "Authentication and TLS"; {@code vouch.auth.*} in
 * {@link dev.vouch.auth.AuthProperties}). Off by default: then every caller is
 * {@link dev.vouch.auth.Identity#ANONYMOUS} and nothing changes.
 *
 * <p>Authentication happens at the ports, before any handler: {@link dev.vouch.auth.AuthWebFilter}
 * answers 401 on the HTTP port (all paths but the probes and {@code /actuator/prometheus}),
 * {@link dev.vouch.auth.GrpcAuthInterceptor} UNAUTHENTICATED on the gRPC port (every service).
 * Authorization is the handler's, since only it knows the instance name and the right the
 * operation needs. A front (the validation APIs; the cache front's REAPI services, through
 * {@code dev.vouch.front.grpc.GrpcAccess}, and {@code /cache}) does, before it touches a backend:
 *
 * <pre>{@code
 * // gRPC, on the thread that calls the service in (the Context does not follow Reactor's hops)
 * Identity who = GrpcAuthInterceptor.current();
 * try {
 *     authorizer.check(who, request.getInstanceName(), Right.WRITE);
 * } catch (AuthException e) {
 *     throw GrpcAuthInterceptor.status(e).asRuntimeException();   // PERMISSION_DENIED
 * }
 *
 * // HTTP (WebFlux handler)
 * authorizer.check(AuthWebFilter.identity(exchange), instanceName, Right.READ);
 * // ... and render an AuthException with AuthProblems.response(e, path): 403 problem+json
 * }</pre>
 *
 * {@link dev.vouch.auth.Authorizer#check} refuses a null identity (a request that never passed the
 * port's adapter) when auth is on, so a front that forgets the adapter fails closed.
 */
package dev.vouch.auth;
