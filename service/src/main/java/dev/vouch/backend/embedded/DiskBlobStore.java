package dev.vouch.backend.embedded;

import dev.vouch.backend.BlobNotFoundException;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.digest.DigestSet;
import dev.vouch.digest.InvalidDigestException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;

/**
 * The embedded store on disk, in the normative layout of SPEC "The embedded backend":
 * {@code <data>/cas/<hh>/<hash>} and {@code <data>/ac/<hh>/<hash>}. Files appear only complete
 * (written under {@code <data>/tmp/} and renamed), and the total size is kept under a bound by
 * evicting least recently used entries. All file I/O runs on the given bounded scheduler.
 */
public final class DiskBlobStore implements BlobStore {
    private static final Logger log = LoggerFactory.getLogger(DiskBlobStore.class);
    static final int CHUNK_SIZE = 64 * 1024;

    private final Path casDir;
    private final Path acDir;
    private final Path tmpDir;
    private final long maxSizeBytes;
    private final Scheduler io;
    private final LruIndex index = new LruIndex();

    /**
     * Opens (creating if needed) the store under {@code dataDir}. Blocks to scan existing files,
     * so call it at start-up, not on an event loop.
     */
    public DiskBlobStore(Path dataDir, long maxSizeBytes, Scheduler ioScheduler) {
        Path root = dataDir.toAbsolutePath().normalize();
        this.casDir = root.resolve("cas");
        this.acDir = root.resolve("ac");
        this.tmpDir = root.resolve("tmp");
        this.maxSizeBytes = maxSizeBytes;
        this.io = ioScheduler;
        try {
            Files.createDirectories(casDir);
            Files.createDirectories(acDir);
            Files.createDirectories(tmpDir);
            cleanTemporaryFiles();
            scan();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open the embedded store in " + root, e);
        }
    }

    /** The normative path of a CAS blob. */
    public Path casPath(String hash) {
        return casDir.resolve(hash.substring(0, 2)).resolve(hash);
    }

    /** The normative path of an Action Cache entry. */
    public Path acPath(String hash) {
        return acDir.resolve(hash.substring(0, 2)).resolve(hash);
    }

    Path tmpDir() {
        return tmpDir;
    }

    long totalBytes() {
        return index.totalBytes();
    }

    @Override
    public Mono<byte[]> getActionResult(Digest action) {
        if (!isSha256(action)) {
            return Mono.empty();
        }
        return Mono.fromCallable(() -> {
            Path file = acPath(action.hash());
            try {
                byte[] bytes = Files.readAllBytes(file);
                used(file, bytes.length);
                return bytes;
            } catch (NoSuchFileException e) {
                index.forget(file);
                return null;
            }
        }).subscribeOn(io);
    }

    @Override
    public Mono<Void> putActionResult(Digest action, byte[] serializedResult) {
        return Mono.<Void>fromRunnable(() -> {
            requireSha256(action);
            Path temp = null;
            try {
                temp = Files.createTempFile(tmpDir, "ac-", ".tmp");
                Files.write(temp, serializedResult);
                commit(temp, acPath(action.hash()), serializedResult.length);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot store action result " + action, e);
            } finally {
                deleteQuietly(temp);
            }
        }).subscribeOn(io);
    }

    @Override
    public Mono<Boolean> contains(Digest digest) {
        return Mono.fromCallable(() -> present(digest)).subscribeOn(io);
    }

    @Override
    public Mono<Long> blobSize(String hash) {
        if (!isSha256Hash(hash)) {
            return Mono.empty();
        }
        if (hash.equals(EMPTY_SHA256)) {
            return Mono.just(0L);
        }
        return Mono.fromCallable(() -> {
            Path file = casPath(hash);
            try {
                long size = Files.readAttributes(file, BasicFileAttributes.class).size();
                index.touch(file, size);
                return size;
            } catch (NoSuchFileException e) {
                index.forget(file);
                return null;
            }
        }).subscribeOn(io);
    }

    @Override
    public Mono<DigestSet> findMissing(DigestSet digests) {
        // One task for the whole set: a stat per digest is cheap, a task hop per digest is not
        return Mono.fromCallable(() -> digests.filter(d -> !present(d))).subscribeOn(io);
    }

    @Override
    public Flux<ByteBuffer> read(Digest digest, long offset, long limit) {
        if (digest.isEmptyBlob(DigestFunction.SHA256)) {
            return Flux.empty();
        }
        if (!isSha256(digest)) {
            return Flux.error(new BlobNotFoundException(digest));
        }
        Path file = casPath(digest.hash());
        return Flux.using(
                        () -> openForRead(file, digest),
                        channel -> chunks(channel, offset, limit),
                        DiskBlobStore::closeQuietly)
                .subscribeOn(io)
                // a cancel may come from a transport thread; closing the file belongs on the I/O scheduler
                .cancelOn(io);
    }

    @Override
    public Mono<Void> write(Digest digest, Flux<ByteBuffer> data) {
        return Mono.defer(() -> {
            requireSha256(digest);
            if (digest.isEmptyBlob(DigestFunction.SHA256)) {
                DigestCheck check = new DigestCheck(digest);
                return data.doOnNext(check::update).then(Mono.fromRunnable(check::finish));
            }
            Path target = casPath(digest.hash());
            return Mono.fromCallable(() -> present(digest))
                    .subscribeOn(io)
                    .flatMap(exists -> exists ? data.then() : writeNew(digest, target, data));
        });
    }

    private Mono<Void> writeNew(Digest digest, Path target, Flux<ByteBuffer> data) {
        return Mono.usingWhen(
                Mono.fromCallable(() -> new TempFile(Files.createTempFile(tmpDir, "cas-", ".tmp"), digest)).subscribeOn(io),
                temp -> data.publishOn(io, 32)
                        .doOnNext(temp::append)
                        .then(Mono.fromRunnable(() -> {
                            temp.finish();
                            commit(temp.path, target, digest.sizeBytes());
                        }).subscribeOn(io))
                        .then(),
                // after a successful commit the temp file is gone and discard only closes the channel
                temp -> Mono.fromRunnable(temp::discard).subscribeOn(io),
                (temp, error) -> Mono.fromRunnable(() -> {
                    temp.discard();
                    log.warn("upload of blob {} failed, nothing stored: {}", digest, error.toString());
                }).subscribeOn(io),
                temp -> Mono.fromRunnable(temp::discard).subscribeOn(io));
    }

    private void commit(Path temp, Path target, long size) {
        try {
            Files.createDirectories(target.getParent());
            try {
                Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                // tmp/ lives inside the data directory, so this only happens on exotic filesystems
                throw new IOException("the data directory's filesystem cannot rename atomically", e);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot store " + target, e);
        }
        index.record(target, size);
        evict(target);
    }

    private void evict(Path keep) {
        for (Path victim : index.evictAbove(maxSizeBytes, keep)) {
            try {
                Files.deleteIfExists(victim);
                log.debug("evicted {}", victim);
            } catch (IOException e) {
                log.warn("cannot evict {}: {}", victim, e.toString());
            }
        }
    }

    /** Existence straight from the filesystem: an operator may delete files at any time. */
    private boolean present(Digest digest) {
        if (digest.isEmptyBlob(DigestFunction.SHA256)) {
            return true;
        }
        if (!isSha256(digest)) {
            return false;
        }
        Path file = casPath(digest.hash());
        try {
            long size = Files.readAttributes(file, BasicFileAttributes.class).size();
            // a file of another size is not this digest's blob (e.g. truncated by hand)
            if (size != digest.sizeBytes()) {
                return false;
            }
            index.touch(file, size);
            return true;
        } catch (NoSuchFileException e) {
            index.forget(file);
            return false;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot check " + file, e);
        }
    }

    private FileChannel openForRead(Path file, Digest digest) throws IOException {
        FileChannel channel;
        try {
            channel = FileChannel.open(file, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            index.forget(file);
            throw new BlobNotFoundException(digest);
        }
        used(file, channel.size());
        return channel;
    }

    /** Records a read in the index and in the file's mtime, so LRU order survives a restart. */
    private void used(Path file, long size) {
        index.touch(file, size);
        try {
            Files.setLastModifiedTime(file, FileTime.fromMillis(System.currentTimeMillis()));
        } catch (IOException e) {
            log.debug("cannot touch {}: {}", file, e.toString());
        }
    }

    private static Flux<ByteBuffer> chunks(FileChannel channel, long offset, long limit) {
        long[] position = {offset};
        long[] remaining = {limit > 0 ? limit : Long.MAX_VALUE};
        return Flux.generate(sink -> {
            try {
                int want = (int) Math.min(CHUNK_SIZE, remaining[0]);
                ByteBuffer chunk = want == 0 ? null : ByteBuffer.allocate(want);
                while (chunk != null && chunk.hasRemaining()) {
                    int n = channel.read(chunk, position[0] + chunk.position());
                    if (n < 0) {
                        break;
                    }
                }
                if (chunk == null || chunk.position() == 0) {
                    sink.complete();
                    return;
                }
                chunk.flip();
                position[0] += chunk.remaining();
                remaining[0] -= chunk.remaining();
                sink.next(chunk);
            } catch (IOException e) {
                sink.error(e);
            }
        });
    }

    private void cleanTemporaryFiles() throws IOException {
        try (DirectoryStream<Path> leftovers = Files.newDirectoryStream(tmpDir)) {
            for (Path leftover : leftovers) {
                log.info("removing an unfinished write left by a previous run: {}", leftover);
                Files.deleteIfExists(leftover);
            }
        }
    }

    /** Rebuilds the LRU index from the files on disk, oldest modification first, then enforces the bound. */
    private void scan() throws IOException {
        record Found(Path file, long size, FileTime modified) {}
        List<Found> found = new ArrayList<>();
        for (Path area : List.of(casDir, acDir)) {
            try (Stream<Path> files = Files.walk(area, 2)) {
                for (Path file : (Iterable<Path>) files::iterator) {
                    BasicFileAttributes attributes = Files.readAttributes(file, BasicFileAttributes.class);
                    if (attributes.isRegularFile() && isEntryPath(area, file)) {
                        found.add(new Found(file, attributes.size(), attributes.lastModifiedTime()));
                    }
                }
            }
        }
        found.sort(Comparator.comparing(Found::modified));
        found.forEach(f -> index.record(f.file(), f.size()));
        evict(null);
        log.info("embedded store: {} entries, {} bytes (bound {} bytes)", index.size(), index.totalBytes(), maxSizeBytes);
    }

    private static boolean isEntryPath(Path area, Path file) {
        Path relative = area.relativize(file);
        if (relative.getNameCount() != 2) {
            return false;
        }
        String hash = relative.getName(1).toString();
        return hash.length() == DigestFunction.SHA256.hexLength()
                && hash.startsWith(relative.getName(0).toString())
                && hash.chars().allMatch(c -> (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
    }

    static final String EMPTY_SHA256 = DigestFunction.SHA256.digestOf(new byte[0]).hash();

    static boolean isSha256Hash(String hash) {
        return hash.length() == DigestFunction.SHA256.hexLength()
                && hash.chars().allMatch(c -> (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
    }

    static boolean isSha256(Digest digest) {
        return digest.hash().length() == DigestFunction.SHA256.hexLength();
    }

    private static void requireSha256(Digest digest) {
        digest.checkFor(DigestFunction.SHA256);
    }

    private static void closeQuietly(FileChannel channel) {
        try {
            channel.close();
        } catch (IOException e) {
            log.debug("closing a blob file failed: {}", e.toString());
        }
    }

    private static void deleteQuietly(Path file) {
        if (file == null) {
            return;
        }
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            log.warn("cannot delete temporary file {}: {}", file, e.toString());
        }
    }

    /** An upload in progress: a temporary file being written and hashed. */
    private static final class TempFile {
        private final Path path;
        private final FileChannel channel;
        private final DigestCheck check;

        TempFile(Path path, Digest digest) throws IOException {
            this.path = path;
            this.channel = FileChannel.open(path, StandardOpenOption.WRITE);
            this.check = new DigestCheck(digest);
        }

        void append(ByteBuffer chunk) {
            check.update(chunk);
            ByteBuffer source = chunk.duplicate();
            try {
                while (source.hasRemaining()) {
                    channel.write(source);
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write " + path, e);
            }
        }

        void finish() {
            check.finish();
            try {
                channel.close();
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write " + path, e);
            }
        }

        void discard() {
            closeQuietly(channel);
            deleteQuietly(path);
        }
    }
}
