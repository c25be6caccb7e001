package dev.vouch.backend.embedded;

import dev.vouch.backend.StoreFullException;
import dev.vouch.digest.Digest;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BiConsumer;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The files of the embedded store, their sizes and when each was last used, plus the bytes of
 * uploads in progress; keeps all of it under the size bound by evicting least recently used
 * files. The filesystem stays the truth for existence (an operator may delete a file at any
 * time); this index exists to pick eviction victims and to keep the bound.
 *
 * <p><b>Why it stays equal to the disk.</b> Every change of one file's entry that depends on the
 * file runs inside {@link ConcurrentHashMap#compute} on that file's key, and re-reads the
 * filesystem there: a commit renames the temporary file into place and records it, an eviction
 * deletes the file and removes it, and a check that found the file missing (or of a size the
 * index does not have) re-stats it before forgetting or relearning it. {@code compute} holds the
 * key's bin lock for the duration, so these cannot interleave for one key: a check can no longer
 * forget the entry a concurrent commit just recorded (it re-stats after the commit and finds the
 * file), and eviction can no longer delete a file a concurrent commit just renamed into place
 * (the commit waits, then records a fresh entry over a deleted one). A check that finds the file
 * and its entry only stamps the entry's recency, without a lock: if eviction removed that entry
 * meanwhile, the stamp lands on an object no longer in the map and revives nothing.
 *
 * <p><b>Why the check path takes no global lock.</b> The hot path (file present, entry known, same
 * size) is one map read and one volatile write of a {@link System#nanoTime()} stamp: no reordering
 * of a shared list and no shared counter, so checks from many threads touch only the entries they
 * check. The I/O done inside {@code compute} (stat, rename, delete) holds one bin, not the map.
 *
 * <p><b>How victims are chosen.</b> Only a writer that takes the total over the bound evicts, under
 * an eviction lock that checks never take. It works from a queue of entries sorted by their stamp
 * in one snapshot of the map, refilled only when it runs dry, so the sort is paid once per about
 * as many evictions as there are entries. A queued entry whose stamp changed since the snapshot
 * was used since, and is skipped (it is newer than every unchanged one, so this is exact LRU among
 * what the snapshot saw; entries added after it are newer still). If the queue runs dry, one fresh
 * snapshot is taken and evicted in order without that skip, so eviction always makes progress.
 *
 * <p><b>Uploads count.</b> {@link #total} holds stored bytes and the bytes of uploads in progress
 * together, in one counter, so that a commit moves bytes from one kind to the other without the
 * total ever dipping (which would let a concurrent reservation skip an eviction it needed).
 */
final class StoreIndex {
    private static final Logger log = LoggerFactory.getLogger(StoreIndex.class);

    /** The two areas of the store: SPEC's {@code <data>/cas} and {@code <data>/ac}. */
    enum Area { CAS, AC }

    /**
     * A stored file by area and hash, as callers name it; the maps are keyed by the digest's own
     * hash string, whose hash code the string caches, so a check neither builds a {@link Path} nor
     * hashes one.
     */
    record Key(Area area, String hash) {
        static Key cas(String hash) {
            return new Key(Area.CAS, hash);
        }

        static Key ac(String hash) {
            return new Key(Area.AC, hash);
        }
    }

    /** One stored file: its size as recorded, and a {@code nanoTime} stamp of its last use. */
    static final class Entry {
        final long size;
        volatile long lastUsed;
        /** When the file's mtime was last set to record a use ({@code nanoTime}); see {@link #touchDue}. */
        volatile long touched;

        Entry(long size, long lastUsed) {
            this.size = size;
            this.lastUsed = lastUsed;
            this.touched = lastUsed;
        }
    }

    private record Candidate(Key key, Entry entry, long lastUsed) {
    }

    /** How often a file read again gets its mtime set: LRU order across restarts needs no finer grain. */
    static final long TOUCH_INTERVAL_NANOS = 60_000_000_000L;

    /**
     * The entries of each area by hash: a check looks its digest's own hash string up, so it
     * allocates nothing and follows one reference fewer than a composite key would make it.
     */
    private final ConcurrentHashMap<String, Entry> cas = new ConcurrentHashMap<>(1024);
    private final ConcurrentHashMap<String, Entry> ac = new ConcurrentHashMap<>(1024);
    private final Function<Key, Path> files;
    private final long bound;
    /** Stored bytes plus bytes of uploads in progress. */
    private final AtomicLong total = new AtomicLong();
    /** Bytes of uploads in progress, a part of {@link #total}. */
    private final AtomicLong reserved = new AtomicLong();
    private final ReentrantLock evicting = new ReentrantLock();
    /** Eviction order from the last snapshot; only touched under {@link #evicting}. */
    private final ArrayDeque<Candidate> eldestFirst = new ArrayDeque<>();

    /** An index of at most {@code bound} bytes; {@code files} gives each key's path, for the slow paths that re-read the disk. */
    StoreIndex(long bound, Function<Key, Path> files) {
        this.bound = bound;
        this.files = files;
    }

    long bound() {
        return bound;
    }

    long totalBytes() {
        return total.get();
    }

    long reservedBytes() {
        return reserved.get();
    }

    int size() {
        return cas.size() + ac.size();
    }

    /** Each indexed file and its recorded size. */
    Map<Path, Long> sizes() {
        Map<Path, Long> sizes = new HashMap<>();
        forEach((key, entry) -> sizes.put(files.apply(key), entry.size));
        return sizes;
    }

    /** Learns a file found at start-up; {@code lastUsed} orders it among the others found. */
    void learn(Key key, long size, long lastUsed) {
        Entry learned = new Entry(size, lastUsed);
        // its mtime is as old as its last use before the restart: the first read sets it
        learned.touched = lastUsed - TOUCH_INTERVAL_NANOS;
        Entry previous = map(key).put(key.hash(), learned);
        total.addAndGet(size - (previous == null ? 0 : previous.size));
    }

    /**
     * {@code file} was just seen on disk with {@code size} bytes: marks it used, and learns it (or
     * its new size) if it was put there behind the store's back.
     */
    void observed(Key key, long size) {
        observed(key.area(), key.hash(), size);
    }

    /** {@link #observed(Key, long)} by area and hash: the check path's form, which allocates nothing when the entry is known. */
    void observed(Area area, String hash, long size) {
        ConcurrentHashMap<String, Entry> map = map(area);
        Entry entry = map.get(hash);
        if (entry != null && entry.size == size) {
            entry.lastUsed = System.nanoTime();
            return;
        }
        // unknown or resized: what to record depends on the file as of now, under the key's lock
        Key key = new Key(area, hash);
        map.compute(hash, (h, current) -> reconcile(key, current));
    }

    /**
     * Whether a file just read should get its mtime set to now, so that LRU order survives a
     * restart: at most once per {@link #TOUCH_INTERVAL_NANOS} per file, which saves a metadata
     * write (and its journal entry) per Action Cache read of a busy entry.
     */
    boolean touchDue(Key key) {
        Entry entry = map(key).get(key.hash());
        long now = System.nanoTime();
        if (entry != null && now - entry.touched < TOUCH_INTERVAL_NANOS) {
            return false;
        }
        if (entry != null) {
            entry.touched = now;
        }
        return true;
    }

    /**
     * {@code key}'s file was just found missing: forgets it, unless a commit put it back meanwhile.
     * Always through {@code computeIfPresent}, never after a plain {@code get}: while a commit of a
     * new key is inside {@code compute} (its file renamed into place, its entry not yet visible) a
     * {@code get} answers null, and a file deleted in that window would leave an entry for no file
     * behind. {@code computeIfPresent} waits for that commit's bin lock and then sees its entry.
     * A missing key in an empty bin costs it no lock.
     */
    void absent(Key key) {
        map(key).computeIfPresent(key.hash(), (hash, current) -> reconcile(key, current));
    }

    /** The entry for {@code key} as the disk has it now; runs inside {@code compute} on its key. */
    private Entry reconcile(Key key, Entry current) {
        long size = sizeOnDisk(files.apply(key));
        if (size < 0) {
            if (current != null) {
                total.addAndGet(-current.size);
            }
            return null;
        }
        if (current != null && current.size == size) {
            current.lastUsed = System.nanoTime();
            return current;
        }
        total.addAndGet(size - (current == null ? 0 : current.size));
        return new Entry(size, System.nanoTime());
    }

    /**
     * Renames {@code temp} to {@code key}'s file and records it, turning the bytes {@code upload}
     * held into a stored entry; atomic with respect to eviction and checks of {@code key}.
     */
    void commit(Path temp, Key key, long size, Reservation upload) {
        Path target = files.apply(key);
        try {
            Files.createDirectories(target.getParent());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot store " + target, e);
        }
        map(key).compute(key.hash(), (hash, current) -> {
            try {
                Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                // tmp/ lives inside the data directory, so this only happens on exotic filesystems
                throw new UncheckedIOException(new IOException("the data directory's filesystem cannot rename atomically", e));
            } catch (IOException e) {
                throw new UncheckedIOException("cannot store " + target, e);
            }
            long held = upload.transfer();
            reserved.addAndGet(-held);
            // one update: the replaced entry leaves, the upload's bytes stay counted as stored
            total.addAndGet(size - held - (current == null ? 0 : current.size));
            return new Entry(size, System.nanoTime());
        });
    }

    /** A new upload's share of the bound, empty until bytes are added. {@code what} names it in errors. */
    Reservation reservation(Digest digest, String what) {
        return new Reservation(digest, what);
    }

    /** Fails with {@link StoreFullException} when {@code size} bytes could never fit, whatever was evicted. */
    void requireFits(Digest digest, String what, long size) {
        if (size > bound) {
            throw new StoreFullException(digest, what + " (" + size + " bytes) is larger than the embedded store's bound,"
                    + " vouch.embedded.max-size-bytes (" + bound + " bytes); nothing was stored");
        }
    }

    /** Evicts least recently used files until the total fits the bound; false if it cannot. */
    boolean evictToFit() {
        if (total.get() <= bound) {
            return true;
        }
        evicting.lock();
        try {
            boolean refreshed = false;
            while (total.get() > bound) {
                Candidate candidate = eldestFirst.poll();
                if (candidate == null) {
                    if (refreshed) {
                        return false;
                    }
                    refill();
                    refreshed = true;
                    continue;
                }
                boolean fresh = refreshed;
                map(candidate.key()).computeIfPresent(candidate.key().hash(), (hash, current) -> evict(candidate, current, fresh));
            }
            return true;
        } finally {
            evicting.unlock();
        }
    }

    /** Deletes a victim and drops its entry, unless it was replaced or (from an old snapshot) used since. */
    private Entry evict(Candidate candidate, Entry current, boolean fresh) {
        if (current != candidate.entry() || !fresh && current.lastUsed != candidate.lastUsed()) {
            return current;
        }
        Path file = files.apply(candidate.key());
        try {
            Files.deleteIfExists(file);
            log.debug("evicted {}", file);
        } catch (IOException e) {
            // still on disk, so still indexed; the next snapshot will try it again
            log.warn("cannot evict {}: {}", file, e.toString());
            return current;
        }
        total.addAndGet(-current.size);
        return null;
    }

    private void refill() {
        List<Candidate> all = new ArrayList<>(size());
        forEach((key, entry) -> all.add(new Candidate(key, entry, entry.lastUsed)));
        all.sort(Comparator.comparingLong(Candidate::lastUsed));
        eldestFirst.clear();
        eldestFirst.addAll(all);
    }

    private ConcurrentHashMap<String, Entry> map(Key key) {
        return map(key.area());
    }

    private ConcurrentHashMap<String, Entry> map(Area area) {
        return area == Area.CAS ? cas : ac;
    }

    private void forEach(BiConsumer<Key, Entry> action) {
        cas.forEach((hash, entry) -> action.accept(Key.cas(hash), entry));
        ac.forEach((hash, entry) -> action.accept(Key.ac(hash), entry));
    }

    /** The file's size now; -1 when it does not exist. */
    private static long sizeOnDisk(Path file) {
        try {
            return Files.readAttributes(file, BasicFileAttributes.class).size();
        } catch (NoSuchFileException e) {
            return -1;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot check " + file, e);
        }
    }

    /**
     * The bytes one upload has written to its temporary file so far, counted in the total. Bytes
     * are added before they are written, evicting to make room; closing gives back what is held.
     */
    final class Reservation {
        private final Digest digest;
        private final String what;
        private long held;
        private boolean closed;

        private Reservation(Digest digest, String what) {
            this.digest = digest;
            this.what = what;
        }

        /** Takes {@code bytes} more of the bound, or fails with {@link StoreFullException}, holding nothing more. */
        void add(long bytes) {
            synchronized (this) {
                if (closed) {
                    throw new IllegalStateException("upload of " + what + " already ended");
                }
                held += bytes;
                reserved.addAndGet(bytes);
                total.addAndGet(bytes);
            }
            // never evict holding this monitor: commit takes it inside a map lock
            if (!evictToFit()) {
                synchronized (this) {
                    if (!closed) {
                        held -= bytes;
                        reserved.addAndGet(-bytes);
                        total.addAndGet(-bytes);
                    }
                }
                throw new StoreFullException(digest, "the embedded store has no room for " + bytes + " more bytes of " + what
                        + ": its bound, vouch.embedded.max-size-bytes (" + bound + " bytes), is taken by "
                        + (total.get() - reserved.get()) + " bytes it could not evict and " + reserved.get()
                        + " bytes of uploads in progress; nothing was stored");
            }
        }

        /** Ends the reservation and hands its bytes to the caller, who accounts for them. */
        synchronized long transfer() {
            closed = true;
            long bytes = held;
            held = 0;
            return bytes;
        }

        /** Ends the reservation, giving back what it held; does nothing after a commit. */
        synchronized void close() {
            if (!closed) {
                closed = true;
                reserved.addAndGet(-held);
                total.addAndGet(-held);
                held = 0;
            }
        }
    }
}
