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
        return digests.isEmpty() ? EMPTY : owning(new LinkedHashSet<>(digests));
    }

    /**
     * Wraps a set nobody else holds, without copying it: each copy hashes every digest again, and
     * the validator's per-request set algebra over some thousands of digests was a copy per step.
     */
    private static DigestSet owning(LinkedHashSet<Digest> digests) {
        return digests.isEmpty() ? EMPTY : new DigestSet(java.util.Collections.unmodifiableSet(digests));
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
        return owning(all);
    }

    public DigestSet filter(Predicate<Digest> keep) {
        List<Digest> kept = new ArrayList<>();
        for (Digest d : digests) {
            if (keep.test(d)) {
                kept.add(d);
            }
        }
        // nothing dropped, the common answer of an existence check: this set itself, immutable as it is
        return kept.size() == digests.size() ? this : of(kept);
    }

    /** Splits into consecutive parts of at most {@code size} digests, for backends with batch limits. */
    public List<DigestSet> partition(int size) {
        if (size <= 0) {
            throw new IllegalArgumentException("partition size must be positive");
        }
        if (digests.size() <= size) {
            return isEmpty() ? List.of() : List.of(this);
        }
        List<DigestSet> parts = new ArrayList<>();
        LinkedHashSet<Digest> current = new LinkedHashSet<>();
        for (Digest d : digests) {
            current.add(d);
            if (current.size() == size) {
                parts.add(owning(current));
                current = new LinkedHashSet<>();
            }
        }
        if (!current.isEmpty()) {
            parts.add(owning(current));
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
