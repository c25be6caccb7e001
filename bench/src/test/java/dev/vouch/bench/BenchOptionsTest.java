package dev.vouch.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class BenchOptionsTest {

    @Test
    void defaultsAreTheStandardRunOfTheIssue() {
        Bench.Options o = Bench.parse(new String[0]);
        assertThat(o.spec()).isEqualTo(Workload.Spec.standard(1));
        assertThat(o.topologies()).containsExactly("in-process", "remote");
        assertThat(o.rtts()).containsExactly(0.0, 1.0, 5.0);
        assertThat(o.heaps()).containsExactly("1g", "384m");
        assertThat(o.phases()).isEqualTo(Phases.ALL);
        assertThat(o.duration()).isEqualTo(10);
        assertThat(o.prewarm()).isEqualTo(15);
        assertThat(o.prewarmMax()).isEqualTo(120);
        assertThat(o.batch()).isEqualTo(100);
        assertThat(o.batchInFlight()).isEqualTo(4);
        assertThat(o.getInFlight()).isEqualTo(16);
        assertThat(o.out().getParent().toString()).endsWith("bench/results");
    }

    @Test
    void overridesAndExtraFlags() {
        Bench.Options o = Bench.parse(new String[] {"--workload", "large", "--actions=300", "--shared", "0.5",
                "--topology", "remote", "--rtt", "1", "--heap", "512m", "--phases", "rest-batch,get-peak",
                "--flag", "vouch.limits.max-in-flight-validations=128", "--duration", "3", "--out", "/tmp/x"});
        assertThat(o.spec().actions()).isEqualTo(300);
        assertThat(o.spec().shared()).isEqualTo(0.5);
        assertThat(o.spec().blobBytes()).isEqualTo(Workload.Spec.large(1).blobBytes());
        assertThat(o.topologies()).containsExactly("remote");
        assertThat(o.rtts()).containsExactly(1.0);
        assertThat(o.phases()).containsExactly("rest-batch", "get-peak");
        assertThat(o.extraFlags()).isEqualTo(List.of("--vouch.limits.max-in-flight-validations=128"));
        assertThat(o.out().getParent().toString()).isEqualTo("/tmp/x");
    }

    @Test
    void badOptionsAreNamed() {
        assertThatThrownBy(() -> Bench.parse(new String[] {"--actoins", "3"})).hasMessageContaining("--actoins");
        assertThatThrownBy(() -> Bench.parse(new String[] {"--phases", "agent-seq,nope"})).hasMessageContaining("nope");
        assertThatThrownBy(() -> Bench.parse(new String[] {"--actions", "many"})).hasMessageContaining("--actions");
        assertThatThrownBy(() -> Bench.parse(new String[] {"--heap", "lots"})).hasMessageContaining("--heap");
        assertThatThrownBy(() -> Bench.parse(new String[] {"--duration"})).hasMessageContaining("needs a value");
        assertThatThrownBy(() -> Bench.parse(new String[] {"--prewarm", "30", "--prewarm-max", "20"}))
                .hasMessageContaining("--prewarm-max");
    }

    @Test
    void theJitCountsAsSettledWhenItCompiledForAtMostATenthOfARound() {
        // a 5 s round: 500 ms of compiling is the most a warm process may still do
        assertThat(Phases.jitSettled(500, 5)).isTrue();
        assertThat(Phases.jitSettled(501, 5)).isFalse();
        assertThat(Phases.jitSettled(0, 5)).isTrue();
        // a scrape without the meter never counts as settled, so the prewarm runs to its maximum
        assertThat(Phases.jitSettled(Double.NaN, 5)).isFalse();
    }
}
