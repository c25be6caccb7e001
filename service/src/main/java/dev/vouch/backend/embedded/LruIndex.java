package dev.vouch.backend.embedded;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Sizes of the stored files in least-recently-used order. Used only to pick eviction victims and
 * keep the size bound: existence is always answered by the filesystem, never by this index.
 */
final class LruIndex {
    private final LinkedHashMap<Path, Long> entries = new LinkedHashMap<>(1024, 0.75f, true);
    private long totalBytes;

    synchronized void record(Path file, long size) {
        Long previous = entries.put(file, size);
        totalBytes += size - (previous == null ? 0 : previous);
    }

    /** Marks {@code file} as just used; learns it if it was put there behind our back. */
    synchronized void touch(Path file, long size) {
        if (entries.get(file) == null) {
            record(file, size);
        }
    }

    synchronized void forget(Path file) {
        Long previous = entries.remove(file);
        if (previous != null) {
            totalBytes -= previous;
        }
    }

    /**
     * Removes least recently used entries, never {@code keep}, until the total fits {@code bound},
     * and returns them for the caller to delete.
     */
    synchronized List<Path> evictAbove(long bound, Path keep) {
        List<Path> victims = new ArrayList<>();
        Iterator<Map.Entry<Path, Long>> eldestFirst = entries.entrySet().iterator();
        while (totalBytes > bound && eldestFirst.hasNext()) {
            Map.Entry<Path, Long> entry = eldestFirst.next();
            if (entry.getKey().equals(keep)) {
                continue;
            }
            totalBytes -= entry.getValue();
            victims.add(entry.getKey());
            eldestFirst.remove();
        }
        return victims;
    }

    synchronized long totalBytes() {
        return totalBytes;
    }

    synchronized int size() {
        return entries.size();
    }
}
