package dev.vouch.validation;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.Directory;
import build.bazel.remote.execution.v2.DirectoryNode;
import build.bazel.remote.execution.v2.FileNode;
import build.bazel.remote.execution.v2.OutputDirectory;
import build.bazel.remote.execution.v2.OutputFile;
import build.bazel.remote.execution.v2.Tree;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.vouch.backend.BlobNotFoundException;
import dev.vouch.backend.CacheBackend;
import dev.vouch.backend.CorruptBlobException;
import dev.vouch.backend.MalformedBlobException;
import dev.vouch.backend.Scope;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.digest.InvalidDigestException;
import dev.vouch.logging.LogSafe;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * Turns ActionResults into {@link Closure}s for one request. Tree and Directory blobs are read
 * through a per-request cache, so actions sharing one are served by a single read; a blob read
 * successfully is confirmed present and one found absent is confirmed missing, and neither needs
 * an existence check afterwards. A verifying walker (mode FETCH) also hashes what it reads: a
 * corrupt blob is confirmed corrupt and, like a missing one, its contents are not walked. Walks
 * fail only with {@link Undecidable}.
 */
final class ClosureWalker {
    private static final Logger log = LoggerFactory.getLogger(ClosureWalker.class);
    // Directory reads of one level of a root_directory_digest walk in flight at once
    private static final int DIRECTORY_READ_CONCURRENCY = 8;

    private final CacheBackend backend;
    private final Scope scope;
    private final VouchProperties.Limits limits;
    private final RequestBudget budget;
    private final Function<Digest, Mono<IndexedTree>> treeReader;
    private final Function<Digest, Mono<Directory>> directoryReader;
    // each read once per request, and held (charged to the request) until it ends
    private final Map<Digest, Mono<Read<IndexedTree>>> trees = new ConcurrentHashMap<>();
    private final Map<Digest, Mono<Read<Directory>>> directories = new ConcurrentHashMap<>();
    private final Map<Digest, Mono<Read<Map<Digest, Directory>>>> directoryTrees = new ConcurrentHashMap<>();
    // EXISTENCE asks the backend for whole directory trees (one paged GetTree on REAPI); FETCH must
    // read and verify each Directory blob itself
    private final boolean wholeTrees;
    private final Set<Digest> present = ConcurrentHashMap.newKeySet();
    private final Set<Digest> absent = ConcurrentHashMap.newKeySet();
    private final Set<Digest> corrupt = ConcurrentHashMap.newKeySet();

    /** A walker that trusts what the backend returns (mode EXISTENCE). */
    ClosureWalker(CacheBackend backend, Scope scope, VouchProperties.Limits limits, RequestBudget budget) {
        // a Tree blob is read whole anyway, so hashing it is cheap: a damaged Tree must not vouch for its files
        this(backend, scope, limits, budget,
                d -> backend.readSmallBlob(scope, d)
                        .map(bytes -> IndexedTree.of(parse(d, verified(scope, d, bytes), Tree::parseFrom), scope)),
                d -> backend.readDirectory(scope, d), true);
    }

    /** A walker that reads Tree and Directory blobs through {@code fetcher}, so every one is hash-verified. */
    ClosureWalker(CacheBackend backend, Scope scope, VouchProperties.Limits limits, RequestBudget budget,
            BlobFetcher fetcher) {
        this(backend, scope, limits, budget,
                d -> fetcher.verifiedBytes(d).map(bytes -> IndexedTree.of(parse(d, bytes, Tree::parseFrom), scope)),
                d -> fetcher.verifiedBytes(d).map(bytes -> parse(d, bytes, Directory::parseFrom)), false);
    }

    private ClosureWalker(CacheBackend backend, Scope scope, VouchProperties.Limits limits, RequestBudget budget,
            Function<Digest, Mono<IndexedTree>> treeReader, Function<Digest, Mono<Directory>> directoryReader,
            boolean wholeTrees) {
        this.backend = backend;
        this.budget = budget;
        this.wholeTrees = wholeTrees;
        this.scope = scope;
        this.limits = limits;
        this.treeReader = treeReader;
        this.directoryReader = directoryReader;
    }

    /** Tree and Directory blobs read back during this request. */
    Set<Digest> confirmedPresent() {
        return present;
    }

    /** Tree and Directory blobs the CAS did not have. */
    Set<Digest> confirmedAbsent() {
        return absent;
    }

    /** Tree and Directory blobs whose bytes did not match their digest (verifying walker only). */
    Set<Digest> confirmedCorrupt() {
        return corrupt;
    }

    Mono<Closure> walk(ActionResult result) {
        return Mono.defer(() -> {
            Closure closure = new Closure(limits, scope.digestFunction(), budget);
            return walkInto(closure, result).doOnError(e -> closure.release());
        });
    }

    private Mono<Closure> walkInto(Closure closure, ActionResult result) {
        return Mono.defer(() -> {
            for (OutputFile file : result.getOutputFilesList()) {
                closure.add(checked(file.getDigest(), "output file " + file.getPath()), BlobKind.OUTPUT_FILE,
                        file.getPath());
            }
            if (result.hasStdoutDigest()) {
                closure.add(checked(result.getStdoutDigest(), "stdout_digest"), BlobKind.STDOUT, "stdout");
            }
            if (result.hasStderrDigest()) {
                closure.add(checked(result.getStderrDigest(), "stderr_digest"), BlobKind.STDERR, "stderr");
            }
            // check every directory's digest before reading anything, so a malformed result costs no reads
            List<Mono<Void>> walks = new ArrayList<>();
            for (OutputDirectory directory : result.getOutputDirectoriesList()) {
                String path = directory.getPath();
                if (directory.hasTreeDigest()) {
                    Digest tree = checked(directory.getTreeDigest(), "tree_digest of output directory " + path);
                    walks.add(Mono.defer(() -> walkTree(closure, path, tree)));
                } else if (directory.hasRootDirectoryDigest()) {
                    Digest root = checked(directory.getRootDirectoryDigest(),
                            "root_directory_digest of output directory " + path);
                    walks.add(Mono.defer(() -> walkDirectories(closure, path, root)));
                } else {
                    throw new Undecidable("malformed ActionResult: output directory " + path
                            + " has neither tree_digest nor root_directory_digest");
                }
            }
            // one directory after another keeps the closure's order, and the byte limit, deterministic
            return Flux.concat(walks).then(Mono.just(closure));
        });
    }

    private Mono<Void> walkTree(Closure closure, String path, Digest treeDigest) {
        closure.add(treeDigest, BlobKind.OUTPUT_DIRECTORY_TREE, path);
        closure.chargeMetadata(treeDigest);
        if (treeDigest.isEmptyBlob(scope.digestFunction())) {
            // the empty message is an empty Tree, and the empty blob needs no read to be present
            return Mono.empty();
        }
        return read(trees, treeDigest, treeReader)
                .doOnNext(read -> {
                    if (read.failure() != null) {
                        throw failure(read.failure(), "reading tree " + treeDigest + " of output directory " + path);
                    }
                    if (read.value() != null) {
                        addTreeFiles(closure, path, treeDigest, read.value());
                    }
                    // absent or corrupt: the tree is in the closure and confirmed so; its files cannot be known
                })
                .then();
    }

    private void addTreeFiles(Closure closure, String path, Digest treeDigest, IndexedTree tree) {
        Map<Digest, Directory> children = tree.children();
        String where = "tree " + treeDigest + " of output directory " + path;
        Deque<Located<Directory>> pending = new ArrayDeque<>();
        pending.add(new Located<>(path, tree.root()));
        while (!pending.isEmpty()) {
            Located<Directory> current = pending.poll();
            closure.countEntry();
            for (FileNode file : current.value().getFilesList()) {
                String filePath = join(current.path(), file.getName());
                closure.add(checked(file.getDigest(), where + ", file " + filePath), BlobKind.OUTPUT_DIRECTORY_FILE,
                        filePath);
            }
            for (DirectoryNode node : current.value().getDirectoriesList()) {
                String childPath = join(current.path(), node.getName());
                Digest childDigest = checked(node.getDigest(), where + ", directory " + childPath);
                Directory child = children.get(childDigest);
                if (child == null) {
                    if (!childDigest.isEmptyBlob(scope.digestFunction())) {
                        throw new Undecidable("malformed ActionResult: " + where + " lacks directory " + childPath
                                + " (" + childDigest + ")");
                    }
                    // an empty directory need not be listed among the children
                    continue;
                }
                pending.add(new Located<>(childPath, child));
            }
        }
    }

    private Mono<Void> walkDirectories(Closure closure, String path, Digest root) {
        closure.add(root, BlobKind.DIRECTORY, path);
        if (wholeTrees) {
            return walkDirectoryTree(closure, path, root);
        }
        return walkLevel(closure, List.of(new Located<>(path, root)));
    }

    /**
     * Walks a root_directory_digest output from the backend's whole-tree answer: Directory blobs it
     * did not return are absent (missing, kind DIRECTORY) and the files below them unknowable.
     */
    private Mono<Void> walkDirectoryTree(Closure closure, String path, Digest root) {
        if (root.isEmptyBlob(scope.digestFunction())) {
            closure.chargeMetadata(root);
            return Mono.empty();
        }
        return directoryTree(root)
                .doOnNext(read -> {
                    if (read.failure() != null) {
                        throw failure(read.failure(), "reading directory tree " + root + " of output directory " + path);
                    }
                    if (read.value() == null) {
                        return;
                    }
                    Map<Digest, Directory> found = read.value();
                    Deque<Located<Digest>> pending = new ArrayDeque<>();
                    pending.add(new Located<>(path, root));
                    while (!pending.isEmpty()) {
                        Located<Digest> node = pending.poll();
                        closure.chargeMetadata(node.value());
                        Directory directory = node.value().isEmptyBlob(scope.digestFunction())
                                ? Directory.getDefaultInstance()
                                : found.get(node.value());
                        if (directory == null) {
                            absent.add(node.value());
                            continue;
                        }
                        closure.countEntry();
                        List<Located<Digest>> children = new ArrayList<>();
                        addDirectoryEntries(closure, node, directory, children);
                        pending.addAll(children);
                    }
                })
                .then();
    }

    /** Every Directory the backend returns below {@code root}, by digest; read once per request. */
    private Mono<Read<Map<Digest, Directory>>> directoryTree(Digest root) {
        return directoryTrees.computeIfAbsent(root, r -> {
            AtomicLong bytes = new AtomicLong();
            return backend.getTree(scope, r)
                    .doOnNext(directory -> {
                        // stop a huge tree while it streams, not after it sits in memory
                        int size = directory.getSerializedSize();
                        if (bytes.addAndGet(size) > limits.maxTreeBytes()) {
                            throw new Undecidable("directory tree " + r + " is larger than vouch.limits.max-tree-bytes ("
                                    + limits.maxTreeBytes() + " bytes)");
                        }
                        budget.chargeTree(size, "directory tree " + r);
                    })
                    .collectMap(directory -> scope.digestFunction().digestOf(directory.toByteArray()),
                            directory -> directory)
                    .map(found -> new Read<Map<Digest, Directory>>(found, null))
                    .onErrorResume(e -> {
                        if (e instanceof BlobNotFoundException) {
                            absent.add(r);
                            return Mono.just(Read.nothing());
                        }
                        if (e instanceof CorruptBlobException) {
                            log.warn("{} (backend {})", e.getMessage(), backend.name());
                            corrupt.add(r);
                            return Mono.just(Read.nothing());
                        }
                        return Mono.just(new Read<>(null, e));
                    })
                    .doOnNext(read -> {
                        if (read.value() != null) {
                            present.addAll(read.value().keySet());
                        }
                    })
                    .cache();
        });
    }

    /** Reads one level of the directory graph at a time: concurrent reads, results used in order. */
    private Mono<Void> walkLevel(Closure closure, List<Located<Digest>> level) {
        if (level.isEmpty()) {
            return Mono.empty();
        }
        for (Located<Digest> node : level) {
            closure.chargeMetadata(node.value());
        }
        return Flux.fromIterable(level)
                .flatMapSequential(node -> readDirectory(node.value()), DIRECTORY_READ_CONCURRENCY)
                .collectList()
                .flatMap(reads -> {
                    List<Located<Digest>> next = new ArrayList<>();
                    for (int i = 0; i < level.size(); i++) {
                        Located<Digest> node = level.get(i);
                        Read<Directory> read = reads.get(i);
                        if (read.failure() != null) {
                            throw failure(read.failure(), "reading directory " + node.value() + " at " + node.path());
                        }
                        if (read.value() != null) {
                            closure.countEntry();
                            addDirectoryEntries(closure, node, read.value(), next);
                        }
                    }
                    return walkLevel(closure, next);
                });
    }

    private void addDirectoryEntries(Closure closure, Located<Digest> node, Directory directory,
            List<Located<Digest>> next) {
        String where = "directory " + node.value() + " at " + node.path();
        for (FileNode file : directory.getFilesList()) {
            String filePath = join(node.path(), file.getName());
            closure.add(checked(file.getDigest(), where + ", file " + filePath), BlobKind.OUTPUT_DIRECTORY_FILE,
                    filePath);
        }
        for (DirectoryNode child : directory.getDirectoriesList()) {
            String childPath = join(node.path(), child.getName());
            Digest childDigest = checked(child.getDigest(), where + ", directory " + childPath);
            closure.add(childDigest, BlobKind.DIRECTORY, childPath);
            next.add(new Located<>(childPath, childDigest));
        }
    }

    private Mono<Read<Directory>> readDirectory(Digest digest) {
        if (digest.isEmptyBlob(scope.digestFunction())) {
            return Mono.just(new Read<>(Directory.getDefaultInstance(), null));
        }
        return read(directories, digest, directoryReader);
    }

    private <T> Mono<Read<T>> read(Map<Digest, Mono<Read<T>>> cache, Digest digest, Function<Digest, Mono<T>> reader) {
        return cache.computeIfAbsent(digest, d -> Mono.defer(() -> {
                    // charged before the read, by the size the digest states (reads stop just past it)
                    budget.chargeTree(d.sizeBytes(), d.toString());
                    return reader.apply(d);
                })
                .map(value -> new Read<T>(value, null))
                .switchIfEmpty(Mono.fromSupplier(() -> new Read<>(null,
                        new IllegalStateException("backend " + backend.name() + " returned nothing for " + d))))
                .onErrorResume(e -> {
                    if (e instanceof BlobNotFoundException) {
                        absent.add(d);
                        return Mono.just(Read.<T>nothing());
                    }
                    if (e instanceof CorruptBlobException) {
                        log.warn("{} (backend {})", LogSafe.escape(e.getMessage()), backend.name());
                        corrupt.add(d);
                        return Mono.just(Read.<T>nothing());
                    }
                    return Mono.just(new Read<>(null, e));
                })
                .doOnNext(read -> {
                    if (read.value() != null) {
                        present.add(d);
                    }
                })
                .cache());
    }

    private static Undecidable failure(Throwable failure, String what) {
        if (failure instanceof Undecidable undecidable) {
            return undecidable;
        }
        if (failure instanceof MalformedBlobException) {
            return new Undecidable("malformed ActionResult: " + failure.getMessage());
        }
        return new Undecidable(what + " failed: " + describe(failure));
    }

    private Digest checked(build.bazel.remote.execution.v2.Digest proto, String where) {
        Digest digest;
        try {
            digest = Digest.fromProto(proto).checkFor(scope.digestFunction());
        } catch (InvalidDigestException e) {
            throw new Undecidable("malformed ActionResult: " + where + ": " + e.getMessage());
        }
        // size 0 names the empty blob only; counting another hash as present would vouch for nothing
        if (digest.sizeBytes() == 0 && !digest.isEmptyBlob(scope.digestFunction())) {
            throw new Undecidable("malformed ActionResult: " + where + ": digest " + digest
                    + " has size 0 but is not the empty blob (" + scope.digestFunction().emptyDigest() + ")");
        }
        return digest;
    }

    static String describe(Throwable failure) {
        return failure.getMessage() != null ? failure.getMessage() : failure.getClass().getSimpleName();
    }

    private static String join(String parent, String name) {
        return parent.isEmpty() ? name : parent + "/" + name;
    }

    private record Located<T>(String path, T value) {
    }

    private static byte[] verified(Scope scope, Digest digest, byte[] bytes) {
        Digest actual = scope.digestFunction().digestOf(bytes);
        if (!actual.equals(digest)) {
            throw new CorruptBlobException(digest, "its bytes hash to " + actual);
        }
        return bytes;
    }

    private static <T> T parse(Digest digest, byte[] bytes, CacheBackend.Parser<T> parser) {
        try {
            return parser.parse(bytes);
        } catch (InvalidProtocolBufferException e) {
            throw new MalformedBlobException(digest, e);
        }
    }

    /** A Tree with its children by digest, built once per read: every action that shares the Tree uses it. */
    private record IndexedTree(Directory root, Map<Digest, Directory> children) {
        static IndexedTree of(Tree tree, Scope scope) {
            // a Tree's children are addressed by the digest of their own serialization
            Map<Digest, Directory> children = new HashMap<>();
            for (Directory child : tree.getChildrenList()) {
                children.putIfAbsent(scope.digestFunction().digestOf(child.toByteArray()), child);
            }
            return new IndexedTree(tree.getRoot(), children);
        }
    }

    /** The outcome of one read: a value, nothing to walk (absent or corrupt: both null), or a failure. */
    private record Read<T>(T value, Throwable failure) {
        static <T> Read<T> nothing() {
            return new Read<>(null, null);
        }
    }
}
