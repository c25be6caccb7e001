package dev.vouch.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ReportTest {

    private static PhaseResult phase(String name, String unit, double throughput, double cpuPerUnit, double p99) {
        return new PhaseResult(name, unit, 10, 100, 1000, 0, throughput, 1, p99, 2 * p99, 1, Double.NaN, cpuPerUnit,
                400_000_000L, 500_000_000L, -1, -1, 0, 1e8, 2e8, Map.of("find_missing", 10L),
                Map.of("HIT", 900L, "MISS", 50L, "PARTIAL", 50L, "UNKNOWN", 0L), 0, 0, null);
    }

    private static List<PhaseResult> phases(double rest) {
        return List.of(phase("agent-seq", "actions/s", 500, 1, 3), phase("agent-16", "actions/s", 1_500, 0.5, 20),
                phase("raw-fmb", "blobs/s", 300_000, 2.5, 100), phase("rest-batch", "actions/s", rest, 0.15, 50),
                phase("get-peak", "requests/s", 2_000, 0.4, 30), phase("get-half", "requests/s", 1_000, 0.45, 8));
    }

    @Test
    void figuresComeFromTheFirstInProcessHeapTheRemoteRunAt1msAndTheSmallestHeap() {
        Report r = new Report();
        r.workload.put("blobsPerAction", 52);
        r.runs.add(new Report.Run("in-process", "1g", null, List.of(), null, 300_000_000L, 700_000_000L, -1, phases(6_000)));
        r.runs.add(new Report.Run("in-process", "384m", null, List.of(), null, 250_000_000L, 600_000_000L, -1,
                phases(5_500)));
        r.runs.add(new Report.Run("remote", "1g", 0.0, List.of(), List.of(), 1, 1, 1, phases(1)));
        r.runs.add(new Report.Run("remote", "1g", 1.0, List.of(), List.of(), 1, 1, 1,
                List.of(phase("agent-seq", "actions/s", 100, 1, 9), phase("rest-batch", "actions/s", 3_500, 0.2, 90))));
        Map<String, Object> f = r.figures();
        assertThat(f).containsEntry("rest", 6_000.0).containsEntry("agentSeq", 500.0).containsEntry("agent16", 1_500.0)
                .containsEntry("restBlobRate", 6_000.0 * 52).containsEntry("rawFmbRate", 300_000.0)
                .containsEntry("restCpuMsPerAction", 0.15).containsEntry("rawFmbCpuSPerMillion", 2.5)
                .containsEntry("getCpuMs", 0.4).containsEntry("getHalfP99Ms", 8.0)
                .containsEntry("rest1ms", 3_500.0).containsEntry("agentSeq1ms", 100.0)
                .containsEntry("restBigHeap", 6_000.0).containsEntry("restSmallHeap", 5_500.0)
                .containsEntry("rssMaxSmallHeapMb", 600.0).containsEntry("smallHeap", "384m");
        List<Targets.Result> t = Targets.evaluate(f);
        assertThat(t).extracting(Targets.Result::outcome).containsExactly(Targets.Outcome.MET, Targets.Outcome.MET,
                Targets.Outcome.MET, Targets.Outcome.MET, Targets.Outcome.MET, Targets.Outcome.MET, Targets.Outcome.MET,
                Targets.Outcome.MET, Targets.Outcome.MET, Targets.Outcome.MET);
        String md = r.markdown();
        assertThat(md).contains("## in-process, -Xmx384m", "## remote rtt 1 ms, -Xmx1g", "## In-process, heaps side by side",
                "| at -Xmx384m: RSS < 640 MB throughout | max 600 MB | met |");
        assertThat(r.wrongVerdicts()).isZero();
    }

    @Test
    void heapSizes() {
        assertThat(Report.bytes("384m")).isEqualTo(384L << 20);
        assertThat(Report.bytes("1g")).isEqualTo(1L << 30);
        assertThat(Report.bytes("1G")).isEqualTo(1L << 30);
    }
}
