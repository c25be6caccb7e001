package dev.vouch.digest;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Predicate;

/** An immutable, insertion-ordered set of digests with the set algebra the validator needs. */
public final class DigestSet implements Iterable<Digest> {
    private static final DigestSet EMPTY = new DigestSet(Set.of());

    private final Set<Digest> digests;

    private DigestSet(Set<Digest> digests) {
        this.digests = digests;
    }

    public static DigestSet empty() {
        return EMPTY;
    }

    public static DigestSet of(Collection<Digest> digests) {
        return digests.isEmpty() ? EMPTY : new DigestSet(java.util.Collections.unmodifiableSet(new LinkedHashSet<>(digests)));
    }

    public static DigestSet of(Digest... digests) {
        return of(List.of(digests));
    }

    public boolean contains(Digest digest) {
        return digests.contains(digest);
    }

    public int size() {
        return digests.size();
    }

    public boolean isEmpty() {
        return digests.isEmpty();
    }

    /** The digests of this set that are not in {@code other}. */
    public DigestSet minus(DigestSet other) {
        return filter(d -> !other.contains(d));
    }

    public DigestSet union(DigestSet other) {
        LinkedHashSet<Digest> all = new LinkedHashSet<>(digests);
        all.addAll(other.digests);
        return of(all);
    }

    public DigestSet filter(Predicate<Digest> keep) {
        return of(digests.stream().filter(keep).toList());
    }

    /** Splits into consecutive parts of at most {@code size} digests, for backends with batch limits. */
    public List<DigestSet> partition(int size) {
        if (size <= 0) {
            throw new IllegalArgumentException("partition size must be positive");
        }
        List<DigestSet> parts = new ArrayList<>();
        List<Digest> current = new ArrayList<>(Math.min(size, digests.size()));
        for (Digest d : digests) {
            current.add(d);
            if (current.size() == size) {
                parts.add(of(current));
                current = new ArrayList<>(size);
            }
        }
        if (!current.isEmpty()) {
            parts.add(of(current));
        }
        return parts;
    }

    public long totalBytes() {
        return digests.stream().mapToLong(Digest::sizeBytes).sum();
    }

    public List<Digest> toList() {
        return List.copyOf(digests);
    }

    @Override
    public Iterator<Digest> iterator() {
        return digests.iterator();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof DigestSet other && digests.equals(other.digests);
    }

    @Override
    public int hashCode() {
        return digests.hashCode();
    }

    @Override
    public String toString() {
        return digests.toString();
    }
}
