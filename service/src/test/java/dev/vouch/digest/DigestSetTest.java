package dev.vouch.digest;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.function.Predicate;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** The set algebra the validator runs on every request: order kept, nothing lost, nothing doubled. */
class DigestSetTest {
    private static final List<Digest> TEN = IntStream.range(0, 10)
            .mapToObj(i -> DigestFunction.SHA256.digestOf(("blob " + i).getBytes()))
            .toList();

    @Test
    void filterKeepsExactlyTheMatchingDigestsInOrderWhereverTheFirstIsDropped() {
        DigestSet all = DigestSet.of(TEN);
        for (int drop = 0; drop < TEN.size(); drop++) {
            Set<Digest> dropped = Set.of(TEN.get(drop), TEN.get((drop + 3) % TEN.size()));
            Predicate<Digest> keep = d -> !dropped.contains(d);

            DigestSet kept = all.filter(keep);

            assertThat(kept.toList()).as("dropping %s", drop).containsExactlyElementsOf(TEN.stream().filter(keep).toList());
        }
    }

    @Test
    void filterThatDropsNothingOrEverything() {
        DigestSet all = DigestSet.of(TEN);

        assertThat(all.filter(d -> true).toList()).containsExactlyElementsOf(TEN);
        assertThat(all.filter(d -> false).isEmpty()).isTrue();
        assertThat(all.minus(all).size()).isZero();
    }

    @Test
    void partitionCoversEverySetOnceInOrder() {
        DigestSet all = DigestSet.of(TEN);
        for (int n = 1; n <= 12; n++) {
            int size = n;
            List<DigestSet> parts = all.partition(size);

            List<Digest> joined = new ArrayList<>();
            parts.forEach(part -> joined.addAll(part.toList()));
            assertThat(joined).as("parts of %s", size).containsExactlyElementsOf(TEN);
            assertThat(parts).allSatisfy(part -> assertThat(part.size()).isBetween(1, size));
        }
        assertThat(DigestSet.empty().partition(5)).isEmpty();
    }

    @Test
    void ofDropsDuplicatesAndKeepsFirstOrder() {
        List<Digest> backwards = new ArrayList<>(TEN);
        java.util.Collections.reverse(backwards);
        List<Digest> twice = new ArrayList<>(TEN);
        twice.addAll(backwards);

        assertThat(DigestSet.of(twice).toList()).containsExactlyElementsOf(TEN);
    }
}
