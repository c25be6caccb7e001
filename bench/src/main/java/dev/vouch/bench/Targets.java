package dev.vouch.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Issue 11's targets, evaluated on measured figures. The figures come in by name (see
 * {@link #figures}), so the evaluation can be tested on given numbers.
 */
public final class Targets {

    public enum Outcome { MET, MISSED, NOT_MEASURED }

    public record Result(String target, String figure, Outcome outcome) {
    }

    private Targets() {
    }

    /**
     * @param f figures by name: {@code rest}, {@code agentSeq}, {@code agent16}, {@code restBlobRate},
     *     {@code rawFmbRate}, {@code restCpuMsPerAction}, {@code rawFmbCpuSPerMillion}, {@code getCpuMs},
     *     {@code getHalfP99Ms} (in-process, first heap); {@code rest1ms}, {@code agentSeq1ms} (remote at 1 ms);
     *     {@code restSmallHeap}, {@code restBigHeap}, {@code rssMaxSmallHeapMb}, {@code smallHeap}
     */
    public static List<Result> evaluate(Map<String, Object> f) {
        List<Result> out = new ArrayList<>();
        ratio(out, f, "REST batch of 100 >= 10x agent-side sequential (loopback)", "rest", "agentSeq", 10);
        ratio(out, f, "REST batch of 100 >= 4x agent-side 16 in flight (loopback)", "rest", "agent16", 4);
        ratio(out, f, "REST batch of 100 >= 30x agent-side sequential, backend 1 ms away", "rest1ms", "agentSeq1ms", 30);
        ratio(out, f, "Vouch blob-check rate >= 0.85 of raw FindMissingBlobs", "restBlobRate", "rawFmbRate", 0.85);
        atMost(out, f, "<= 0.2 CPU-ms per validated action at batch 100", "restCpuMsPerAction", 0.2, "%.3f CPU-ms");
        atMost(out, f, "embedded raw FindMissingBlobs <= 3 CPU-s per million blobs", "rawFmbCpuSPerMillion", 3,
                "%.2f CPU-s");
        atMost(out, f, "single-action GET <= 0.5 CPU-ms per request", "getCpuMs", 0.5, "%.3f CPU-ms");
        atMost(out, f, "GET p99 < 10 ms at half of peak load", "getHalfP99Ms", 10 - 1e-9, "%.1f ms");
        String small = String.valueOf(f.getOrDefault("smallHeap", "384m"));
        Double s = num(f, "restSmallHeap");
        Double b = num(f, "restBigHeap");
        String t = "at -Xmx" + small + ": REST batch throughput within 10% of the larger heap";
        if (s == null || b == null) {
            out.add(new Result(t, "-", Outcome.NOT_MEASURED));
        } else {
            double r = s / b;
            out.add(new Result(t, String.format(Locale.ROOT, "%.0f vs %.0f actions/s (%.2f)", s, b, r),
                    r >= 0.9 ? Outcome.MET : Outcome.MISSED));
        }
        atMost(out, f, "at -Xmx" + small + ": RSS < 640 MB throughout", "rssMaxSmallHeapMb", 640 - 1e-9, "max %.0f MB");
        return out;
    }

    private static Double num(Map<String, Object> f, String key) {
        Object o = f.get(key);
        if (o instanceof Number n && !Double.isNaN(n.doubleValue())) {
            return n.doubleValue();
        }
        return null;
    }

    private static void ratio(List<Result> out, Map<String, Object> f, String target, String num, String den, double min) {
        Double a = num(f, num);
        Double b = num(f, den);
        if (a == null || b == null || b == 0) {
            out.add(new Result(target, "-", Outcome.NOT_MEASURED));
            return;
        }
        double r = a / b;
        out.add(new Result(target, String.format(Locale.ROOT, "%.2fx (%.0f / %.0f)", r, a, b),
                r >= min ? Outcome.MET : Outcome.MISSED));
    }

    private static void atMost(List<Result> out, Map<String, Object> f, String target, String key, double max,
            String format) {
        Double v = num(f, key);
        if (v == null) {
            out.add(new Result(target, "-", Outcome.NOT_MEASURED));
            return;
        }
        out.add(new Result(target, String.format(Locale.ROOT, format, v), v <= max ? Outcome.MET : Outcome.MISSED));
    }
}
