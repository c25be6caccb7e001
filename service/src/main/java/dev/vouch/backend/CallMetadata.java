package dev.vouch.backend;

import build.bazel.remote.execution.v2.RequestMetadata;
import dev.vouch.digest.Digest;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import reactor.util.context.Context;
import reactor.util.context.ContextView;

/**
 * The REAPI {@code RequestMetadata} that remote backends send with each call, as it travels in the
 * Reactor {@link Context} from whoever started the work to the call (as {@link Deadline} does).
 * Real REAPI clients always send it, and some servers refuse calls without it (Bazel's remote
 * worker answers INVALID_ARGUMENT); servers also log and account by it.
 *
 * <ul>
 *   <li>For Vouch's own work (a validation request) it is Vouch's: a fresh {@code tool_invocation_id}
 *       per request ({@link #newInvocation}) and, on an Action Cache lookup, the action's hash as
 *       {@code action_id} ({@link #forAction}), as Bazel sets it. The transport adds Vouch's
 *       {@code tool_details} when it sends it.</li>
 *   <li>For work done on behalf of a client (the cache front forwarding a build tool's call) it is
 *       the client's own, sent unchanged: the front reads the incoming header and puts it here with
 *       {@link #forward} (a {@code contextWrite} on the call it serves). Engine work below it, e.g. a
 *       completeness check, keeps the client's, so the server sees the build that caused each call.</li>
 * </ul>
 *
 * @param metadata what the call sends (for Vouch's own, without {@code tool_details})
 * @param forwarded whether it is a client's own, to be sent as it came
 */
public record CallMetadata(RequestMetadata metadata, boolean forwarded) {
    private static final Object KEY = CallMetadata.class;
    private static final CallMetadata OWN = new CallMetadata(RequestMetadata.getDefaultInstance(), false);

    /** Vouch's own metadata outside any request: nothing but the tool details the transport adds. */
    public static CallMetadata own() {
        return OWN;
    }

    /** Calls made within {@code context} send {@code client}'s metadata as it came (the front's hook). */
    public static Context forward(Context context, RequestMetadata client) {
        return context.put(KEY, new CallMetadata(client, true));
    }

    /**
     * Calls made within {@code context} send Vouch's metadata with a fresh {@code tool_invocation_id},
     * unless the context already carries metadata (a client's, forwarded, or an enclosing request's).
     */
    public static Context newInvocation(Context context) {
        if (context.hasKey(KEY)) {
            return context;
        }
        RequestMetadata own = RequestMetadata.newBuilder().setToolInvocationId(randomUuid()).build();
        return context.put(KEY, new CallMetadata(own, false));
    }

    // UUID.randomUUID() reads SecureRandom, which may block on /dev/urandom (here often an event
    // loop); an invocation id needs to be unique, not secret, so a version-4 UUID from ThreadLocalRandom
    private static String randomUuid() {
        ThreadLocalRandom random = ThreadLocalRandom.current();
        long high = (random.nextLong() & ~0xF000L) | 0x4000L;
        long low = (random.nextLong() & ~(0xCL << 60)) | (0x8L << 60);
        return new UUID(high, low).toString();
    }

    /** The metadata of calls made within {@code context}: what was put there, or {@link #own()}. */
    public static CallMetadata from(ContextView context) {
        return context.getOrEmpty(KEY).map(CallMetadata.class::cast).orElse(OWN);
    }

    /** For a call about {@code action}: Vouch's own names it as {@code action_id}; a client's stays as it came. */
    public CallMetadata forAction(Digest action) {
        return forwarded ? this : new CallMetadata(metadata.toBuilder().setActionId(action.hash()).build(), false);
    }
}
