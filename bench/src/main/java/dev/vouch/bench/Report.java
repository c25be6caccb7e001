package dev.vouch.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;
import tools.jackson.databind.SerializationFeature;
import tools.jackson.databind.json.JsonMapper;

/** The run's results: a table on stdout, {@code report.json} and {@code report.md} in the output dir. */
public final class Report {

    /**
     * One topology run: a V (and for remote a B) and the phases measured against it.
     *
     * @param rssIdleV V's RSS seeded and idle, before the first phase
     */
    public record Run(String topology, String heap, Double rttMs, List<String> flagsV, List<String> flagsB,
            long rssIdleV, long rssMaxEverV, long rssMaxEverB, List<PhaseResult> phases) {

        String label() {
            return topology + (rttMs != null ? " rtt " + fmt(rttMs, "%.0f") + " ms" : "") + ", -Xmx" + heap;
        }

        PhaseResult phase(String name) {
            return phases.stream().filter(p -> p.phase().equals(name)).findFirst().orElse(null);
        }
    }

    public final Map<String, Object> header = new LinkedHashMap<>();
    public final Map<String, Object> workload = new LinkedHashMap<>();
    public final List<Run> runs = new ArrayList<>();
    public final List<String> notes = new ArrayList<>();

    public long wrongVerdicts() {
        return runs.stream().flatMap(r -> r.phases().stream()).mapToLong(PhaseResult::wrong).sum();
    }

    public long errors() {
        return runs.stream().flatMap(r -> r.phases().stream()).mapToLong(PhaseResult::errors).sum();
    }

    /** The named figures {@link Targets#evaluate} needs, from the first in-process heap and remote at 1 ms. */
    public Map<String, Object> figures() {
        Map<String, Object> f = new LinkedHashMap<>();
        List<Run> inProcess = runs.stream().filter(r -> r.topology().equals("in-process")).toList();
        if (!inProcess.isEmpty()) {
            Run r = inProcess.get(0);
            put(f, "rest", r.phase("rest-batch"), PhaseResult::throughput);
            put(f, "agentSeq", r.phase("agent-seq"), PhaseResult::throughput);
            put(f, "agent16", r.phase("agent-16"), PhaseResult::throughput);
            put(f, "rawFmbRate", r.phase("raw-fmb"), PhaseResult::throughput);
            put(f, "rawFmbCpuSPerMillion", r.phase("raw-fmb"), PhaseResult::cpuPerUnit);
            put(f, "restCpuMsPerAction", r.phase("rest-batch"), PhaseResult::cpuPerUnit);
            put(f, "getCpuMs", r.phase("get-peak"), PhaseResult::cpuPerUnit);
            put(f, "getHalfP99Ms", r.phase("get-half"), PhaseResult::p99Ms);
            Object blobsPerAction = workload.get("blobsPerAction");
            if (f.get("rest") instanceof Double rest && blobsPerAction instanceof Number n) {
                f.put("restBlobRate", rest * n.doubleValue());
            }
            if (inProcess.size() > 1) {
                Run big = inProcess.stream().max((a, b) -> Long.compare(bytes(a.heap()), bytes(b.heap()))).get();
                Run small = inProcess.stream().min((a, b) -> Long.compare(bytes(a.heap()), bytes(b.heap()))).get();
                put(f, "restBigHeap", big.phase("rest-batch"), PhaseResult::throughput);
                put(f, "restSmallHeap", small.phase("rest-batch"), PhaseResult::throughput);
                f.put("rssMaxSmallHeapMb", small.rssMaxEverV() / 1e6);
                f.put("smallHeap", small.heap());
            }
        }
        runs.stream().filter(r -> r.topology().equals("remote") && r.rttMs() != null && r.rttMs() == 1.0).findFirst()
                .ifPresent(r -> {
                    put(f, "rest1ms", r.phase("rest-batch"), PhaseResult::throughput);
                    put(f, "agentSeq1ms", r.phase("agent-seq"), PhaseResult::throughput);
                });
        return f;
    }

    private static void put(Map<String, Object> f, String key, PhaseResult p,
            java.util.function.ToDoubleFunction<PhaseResult> g) {
        if (p != null) {
            f.put(key, g.applyAsDouble(p));
        }
    }

    static long bytes(String heap) {
        String h = heap.trim().toLowerCase(Locale.ROOT);
        long mult = switch (h.charAt(h.length() - 1)) {
            case 'k' -> 1L << 10;
            case 'm' -> 1L << 20;
            case 'g' -> 1L << 30;
            default -> 1;
        };
        return Long.parseLong(Character.isDigit(h.charAt(h.length() - 1)) ? h : h.substring(0, h.length() - 1)) * mult;
    }

    // ---------------------------------------------------------------- writing

    public void write(Path dir) throws IOException {
        Files.createDirectories(dir);
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("header", header);
        json.put("workload", workload);
        json.put("runs", runs);
        json.put("figures", figures());
        json.put("targets", Targets.evaluate(figures()));
        json.put("wrongVerdicts", wrongVerdicts());
        json.put("errors", errors());
        json.put("notes", notes);
        Files.writeString(dir.resolve("report.json"), JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT)
                .build().writeValueAsString(json));
        Files.writeString(dir.resolve("report.md"), markdown());
    }

    public String markdown() {
        StringBuilder md = new StringBuilder();
        md.append("# Vouch benchmark ").append(header.getOrDefault("started", "")).append("\n\n");
        md.append("| | |\n| --- | --- |\n");
        header.forEach((k, v) -> md.append("| ").append(k).append(" | ").append(v).append(" |\n"));
        md.append("\n## Workload\n\n| | |\n| --- | --- |\n");
        workload.forEach((k, v) -> md.append("| ").append(k).append(" | ").append(v).append(" |\n"));
        md.append("\n## Vouch processes and their non-default flags\n\n");
        for (Run r : runs) {
            md.append("- ").append(r.label()).append(": V `").append(String.join(" ", r.flagsV())).append('`');
            if (r.flagsB() != null) {
                md.append("; B `").append(String.join(" ", r.flagsB())).append('`');
            }
            md.append('\n');
        }
        md.append("\nEvery process: `java -Xmx<heap> -XX:+ExitOnOutOfMemoryError -jar service/target/vouch.jar "
                + "--server.port=<free> --vouch.grpc.port=<free> --vouch.data-dir=<dir>` plus the flags above.\n");
        for (Run r : runs) {
            md.append("\n## ").append(r.label()).append("\n\n");
            md.append("V RSS seeded and idle ").append(mb(r.rssIdleV())).append(" MB, max over the run ")
                    .append(mb(r.rssMaxEverV())).append(" MB");
            if (r.rssMaxEverB() > 0) {
                md.append("; B max over the run ").append(mb(r.rssMaxEverB())).append(" MB");
            }
            md.append(".\n\n");
            md.append(table(r));
            md.append('\n').append(ratios(r));
        }
        md.append(heaps());
        md.append("\n## Targets (issue 11)\n\n| target | measured | |\n| --- | --- | --- |\n");
        for (Targets.Result t : Targets.evaluate(figures())) {
            md.append("| ").append(t.target()).append(" | ").append(t.figure()).append(" | ")
                    .append(t.outcome().name().toLowerCase(Locale.ROOT).replace('_', ' ')).append(" |\n");
        }
        md.append("| the RPC-count test (minimum calls per batch) stays in the normal test suite | not measured by the harness | - |\n");
        md.append("\nWrong verdicts: ").append(wrongVerdicts()).append(". Failed requests: ").append(errors()).append(".\n");
        if (!notes.isEmpty()) {
            md.append("\n## Notes\n\n");
            notes.forEach(n -> md.append("- ").append(n).append('\n'));
        }
        md.append("\n").append(legend());
        return md.toString();
    }

    static String legend() {
        return """
                MB are 10^6 bytes. Columns: throughput per second of the phase's unit; latency per request (an agent-side request is the \
                whole per-action sequence; get-half from the scheduled send time); CPU-s of V during the window \
                (utime+stime from /proc) and per unit (CPU-ms per action or request; raw-fmb: CPU-s of the store's \
                process per million blobs, V in-process, B remote); RSS of V at the end / max during the window \
                (sampled every 100 ms); heap after GC (jvm_gc_live_data_size_bytes, 0 until an old-generation GC ran) / old \
                generation used / whole heap used (jvm_memory_used_bytes) at the end; backend calls per operation during the window (V's vouch_backend_call_seconds_count, \
                or for agent-* and raw-fmb the calls the bench itself made); verdicts HIT/MISS/PARTIAL/UNKNOWN; wrong = \
                verdicts (or missing sets) not what the generator expects.
                """;
    }

    String table(Run r) {
        boolean remote = r.flagsB() != null;
        StringBuilder t = new StringBuilder();
        t.append("| phase | throughput | p50 ms | p99 ms | max ms | V CPU-s | CPU per unit | ");
        if (remote) {
            t.append("B CPU-s | B RSS end/max MB | ");
        }
        t.append("V RSS end/max MB | heap live/old/used MB | backend calls | H/M/P/U | wrong | errors |\n");
        t.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ").append(remote ? "---: | ---: | " : "")
                .append("---: | ---: | --- | --- | ---: | ---: |\n");
        for (PhaseResult p : r.phases()) {
            t.append("| ").append(p.phase()).append(" | ").append(fmt(p.throughput(), "%,.0f")).append(' ')
                    .append(p.unit()).append(" | ").append(fmt(p.p50Ms(), "%.2f")).append(" | ")
                    .append(fmt(p.p99Ms(), "%.2f")).append(" | ").append(fmt(p.maxMs(), "%.1f")).append(" | ")
                    .append(fmt(p.cpuV(), "%.2f")).append(" | ").append(cpuUnit(p)).append(" | ");
            if (remote) {
                t.append(fmt(p.cpuB(), "%.2f")).append(" | ").append(mb(p.rssEndB())).append('/')
                        .append(mb(p.rssMaxB())).append(" | ");
            }
            t.append(mb(p.rssEndV())).append('/').append(mb(p.rssMaxV())).append(" | ")
                    .append(fmt(p.heapLiveBytes() / 1e6, "%.0f")).append('/').append(fmt(p.heapOldBytes() / 1e6, "%.0f"))
                    .append('/').append(fmt(p.heapUsedBytes() / 1e6, "%.0f"))
                    .append(" | ").append(p.backendCalls().entrySet().stream().map(e -> e.getKey() + " " + e.getValue())
                            .collect(Collectors.joining(", ")))
                    .append(" | ").append(p.verdicts().values().stream().map(String::valueOf).collect(Collectors.joining("/")))
                    .append(" | ").append(p.wrong()).append(" | ").append(p.errors()).append(" |\n");
        }
        return t.toString();
    }

    static String cpuUnit(PhaseResult p) {
        return switch (p.unit()) {
            case "blobs/s" -> fmt(p.cpuPerUnit(), "%.2f") + " s/M blobs";
            case "requests/s" -> fmt(p.cpuPerUnit(), "%.3f") + " ms/req";
            default -> fmt(p.cpuPerUnit(), "%.3f") + " ms/action";
        };
    }

    String ratios(Run r) {
        StringBuilder s = new StringBuilder();
        Object bpa = workload.get("blobsPerAction");
        double blobsPerAction = bpa instanceof Number n ? n.doubleValue() : Double.NaN;
        for (String batch : List.of("rest-batch", "grpc-batch")) {
            PhaseResult b = r.phase(batch);
            if (b == null) {
                continue;
            }
            s.append("- ").append(batch).append(": ").append(fmt(b.throughput(), "%,.0f")).append(" actions/s, ")
                    .append(fmt(b.throughput() * blobsPerAction, "%,.0f")).append(" blob checks/s");
            PhaseResult seq = r.phase("agent-seq");
            PhaseResult a16 = r.phase("agent-16");
            PhaseResult raw = r.phase("raw-fmb");
            if (seq != null) {
                s.append(", ").append(fmt(b.throughput() / seq.throughput(), "%.2f")).append("x agent-seq");
            }
            if (a16 != null) {
                s.append(", ").append(fmt(b.throughput() / a16.throughput(), "%.2f")).append("x agent-16");
            }
            if (raw != null) {
                s.append(", ").append(fmt(b.throughput() * blobsPerAction / raw.throughput(), "%.2f"))
                        .append(" of raw FindMissingBlobs");
            }
            s.append('\n');
        }
        return s.toString();
    }

    String heaps() {
        List<Run> inProcess = runs.stream().filter(r -> r.topology().equals("in-process")).toList();
        if (inProcess.size() < 2) {
            return "";
        }
        StringBuilder s = new StringBuilder("\n## In-process, heaps side by side\n\n| phase |");
        StringBuilder sep = new StringBuilder("| --- |");
        for (Run r : inProcess) {
            s.append(" -Xmx").append(r.heap()).append(" throughput | RSS max MB | old gen MB |");
            sep.append(" ---: | ---: | ---: |");
        }
        s.append('\n').append(sep).append('\n');
        for (PhaseResult p0 : inProcess.get(0).phases()) {
            s.append("| ").append(p0.phase()).append(" |");
            for (Run r : inProcess) {
                PhaseResult p = r.phase(p0.phase());
                if (p == null) {
                    s.append(" - | - | - |");
                } else {
                    s.append(' ').append(fmt(p.throughput(), "%,.0f")).append(' ').append(p.unit()).append(" | ")
                            .append(mb(p.rssMaxV())).append(" | ").append(fmt(p.heapOldBytes() / 1e6, "%.0f")).append(" |");
                }
            }
            s.append('\n');
        }
        s.append("| whole run: RSS idle / max MB |");
        for (Run r : inProcess) {
            s.append(' ').append(mb(r.rssIdleV())).append(" / ").append(mb(r.rssMaxEverV())).append(" | | |");
        }
        return s.append('\n').toString();
    }

    /** The stdout summary: one line per phase. */
    public static String line(PhaseResult p) {
        return String.format(Locale.ROOT, "  %-10s %,12.0f %-10s p50 %7.2f ms  p99 %7.2f ms  CPU %6.2f s (%s)  RSS %s/%s MB"
                + "  calls %s  verdicts %s  wrong %d  errors %d",
                p.phase(), p.throughput(), p.unit(), p.p50Ms(), p.p99Ms(), p.cpuV(), cpuUnit(p), mb(p.rssEndV()),
                mb(p.rssMaxV()), p.backendCalls(), p.verdicts().values(), p.wrong(), p.errors());
    }

    static String mb(long bytes) {
        return bytes < 0 ? "-" : String.format(Locale.ROOT, "%.0f", bytes / 1e6);
    }

    static String fmt(double v, String format) {
        return Double.isNaN(v) || Double.isInfinite(v) ? "-" : String.format(Locale.ROOT, format, v);
    }
}
