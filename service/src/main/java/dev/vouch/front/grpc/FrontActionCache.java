package dev.vouch.front.grpc;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.GetActionResultRequest;
import build.bazel.remote.execution.v2.ReactorActionCacheGrpc;
import build.bazel.remote.execution.v2.UpdateActionResultRequest;
import dev.vouch.api.grpc.CallDeadlines;
import dev.vouch.auth.Right;
import dev.vouch.backend.Scope;
import dev.vouch.digest.Digest;
import dev.vouch.front.ActionCacheLookup;
import dev.vouch.front.BadRequestException;
import dev.vouch.front.FrontBackends;
import dev.vouch.front.Lookup;
import dev.vouch.logging.LogSafe;
import io.grpc.Status;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;

/**
 * REAPI ActionCache at the cache front. GetActionResult answers an entry only when its closure is
 * complete ({@link ActionCacheLookup}): incomplete is NOT_FOUND, undecidable UNAVAILABLE. The
 * {@code inline_stdout}, {@code inline_stderr} and {@code inline_output_files} requests are
 * ignored, as REAPI lets a server do: the entry is served as stored, and clients read what they
 * need from the CAS. UpdateActionResult is forwarded to the backend. Each call runs within the
 * client's deadline ({@link CallDeadlines}).
 */
public final class FrontActionCache extends ReactorActionCacheGrpc.ActionCacheImplBase {
    private static final Logger log = LoggerFactory.getLogger(FrontActionCache.class);

    private final FrontBackends backends;
    private final ActionCacheLookup lookup;
    private final int maxActionResultBytes;
    private final GrpcAccess access;

    /** @param maxActionResultBytes vouch.limits.max-action-result-bytes: larger entries are refused */
    FrontActionCache(FrontBackends backends, ActionCacheLookup lookup, int maxActionResultBytes,
            GrpcAccess access) {
        this.access = access;
        this.backends = backends;
        this.lookup = lookup;
        this.maxActionResultBytes = maxActionResultBytes;
    }

    @Override
    public Mono<ActionResult> getActionResult(GetActionResultRequest request) {
        GrpcAccess.Call call = access.begin();
        return Mono.defer(() -> {
            call.check(request.getInstanceName(), Right.READ);
            Scope scope = Statuses.scope(request.getInstanceName(), request.getDigestFunction(),
                    request.getActionDigest().getHash());
            Digest action = Statuses.digest(request.getActionDigest(), "action_digest", scope.digestFunction());
            return backends.forScope(scope)
                    // a backend that cannot say what it supports is left to the lookup, which counts it UNKNOWN
                    .onErrorResume(e -> !(e instanceof BadRequestException), e -> Mono.empty())
                    .then(lookup.lookUp(scope, action))
                    .map(FrontActionCache::answer)
                    .onErrorMap(e -> Statuses.toException(e, "GetActionResult " + action));
        }).contextWrite(call::context);
    }

    private static ActionResult answer(Lookup lookup) {
        if (lookup instanceof Lookup.Served served) {
            return served.result();
        }
        if (lookup instanceof Lookup.NotFound notFound) {
            throw Status.NOT_FOUND.withDescription(notFound.why()).asRuntimeException();
        }
        throw Status.UNAVAILABLE.withDescription(((Lookup.Unavailable) lookup).why()).asRuntimeException();
    }

    @Override
    public Mono<ActionResult> updateActionResult(UpdateActionResultRequest request) {
        GrpcAccess.Call call = access.begin();
        return Mono.defer(() -> {
            call.check(request.getInstanceName(), Right.WRITE);
            Scope scope = Statuses.scope(request.getInstanceName(), request.getDigestFunction(),
                    request.getActionDigest().getHash());
            Digest action = Statuses.digest(request.getActionDigest(), "action_digest", scope.digestFunction());
            ActionResult result = request.getActionResult();
            if (result.getSerializedSize() > maxActionResultBytes) {
                // Vouch would refuse to read it back, so storing it would only make every lookup UNKNOWN
                throw Status.INVALID_ARGUMENT.withDescription("action_result has " + result.getSerializedSize()
                        + " bytes, more than " + maxActionResultBytes + " (vouch.limits.max-action-result-bytes)")
                        .asRuntimeException();
            }
            return backends.forScope(scope)
                    .flatMap(backend -> backend.updateActionResult(scope, action, result)
                            // an access-log line per stored result, as caches do: it is how an operator
                            // learns the action digests (with sizes) that agents can ask Vouch about
                            .doOnSuccess(stored -> log.info("stored action result {} ({} output files, {} output"
                                            + " directories) in backend {}, instance {}", action,
                                    result.getOutputFilesCount(), result.getOutputDirectoriesCount(), backend.name(),
                                    LogSafe.quote(scope.instanceName()))))
                    .thenReturn(result)
                    .onErrorMap(e -> Statuses.toException(e, "UpdateActionResult " + action));
        }).contextWrite(call::context);
    }
}
