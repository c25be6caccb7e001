package dev.vouch.front.grpc;

import build.bazel.remote.execution.v2.Directory;
import build.bazel.remote.execution.v2.GetTreeResponse;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.Optional;
import java.util.function.BiConsumer;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.SynchronousSink;

/**
 * Cuts one GetTree walk into pages as the directories arrive, and resumes a walk after a page
 * token. Nothing but the page being filled is held: a page goes out when the first directory of
 * the next one arrives (so the last page, and only it, has no token), or when the walk ends.
 *
 * <p>A token is {@code <position>:<hash>}: how many directories the walk had listed, and the
 * hash of the last of them. Resuming walks again from the root and skips that many without
 * keeping them: a bounded re-walk (the walk is bounded by {@code vouch.limits.max-tree-bytes}),
 * chosen over a cursor held by the server, which a client could leave open by the thousand.
 * Because the walk is deterministic, the directory at the position is the one the token names;
 * if it is not, the tree changed in between (a subdirectory evicted or restored) and the call
 * fails with FAILED_PRECONDITION rather than list a directory twice or skip one.
 */
final class TreePager implements BiConsumer<Optional<TreePager.Listed>, SynchronousSink<GetTreeResponse>> {
    /** A page's directories stay below this many bytes (one larger directory goes alone), far under gRPC's 4 MiB. */
    static final int MAX_PAGE_BYTES = 1 << 20;

    /** One directory of the walk, with the digest it was read under. */
    record Listed(Digest digest, Directory directory) {
    }

    private final Digest root;
    private final int pageSize;
    private final long resumeAfter;
    private final String resumeHash;
    private long position;
    private GetTreeResponse.Builder page = GetTreeResponse.newBuilder();
    private long pageBytes;
    private Digest last;

    private TreePager(Digest root, int pageSize, long resumeAfter, String resumeHash) {
        this.root = root;
        this.pageSize = pageSize;
        this.resumeAfter = resumeAfter;
        this.resumeHash = resumeHash;
    }

    /** A pager for one call, from the start or after {@code token}; INVALID_ARGUMENT for a token not issued here. */
    static TreePager resuming(Digest root, int pageSize, String token, DigestFunction function) {
        if (token.isEmpty()) {
            return new TreePager(root, pageSize, 0, null);
        }
        int colon = token.indexOf(':');
        try {
            long position = Long.parseLong(token.substring(0, Math.max(colon, 0)));
            String hash = token.substring(colon + 1);
            new Digest(hash, 0).checkFor(function);
            if (position < 1) {
                throw new NumberFormatException();
            }
            return new TreePager(root, pageSize, position, hash);
        } catch (RuntimeException e) {
            throw Statuses.invalidArgument("page_token \"" + token + "\" was not issued by this server");
        }
    }

    /** The pages of {@code walk}, this pager's state being the walk's: subscribe once. */
    Flux<GetTreeResponse> pages(Flux<Listed> walk) {
        return walk.map(Optional::of).concatWith(Mono.just(Optional.empty())).handle(this);
    }

    @Override
    public void accept(Optional<Listed> next, SynchronousSink<GetTreeResponse> sink) {
        if (next.isEmpty()) {
            if (position < resumeAfter) {
                throw changed();
            }
            sink.next(page.build());
            return;
        }
        Listed listed = next.get();
        position++;
        if (position <= resumeAfter) {
            if (position == resumeAfter && !listed.digest().hash().equals(resumeHash)) {
                throw changed();
            }
            return;
        }
        int size = listed.directory().getSerializedSize();
        int count = page.getDirectoriesCount();
        if (count == pageSize || count > 0 && pageBytes + size > MAX_PAGE_BYTES) {
            sink.next(page.setNextPageToken((position - 1) + ":" + last.hash()).build());
            page = GetTreeResponse.newBuilder();
            pageBytes = 0;
        }
        page.addDirectories(listed.directory());
        pageBytes += size;
        last = listed.digest();
    }

    private StatusRuntimeException changed() {
        return Status.FAILED_PRECONDITION.withDescription("page_token " + resumeAfter + ":" + resumeHash
                + " no longer matches the tree under " + root + ": directories in it changed since the token was issued;"
                + " call GetTree again without a page_token").asRuntimeException();
    }
}
