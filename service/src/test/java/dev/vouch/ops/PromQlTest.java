package dev.vouch.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** The names {@link PromQl} finds in the kinds of expressions the dashboard and the rules use. */
class PromQlTest {

    @Test
    void ratioWithGroupingAndRanges() {
        PromQl q = PromQl.of("sum by (backend, instance_name) (rate(vouch_verdicts_total{job=~\".*\", verdict=\"PARTIAL\"}[10m]))"
                + " / sum by (backend, instance_name) (rate(vouch_verdicts_total{verdict=~\"HIT|PARTIAL\"}[1h30m])) > 0.05");

        assertThat(q.selectors()).containsExactly("vouch_verdicts_total{job=~\".*\", verdict=\"PARTIAL\"}",
                "vouch_verdicts_total{verdict=~\"HIT|PARTIAL\"}");
        assertThat(q.requiredLabels()).containsExactlyInAnyOrder("backend", "instance_name", "job", "verdict");
    }

    @Test
    void labelReplaceMakesItsDestinationAndNeedsItsSource() {
        PromQl q = PromQl.of("label_replace(max by (name) (resilience4j_circuitbreaker_state{state=~\"open|half_open\"}),"
                + " \"backend\", \"$1\", \"name\", \"(.*)\") > 0");

        assertThat(q.selectors()).containsExactly("resilience4j_circuitbreaker_state{state=~\"open|half_open\"}");
        assertThat(q.createdLabels()).containsExactly("backend");
        assertThat(q.requiredLabels()).containsExactlyInAnyOrder("name", "state");
    }

    @Test
    void vectorMatchingBareSelectorsAndRecordedNames() {
        PromQl q = PromQl.of("sum by (backend, operation, outcome) (rate(vouch_backend_call_seconds_count{outcome=~\"error\"}[1m]))"
                + " / ignoring (outcome) group_left sum by (backend, operation) (rate(vouch_backend_call_seconds_count[1m]))"
                + " and vouch:validation_slow:ratio_rate5m > (14.4 * 0.01) unless absent(up) offset 5m");

        assertThat(q.selectors()).containsExactly("vouch_backend_call_seconds_count{outcome=~\"error\"}",
                "vouch_backend_call_seconds_count", "vouch:validation_slow:ratio_rate5m", "up");
        assertThat(q.requiredLabels()).containsExactlyInAnyOrder("backend", "operation", "outcome");
    }

    @Test
    void stringsMayHoldBracesAndQuotes() {
        PromQl q = PromQl.of("count(x{path=\"a}b\\\"c\", le='0.25'}) without (le)");

        assertThat(q.selectors()).containsExactly("x{path=\"a}b\\\"c\", le='0.25'}");
        assertThat(q.requiredLabels()).containsExactlyInAnyOrder("path", "le");
    }

    @Test
    void unsubstitutedVariableIsRefused() {
        assertThatThrownBy(() -> PromQl.of("rate(x[$__rate_interval])")).hasMessageContaining("unsubstituted variable");
    }
}
