package dev.vouch.backend.embedded;

import dev.vouch.backend.BlobNotFoundException;
import dev.vouch.backend.StoreFullException;
import dev.vouch.backend.UploadStalledException;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.digest.DigestSet;
import dev.vouch.digest.InvalidDigestException;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;

/**
 * The embedded store on disk, in the normative layout of SPEC "The embedded backend":
 * {@code <data>/cas/<hh>/<hash>} and {@code <data>/ac/<hh>/<hash>}. Files appear only complete
 * (written under {@code <data>/tmp/} and renamed). The total size, uploads in progress included,
 * is kept under a bound by evicting least recently used entries; {@link StoreIndex} says how that
 * stays consistent with the files under concurrency. All file I/O runs on the given bounded
 * scheduler.
 */
public final class DiskBlobStore implements BlobStore {
    private static final Logger log = LoggerFactory.getLogger(DiskBlobStore.class);
    static final int CHUNK_SIZE = 64 * 1024;

    private final Path casDir;
    private final Path acDir;
    private final Path tmpDir;
    private final Scheduler io;
    private final Duration uploadIdleTimeout;
    private final StoreIndex index;
    /** {@code <data>/cas/} as a string, to which a check appends {@code hh/hash}. */
    private final String casPrefix;
    private final LongAdder bytesRead = new LongAdder();

    /** A store with the default upload idle timeout; see the main constructor. */
    public DiskBlobStore(Path dataDir, long maxSizeBytes, Scheduler ioScheduler) {
        this(dataDir, maxSizeBytes, VouchProperties.Embedded.defaults().uploadIdleTimeout(), ioScheduler);
    }

    /**
     * Opens (creating if needed) the store under {@code dataDir}. Blocks to scan existing files,
     * so call it at start-up, not on an event loop. An upload that sends nothing for
     * {@code uploadIdleTimeout} fails with {@link UploadStalledException} and leaves nothing behind.
     */
    public DiskBlobStore(Path dataDir, long maxSizeBytes, Duration uploadIdleTimeout, Scheduler ioScheduler) {
        Path root = dataDir.toAbsolutePath().normalize();
        this.casDir = root.resolve("cas");
        this.acDir = root.resolve("ac");
        this.tmpDir = root.resolve("tmp");
        this.io = ioScheduler;
        this.uploadIdleTimeout = uploadIdleTimeout;
        this.index = new StoreIndex(maxSizeBytes, this::pathOf);
        this.casPrefix = casDir + File.separator;
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

    private Path pathOf(StoreIndex.Key key) {
        return key.area() == StoreIndex.Area.CAS ? casPath(key.hash()) : acPath(key.hash());
    }

    Path tmpDir() {
        return tmpDir;
    }

    /** Bytes stored plus bytes of uploads in progress: what the bound limits. */
    long totalBytes() {
        return index.totalBytes();
    }

    /** Bytes read from stored files (CAS blobs and AC entries) since the store was opened. */
    public long bytesRead() {
        return bytesRead.sum();
    }

    /** The index's view: each indexed file and its size. */
    Map<Path, Long> indexedSizes() {
        return index.sizes();
    }

    @Override
    public Mono<byte[]> getActionResult(Digest action) {
        if (!isSha256(action)) {
            return Mono.empty();
        }
        return Mono.fromCallable(() -> {
            StoreIndex.Key key = StoreIndex.Key.ac(action.hash());
            Path file = acPath(action.hash());
            try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
                long size = channel.size();
                // the length decides before a byte is read: an entry is parsed whole, so it is read whole
                if (size > MAX_ACTION_RESULT_BYTES) {
                    index.observed(key, size);
                    throw new DamagedEntryException("Action Cache entry " + action.hash() + " is " + size
                            + " bytes, more than the " + MAX_ACTION_RESULT_BYTES + " an ActionResult may have; not reading it");
                }
                byte[] bytes = readFully(channel, file, (int) size);
                used(key, file, size);
                return bytes;
            } catch (NoSuchFileException e) {
                index.absent(key);
                return null;
            }
        }).subscribeOn(io);
    }

    @Override
    public Mono<Long> actionResultSize(Digest action) {
        if (!isSha256(action)) {
            return Mono.empty();
        }
        return Mono.fromCallable(() -> sizeOf(StoreIndex.Key.ac(action.hash()))).subscribeOn(io);
    }

    @Override
    public Mono<Void> putActionResult(Digest action, byte[] serializedResult) {
        return Mono.<Void>fromRunnable(() -> {
            requireSha256(action);
            String what = "Action Cache entry " + action;
            index.requireFits(action, what, serializedResult.length);
            StoreIndex.Reservation reservation = index.reservation(action, what);
            Path temp = null;
            try {
                reservation.add(serializedResult.length);
                temp = Files.createTempFile(tmpDir, "ac-", ".tmp");
                Files.write(temp, serializedResult);
                index.commit(temp, StoreIndex.Key.ac(action.hash()), serializedResult.length, reservation);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot store action result " + action, e);
            } finally {
                reservation.close();
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
        return Mono.fromCallable(() -> sizeOf(StoreIndex.Key.cas(hash))).subscribeOn(io);
    }

    /** A stored file's length as of now, from its attributes; null when it does not exist. */
    private Long sizeOf(StoreIndex.Key key) throws IOException {
        try {
            long size = Files.readAttributes(pathOf(key), BasicFileAttributes.class).size();
            index.observed(key, size);
            return size;
        } catch (NoSuchFileException e) {
            index.absent(key);
            return null;
        }
    }

    @Override
    public Mono<DigestSet> findMissing(DigestSet digests) {
        // One task for the whole set: a stat per digest is cheap, a task hop per digest is not
        return Mono.fromCallable(() -> digests.filter(d -> !present(d))).subscribeOn(io);
    }

    @Override
    public Flux<ByteBuffer> read(Digest digest, long offset, long limit) {
        if (BlobStore.isEmptyBlob(digest)) {
            return Flux.empty();
        }
        // no stored file has length 0 under another hash's name: a write of it fails its hash check
        if (!isSha256(digest) || digest.sizeBytes() == 0) {
            return Flux.error(new BlobNotFoundException(digest));
        }
        Path file = casPath(digest.hash());
        return Flux.using(
                        () -> openForRead(file, digest),
                        channel -> chunks(channel, file, offset, limit, digest.sizeBytes()),
                        DiskBlobStore::closeQuietly)
                .subscribeOn(io)
                // a cancel may come from a transport thread; closing the file belongs on the I/O scheduler
                .cancelOn(io);
    }

    @Override
    public Mono<Void> write(Digest digest, Flux<ByteBuffer> data) {
        return Mono.defer(() -> {
            requireSha256(digest);
            // a client that stops sending must not hold a file, a descriptor and part of the bound forever
            Flux<ByteBuffer> upload = data.timeout(uploadIdleTimeout, Flux.defer(() -> Flux.error(new UploadStalledException(digest,
                    "upload of blob " + digest + " sent nothing for " + forPeople(uploadIdleTimeout)
                            + " (vouch.embedded.upload-idle-timeout); aborted, nothing stored"))));
            if (digest.sizeBytes() == 0) {
                // the empty blob, or a size-0 digest of another hash, which the check refuses
                DigestCheck check = new DigestCheck(digest);
                return upload.doOnNext(check::update).then(Mono.fromRunnable(check::finish));
            }
            return Mono.fromCallable(() -> present(digest))
                    .subscribeOn(io)
                    .flatMap(exists -> exists ? upload.then() : writeNew(digest, upload));
        });
    }

    private Mono<Void> writeNew(Digest digest, Flux<ByteBuffer> data) {
        String what = "blob " + digest;
        index.requireFits(digest, what, digest.sizeBytes());
        return Mono.usingWhen(
                Mono.fromCallable(() -> new TempFile(Files.createTempFile(tmpDir, "cas-", ".tmp"), digest,
                        index.reservation(digest, what))).subscribeOn(io),
                temp -> data.publishOn(io, 32)
                        .doOnNext(temp::append)
                        .then(Mono.fromRunnable(() -> {
                            temp.finish();
                            index.commit(temp.path, StoreIndex.Key.cas(digest.hash()), digest.sizeBytes(), temp.reservation);
                        }).subscribeOn(io))
                        .then(),
                // after a successful commit the temp file is gone and discard only closes the channel
                temp -> Mono.fromRunnable(temp::discard).subscribeOn(io),
                (temp, error) -> Mono.fromRunnable(() -> {
                    temp.discard();
                    if (error instanceof UploadStalledException || error instanceof StoreFullException) {
                        // the client's doing or a full store: it gets the reason, the log gets one line
                        log.info("{}", error.getMessage());
                    } else {
                        log.warn("upload of blob {} failed, nothing stored: {}", digest, error.toString());
                    }
                }).subscribeOn(io),
                temp -> Mono.fromRunnable(temp::discard).subscribeOn(io));
    }

    /** Existence straight from the filesystem: an operator may delete files at any time. */
    private boolean present(Digest digest) {
        if (BlobStore.isEmptyBlob(digest)) {
            return true;
        }
        if (!isSha256(digest) || digest.sizeBytes() == 0) {
            return false;
        }
        long size = casFileSize(digest.hash());
        if (size < 0) {
            index.absent(StoreIndex.Key.cas(digest.hash()));
            return false;
        }
        index.observed(StoreIndex.Area.CAS, digest.hash(), size);
        // a file of another size is not this digest's blob (e.g. truncated by hand)
        return size == digest.sizeBytes();
    }

    /**
     * The length of the CAS file for {@code hash}, -1 when there is none. The check path of every
     * existence check: {@link File#length()} costs one stat and no {@link Path}, no attribute
     * objects and no exception for a missing file (a stat is most of a check's CPU; building a
     * Path and an exception per missing blob came next). It answers 0 for a file of length 0, a
     * missing file and an I/O error alike; those rare cases are told apart by path.
     */
    private long casFileSize(String hash) {
        long size = new File(casPrefix + hash.substring(0, 2) + File.separatorChar + hash).length();
        if (size > 0) {
            return size;
        }
        Path file = casPath(hash);
        try {
            return Files.readAttributes(file, BasicFileAttributes.class).size();
        } catch (NoSuchFileException e) {
            return -1;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot check " + file, e);
        }
    }

    /**
     * The blob's file, open, after checking its length is the digest's: a blob stored under this
     * hash with another length is absent for this digest, and not a byte of it is read.
     */
    private FileChannel openForRead(Path file, Digest digest) throws IOException {
        StoreIndex.Key key = StoreIndex.Key.cas(digest.hash());
        FileChannel channel;
        try {
            channel = FileChannel.open(file, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            index.absent(key);
            throw new BlobNotFoundException(digest);
        }
        long size;
        try {
            size = channel.size();
        } catch (IOException e) {
            closeQuietly(channel);
            throw e;
        }
        if (size != digest.sizeBytes()) {
            closeQuietly(channel);
            index.observed(key, size);
            throw new BlobNotFoundException(digest);
        }
        used(key, file, size);
        return channel;
    }

    /** Records a read in the index and (at most once a minute per file) in its mtime, so LRU order survives a restart. */
    private void used(StoreIndex.Key key, Path file, long size) {
        index.observed(key, size);
        if (!index.touchDue(key)) {
            return;
        }
        try {
            Files.setLastModifiedTime(file, FileTime.fromMillis(System.currentTimeMillis()));
        } catch (IOException e) {
            log.debug("cannot touch {}: {}", file, e.toString());
        }
    }

    private byte[] readFully(FileChannel channel, Path file, int size) throws IOException {
        ByteBuffer bytes = ByteBuffer.allocate(size);
        while (bytes.hasRemaining()) {
            if (channel.read(bytes) < 0) {
                throw new IOException(file + " became shorter than the " + size + " bytes it had when opened");
            }
        }
        bytesRead.add(size);
        return bytes.array();
    }

    /**
     * The file's bytes from {@code offset}, at most {@code limit} (0: all), never past {@code size},
     * the length checked when it was opened: what is read is bounded by what was verified.
     */
    private Flux<ByteBuffer> chunks(FileChannel channel, Path file, long offset, long limit, long size) {
        long end = limit > 0 ? Math.min(size, offset + limit) : size;
        long[] position = {offset};
        return Flux.generate(sink -> {
            try {
                int want = (int) Math.min(CHUNK_SIZE, end - position[0]);
                if (want <= 0) {
                    sink.complete();
                    return;
                }
                ByteBuffer chunk = ByteBuffer.allocate(want);
                while (chunk.hasRemaining()) {
                    if (channel.read(chunk, position[0] + chunk.position()) < 0) {
                        throw new IOException(file + " became shorter than the " + size + " bytes it had when opened");
                    }
                }
                chunk.flip();
                position[0] += want;
                bytesRead.add(want);
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
        record Found(StoreIndex.Key key, long size, FileTime modified) {}
        List<Found> found = new ArrayList<>();
        for (Path area : List.of(casDir, acDir)) {
            try (Stream<Path> files = Files.walk(area, 2)) {
                for (Path file : (Iterable<Path>) files::iterator) {
                    BasicFileAttributes attributes = Files.readAttributes(file, BasicFileAttributes.class);
                    if (attributes.isRegularFile() && isEntryPath(area, file)) {
                        String hash = file.getFileName().toString();
                        StoreIndex.Key key = area.equals(casDir) ? StoreIndex.Key.cas(hash) : StoreIndex.Key.ac(hash);
                        found.add(new Found(key, attributes.size(), attributes.lastModifiedTime()));
                    }
                }
            }
        }
        found.sort(Comparator.comparing(Found::modified));
        // stamps below any taken from now on, in the order of the files' modification times
        long stamp = System.nanoTime() - found.size();
        for (Found f : found) {
            index.learn(f.key(), f.size(), stamp++);
        }
        index.evictToFit();
        log.info("embedded store: {} entries, {} bytes (bound {} bytes)", index.size(), index.totalBytes(), index.bound());
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

    private static String forPeople(Duration duration) {
        long millis = duration.toMillis();
        return millis % 1000 == 0 ? millis / 1000 + " s" : millis + " ms";
    }

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
        private final StoreIndex.Reservation reservation;

        TempFile(Path path, Digest digest, StoreIndex.Reservation reservation) throws IOException {
            this.path = path;
            this.channel = FileChannel.open(path, StandardOpenOption.WRITE);
            this.check = new DigestCheck(digest);
            this.reservation = reservation;
        }

        void append(ByteBuffer chunk) {
            check.update(chunk);
            // room first: the bytes count toward the bound before they reach the disk
            reservation.add(chunk.remaining());
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
            reservation.close();
        }
    }
}
