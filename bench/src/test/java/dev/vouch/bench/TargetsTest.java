package dev.vouch.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class TargetsTest {

    private static Targets.Outcome outcome(List<Targets.Result> results, String startsWith) {
        return results.stream().filter(r -> r.target().startsWith(startsWith)).findFirst().orElseThrow().outcome();
    }

    @Test
    void issueElevenTodayMissesTheRatiosAndCpuTargets() {
        // the issue's "today" figures (first of each range)
        Map<String, Object> f = new HashMap<>(Map.of("rest", 3_720.0, "agentSeq", 746.0, "agent16", 1_828.0,
                "restBlobRate", 3_720.0 * 52, "rawFmbRate", 297_000.0, "restCpuMsPerAction", 0.62,
                "rawFmbCpuSPerMillion", 5.9, "getCpuMs", 1.6, "getHalfP99Ms", 61.0));
        List<Targets.Result> r = Targets.evaluate(f);
        assertThat(outcome(r, "REST batch of 100 >= 10x")).isEqualTo(Targets.Outcome.MISSED);
        assertThat(r.get(0).figure()).isEqualTo("4.99x (3720 / 746)");
        assertThat(outcome(r, "REST batch of 100 >= 4x")).isEqualTo(Targets.Outcome.MISSED);
        assertThat(outcome(r, "Vouch blob-check rate")).isEqualTo(Targets.Outcome.MISSED);
        assertThat(outcome(r, "<= 0.2 CPU-ms")).isEqualTo(Targets.Outcome.MISSED);
        assertThat(outcome(r, "embedded raw")).isEqualTo(Targets.Outcome.MISSED);
        assertThat(outcome(r, "single-action GET")).isEqualTo(Targets.Outcome.MISSED);
        assertThat(outcome(r, "GET p99")).isEqualTo(Targets.Outcome.MISSED);
        // nothing measured remote or at a second heap
        assertThat(outcome(r, "REST batch of 100 >= 30x")).isEqualTo(Targets.Outcome.NOT_MEASURED);
        assertThat(outcome(r, "at -Xmx384m: REST")).isEqualTo(Targets.Outcome.NOT_MEASURED);
        assertThat(outcome(r, "at -Xmx384m: RSS")).isEqualTo(Targets.Outcome.NOT_MEASURED);
    }

    @Test
    void figuresAtTheBoundariesMeetTheTargets() {
        Map<String, Object> f = new HashMap<>();
        f.put("rest", 10_000.0);
        f.put("agentSeq", 1_000.0);
        f.put("agent16", 2_500.0);
        f.put("rest1ms", 6_000.0);
        f.put("agentSeq1ms", 200.0);
        f.put("restBlobRate", 85.0);
        f.put("rawFmbRate", 100.0);
        f.put("restCpuMsPerAction", 0.2);
        f.put("rawFmbCpuSPerMillion", 3.0);
        f.put("getCpuMs", 0.5);
        f.put("getHalfP99Ms", 9.9);
        f.put("restBigHeap", 10_000.0);
        f.put("restSmallHeap", 9_000.0);
        f.put("rssMaxSmallHeapMb", 639.0);
        f.put("smallHeap", "384m");
        assertThat(Targets.evaluate(f)).extracting(Targets.Result::outcome).containsOnly(Targets.Outcome.MET);
    }

    @Test
    void justPastTheBoundariesMisses() {
        Map<String, Object> f = new HashMap<>();
        f.put("getHalfP99Ms", 10.0);
        f.put("restBigHeap", 10_000.0);
        f.put("restSmallHeap", 8_999.0);
        f.put("rssMaxSmallHeapMb", 640.0);
        f.put("rest1ms", 5_999.0);
        f.put("agentSeq1ms", 200.0);
        f.put("rawFmbCpuSPerMillion", Double.NaN);
        List<Targets.Result> r = Targets.evaluate(f);
        assertThat(outcome(r, "GET p99")).isEqualTo(Targets.Outcome.MISSED);
        assertThat(outcome(r, "at -Xmx384m: REST")).isEqualTo(Targets.Outcome.MISSED);
        assertThat(outcome(r, "at -Xmx384m: RSS")).isEqualTo(Targets.Outcome.MISSED);
        assertThat(outcome(r, "REST batch of 100 >= 30x")).isEqualTo(Targets.Outcome.MISSED);
        assertThat(outcome(r, "embedded raw")).isEqualTo(Targets.Outcome.NOT_MEASURED);
    }
}
