package dev.vouch.backend.embedded.grpc;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.GetActionResultRequest;
import build.bazel.remote.execution.v2.ReactorActionCacheGrpc;
import build.bazel.remote.execution.v2.UpdateActionResultRequest;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.vouch.backend.embedded.BlobStore;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import io.grpc.Status;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;

/** REAPI ActionCache over the embedded store; the instance name is ignored (one namespace). */
public final class EmbeddedActionCache extends ReactorActionCacheGrpc.ActionCacheImplBase {
    private static final Logger log = LoggerFactory.getLogger(EmbeddedActionCache.class);

    private final BlobStore store;
    private final int maxActionResultBytes;

    public EmbeddedActionCache(BlobStore store) {
        this(store, VouchProperties.Limits.defaults().maxActionResultBytes());
    }

    /** @param maxActionResultBytes vouch.limits.max-action-result-bytes: larger entries are refused */
    public EmbeddedActionCache(BlobStore store, int maxActionResultBytes) {
        this.store = store;
        this.maxActionResultBytes = maxActionResultBytes;
    }

    @Override
    public Mono<ActionResult> getActionResult(GetActionResultRequest request) {
        return Mono.defer(() -> {
            Statuses.requireSha256(request.getDigestFunction());
            Digest action = Statuses.digest(request.getActionDigest(), "action_digest");
            return store.getActionResult(action)
                    .map(bytes -> parse(action, bytes))
                    .switchIfEmpty(Mono.error(() -> Status.NOT_FOUND
                            .withDescription("no Action Cache entry for " + action).asRuntimeException()))
                    .onErrorMap(e -> Statuses.toException(e, "GetActionResult " + action));
        });
    }

    @Override
    public Mono<ActionResult> updateActionResult(UpdateActionResultRequest request) {
        return Mono.defer(() -> {
            Statuses.requireSha256(request.getDigestFunction());
            Digest action = Statuses.digest(request.getActionDigest(), "action_digest");
            ActionResult result = request.getActionResult();
            if (result.getSerializedSize() > maxActionResultBytes) {
                // Vouch would refuse to read it back, so storing it would only make every lookup UNKNOWN
                throw Status.INVALID_ARGUMENT.withDescription("action_result has " + result.getSerializedSize()
                        + " bytes, more than " + maxActionResultBytes + " (vouch.limits.max-action-result-bytes)")
                        .asRuntimeException();
            }
            return store.putActionResult(action, result.toByteArray())
                    // an access-log line per stored result, as caches do: it is how an operator
                    // learns the action digests (with sizes) that agents can ask Vouch about
                    .doOnSuccess(stored -> log.info("stored action result {} ({} output files, {} output directories)",
                            action, result.getOutputFilesCount(), result.getOutputDirectoriesCount()))
                    .thenReturn(result)
                    .onErrorMap(e -> Statuses.toException(e, "UpdateActionResult " + action));
        });
    }

    private static ActionResult parse(Digest action, byte[] bytes) {
        try {
            return ActionResult.parseFrom(bytes);
        } catch (InvalidProtocolBufferException e) {
            throw Status.DATA_LOSS.withDescription("Action Cache entry " + action + " is damaged").asRuntimeException();
        }
    }
}
