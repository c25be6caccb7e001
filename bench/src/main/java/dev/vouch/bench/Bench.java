package dev.vouch.bench;

import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The benchmark harness: starts Vouch (and for the remote topology a backend Vouch behind a
 * latency-injecting proxy) as child processes, seeds the backend, runs the phases, reports.
 * Run through {@code bench/run} from the repository root; {@code --help} lists the options.
 */
public final class Bench {

    static final String USAGE = """
            bench/run [options]
              --workload standard|large   preset (standard: 2,000 actions of 52 blobs, 64 B each; large: 100,000
                                          actions, ~1 MB closures, 20 Trees of 10,000 files)        [standard]
              --actions N --files N --tree-files N --shared F --pool N --partial F --miss F --blob-bytes N
              --big-trees N --big-tree-files N --seed N    override the preset's knobs               [seed 1]
              --topology both|in-process|remote                                                      [both]
              --rtt 0,1,5                 round trips (ms) the proxy adds in front of the remote backend
              --heap 1g,384m              V's -Xmx; in-process runs once per heap, remote uses the first
              --phases a,b,...            of agent-seq,agent-16,raw-fmb,rest-batch,grpc-batch,get-peak,get-half [all]
              --duration S --warmup S     measured window and warm-up per phase                      [10, 3]
              --prewarm S --prewarm-max S unmeasured mixed load after each V starts, at least S, then until
                              the JIT settles (V and B compile <= 10% of a 5 s round), at most S [15, 120]
              --batch N --batch-in-flight N --get-in-flight N --get-rate R                          [100, 4, 16]
              --flag KEY=VALUE            an extra Vouch flag for V (repeatable), e.g. vouch.limits.max-in-flight-validations=128
              --out DIR                   report.md, report.json, Vouch logs go to DIR/<timestamp>/  [bench/results]
              --jar PATH                  the Vouch jar                                    [service/target/vouch.jar]
              --keep-data                 keep the seeded data directories (under <out>/data) after the run
            """;

    /** The parsed command line. */
    record Options(Workload.Spec spec, String workloadName, List<String> topologies, List<Double> rtts,
            List<String> heaps, List<String> phases, double duration, double warmup, double prewarm, double prewarmMax, int batch, int batchInFlight,
            int getInFlight, double getRate, List<String> extraFlags, Path out, Path jar, boolean keepData) {
    }

    public static void main(String[] args) {
        int code;
        try {
            code = run(args, System.out);
        } catch (IllegalArgumentException e) {
            if ("usage".equals(e.getMessage())) {
                System.out.print(USAGE);
                System.exit(0);
            }
            System.err.println("bench: " + e.getMessage());
            System.err.println(USAGE);
            code = 2;
        } catch (Exception e) {
            System.err.println("bench: failed: " + e);
            e.printStackTrace();
            code = 1;
        }
        System.exit(code);
    }

    static Options parse(String[] args) {
        Map<String, String> o = new LinkedHashMap<>();
        List<String> flags = new ArrayList<>();
        boolean keep = false;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--help") || a.equals("-h")) {
                throw new IllegalArgumentException("usage");
            }
            if (a.equals("--keep-data")) {
                keep = true;
                continue;
            }
            if (!a.startsWith("--")) {
                throw new IllegalArgumentException("unexpected argument '" + a + "'");
            }
            String key = a.substring(2);
            String value;
            int eq = key.indexOf('=');
            if (eq > 0 && !key.startsWith("flag")) {
                value = key.substring(eq + 1);
                key = key.substring(0, eq);
            } else if (key.startsWith("flag=")) {
                value = key.substring(5);
                key = "flag";
            } else {
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException(a + " needs a value");
                }
                value = args[++i];
            }
            if (key.equals("flag")) {
                flags.add(value.startsWith("--") ? value : "--" + value);
            } else {
                o.put(key, value);
            }
        }
        long seed = Long.parseLong(o.getOrDefault("seed", "1"));
        String wl = o.getOrDefault("workload", "standard");
        Workload.Spec base = switch (wl) {
            case "standard" -> Workload.Spec.standard(seed);
            case "large" -> Workload.Spec.large(seed);
            default -> throw new IllegalArgumentException("--workload is standard or large, not '" + wl + "'");
        };
        Workload.Spec spec = new Workload.Spec(seed, i(o, "actions", base.actions()), i(o, "files", base.files()),
                i(o, "tree-files", base.treeFiles()), d(o, "shared", base.shared()), i(o, "pool", base.pool()),
                d(o, "partial", base.partial()), d(o, "miss", base.miss()), i(o, "blob-bytes", base.blobBytes()),
                i(o, "big-trees", base.bigTrees()), i(o, "big-tree-files", base.bigTreeFiles()));
        String topology = o.getOrDefault("topology", "both");
        List<String> topologies = switch (topology) {
            case "both" -> List.of("in-process", "remote");
            case "in-process", "remote" -> List.of(topology);
            default -> throw new IllegalArgumentException("--topology is both, in-process or remote, not '" + topology + "'");
        };
        List<Double> rtts = Arrays.stream(o.getOrDefault("rtt", "0,1,5").split(",")).map(String::trim)
                .map(Double::parseDouble).toList();
        List<String> heaps = Arrays.stream(o.getOrDefault("heap", "1g,384m").split(",")).map(String::trim).toList();
        for (String h : heaps) {
            if (!h.matches("\\d+[kKmMgG]?")) {
                throw new IllegalArgumentException("--heap takes -Xmx sizes like 1g or 384m, not '" + h + "'");
            }
        }
        List<String> phases = o.containsKey("phases")
                ? Arrays.stream(o.get("phases").split(",")).map(String::trim).toList() : Phases.ALL;
        for (String p : phases) {
            if (!Phases.ALL.contains(p)) {
                throw new IllegalArgumentException("unknown phase '" + p + "'; phases are " + Phases.ALL);
            }
        }
        String stamp = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss").withZone(ZoneOffset.UTC).format(Instant.now());
        // each run gets its own directory, so results of earlier runs are never overwritten
        Path out = Path.of(o.getOrDefault("out", "bench/results")).resolve(stamp);
        Options opts = new Options(spec, wl, topologies, rtts, heaps, phases, d(o, "duration", 10), d(o, "warmup", 3),
                d(o, "prewarm", 15), d(o, "prewarm-max", 120),
                i(o, "batch", 100), i(o, "batch-in-flight", 4), i(o, "get-in-flight", 16), d(o, "get-rate", Double.NaN),
                flags, out.toAbsolutePath(), Path.of(o.getOrDefault("jar", "service/target/vouch.jar")).toAbsolutePath(),
                keep);
        for (String k : o.keySet()) {
            if (!List.of("seed", "workload", "actions", "files", "tree-files", "shared", "pool", "partial", "miss",
                    "blob-bytes", "big-trees", "big-tree-files", "topology", "rtt", "heap", "phases", "duration", "warmup",
                    "prewarm", "prewarm-max", "batch", "batch-in-flight", "get-in-flight", "get-rate", "out", "jar").contains(k)) {
                throw new IllegalArgumentException("unknown option --" + k);
            }
        }
        if (opts.prewarmMax() < opts.prewarm()) {
            throw new IllegalArgumentException("--prewarm-max (" + opts.prewarmMax() + " s) is shorter than --prewarm ("
                    + opts.prewarm() + " s)");
        }
        return opts;
    }

    private static int i(Map<String, String> o, String k, int def) {
        try {
            return o.containsKey(k) ? Integer.parseInt(o.get(k).replace("_", "").replace(",", "")) : def;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--" + k + " takes a whole number, not '" + o.get(k) + "'");
        }
    }

    private static double d(Map<String, String> o, String k, double def) {
        try {
            return o.containsKey(k) ? Double.parseDouble(o.get(k)) : def;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--" + k + " takes a number, not '" + o.get(k) + "'");
        }
    }

    static int run(String[] args, PrintStream out) throws Exception {
        Options opt = parse(args);
        if (!Files.isRegularFile(opt.jar())) {
            throw new IllegalArgumentException(opt.jar() + " does not exist: build it with ./mvnw -pl service -am package");
        }
        Path java = Path.of(ProcessHandle.current().info().command().orElse("java"));
        Files.createDirectories(opt.out());
        Path data = opt.out().resolve("data");
        Report report = new Report();
        header(report, opt, java);
        out.println("bench: output in " + opt.out());
        report.header.forEach((k, v) -> out.println("  " + k + ": " + v));

        long t0 = System.nanoTime();
        Workload w = new Workload(opt.spec());
        workload(report, w, opt);
        out.printf("bench: workload generated in %.1f s: %s%n", (System.nanoTime() - t0) / 1e9, report.workload);
        // The cache front would judge every GetActionResult itself and hide PARTIAL entries as NOT_FOUND; the
        // agent-side phases and V's remote backend need a plain cache, so the front serves entries unchecked.
        List<String> plainCache = List.of("--vouch.front.check=NONE");
        try {
            if (opt.topologies().contains("in-process")) {
                Path dir = data.resolve("in-process");
                boolean seeded = false;
                for (String heap : opt.heaps()) {
                    List<String> flags = new ArrayList<>(plainCache);
                    flags.addAll(opt.extraFlags());
                    out.println("bench: in-process, -Xmx" + heap + ": starting V");
                    try (VouchProcess v = VouchProcess.start("vouch-in-process-" + heap, java, opt.jar(), heap, dir,
                            opt.out(), flags)) {
                        ManagedChannel ch = channel(v.grpcPort());
                        try {
                            if (!seeded) {
                                seed(report, w, ch, dir, "in-process", out);
                                seeded = true;
                            }
                            long idle = v.rss().current();
                            Phases.Target target = new Phases.Target(w, v, null, ch, ch, opt.warmup(), opt.duration(),
                                    opt.batch(), opt.batchInFlight(), opt.getInFlight());
                            Phases phases = new Phases(target);
                            prewarm(report, phases, opt, "in-process, -Xmx" + heap, out);
                            List<PhaseResult> results = phases(phases, opt, out);
                            report.runs.add(new Report.Run("in-process", heap, null, flags, null, idle, v.rss().maxEver(),
                                    -1, results));
                        } finally {
                            ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
                        }
                    }
                    report.write(opt.out());
                }
            }
            if (opt.topologies().contains("remote")) {
                remote(report, w, opt, java, data, plainCache, out);
            }
        } finally {
            // the machine may be shared: how busy it was says how far to trust the figures
            report.header.put("load average at end (1/5/15 min)", loadAverage());
            report.write(opt.out());
            if (!opt.keepData() && Files.exists(data)) {
                // tens of thousands of small files: this can take minutes on a busy disk
                out.println("bench: deleting the seeded data in " + data + " (--keep-data keeps it)");
                deleteTree(data);
            }
        }
        out.println();
        out.print(report.markdown());
        out.println("\nbench: wrote " + opt.out().resolve("report.md") + " and report.json");
        if (report.wrongVerdicts() > 0) {
            out.println("bench: " + report.wrongVerdicts() + " WRONG VERDICTS");
            return 1;
        }
        if (report.errors() > 0) {
            out.println("bench: " + report.errors() + " requests failed (see the Vouch logs in " + opt.out() + ")");
            return 1;
        }
        return 0;
    }

    private static void remote(Report report, Workload w, Options opt, Path java, Path data, List<String> plainCache,
            PrintStream out) throws Exception {
        String heap = opt.heaps().get(0);
        out.println("bench: remote: starting backend B");
        try (VouchProcess b = VouchProcess.start("vouch-backend", java, opt.jar(), heap, data.resolve("backend"),
                opt.out(), plainCache)) {
            ManagedChannel direct = channel(b.grpcPort());
            try {
                seed(report, w, direct, data.resolve("backend"), "remote backend", out);
            } finally {
                direct.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
            try (DelayProxy proxy = new DelayProxy(new InetSocketAddress("127.0.0.1", b.grpcPort()), opt.rtts().get(0))) {
                List<String> flags = new ArrayList<>(List.of("--vouch.backends[0].name=remote",
                        "--vouch.backends[0].type=grpc", "--vouch.backends[0].target=grpc://127.0.0.1:" + proxy.port()));
                flags.addAll(opt.extraFlags());
                out.println("bench: remote: starting V in front of the proxy on port " + proxy.port());
                try (VouchProcess v = VouchProcess.start("vouch-remote", java, opt.jar(), heap, data.resolve("remote-v"),
                        opt.out(), flags)) {
                    long idle = v.rss().current();
                    ManagedChannel viaProxy = channel(proxy.port());
                    ManagedChannel vGrpc = channel(v.grpcPort());
                    try {
                        for (double rtt : opt.rtts()) {
                            proxy.setRttMillis(rtt);
                            out.printf("bench: remote, rtt %.0f ms, -Xmx%s%n", rtt, heap);
                            Phases.Target target = new Phases.Target(w, v, b, viaProxy, vGrpc, opt.warmup(),
                                    opt.duration(), opt.batch(), opt.batchInFlight(), opt.getInFlight());
                            Phases phases = new Phases(target);
                            if (rtt == opt.rtts().get(0)) {
                                prewarm(report, phases, opt, "remote, -Xmx" + heap, out);
                            }
                            List<PhaseResult> results = phases(phases, opt, out);
                            report.runs.add(new Report.Run("remote", heap, rtt, flags, plainCache, idle,
                                    v.rss().maxEver(), b.rss().maxEver(), results));
                            report.write(opt.out());
                        }
                    } finally {
                        viaProxy.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
                        vGrpc.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
                    }
                }
            }
        }
    }

    private static List<PhaseResult> phases(Phases phases, Options opt, PrintStream out) throws Exception {
        List<PhaseResult> results = new ArrayList<>();
        double peak = opt.getRate();
        for (String name : opt.phases()) {
            double rate = !Double.isNaN(opt.getRate()) ? opt.getRate() : peak / 2;
            PhaseResult r = phases.run(name, rate);
            if (name.equals("get-peak")) {
                peak = r.throughput();
            }
            out.println(Report.line(r));
            if (r.firstProblem() != null && (r.wrong() > 0 || r.errors() > 0)) {
                out.println("    first problem: " + r.firstProblem());
            }
            results.add(r);
        }
        return results;
    }

    /** The prewarm, printed and kept in the report's header, so a run says how warm its processes were. */
    private static void prewarm(Report report, Phases phases, Options opt, String what, PrintStream out) throws Exception {
        out.printf("bench: prewarm %s: at least %.0f s, then until the JIT settles, at most %.0f s%n", what, opt.prewarm(),
                opt.prewarmMax());
        Phases.Prewarm prewarm = phases.prewarm(opt.prewarm(), opt.prewarmMax());
        out.println("bench: prewarm " + what + ": " + prewarm);
        report.header.put("prewarm, " + what, prewarm.toString());
    }

    private static void seed(Report report, Workload w, ManagedChannel ch, Path dataDir, String what, PrintStream out)
            throws Exception {
        out.println("bench: seeding the " + what + " store");
        Seeder.Seeded s = Seeder.seed(w, ch, out);
        long[] files = countFiles(dataDir);
        report.workload.put("seeded (" + what + ")", String.format(Locale.ROOT,
                "%,d blobs (%,d bytes) and %,d AC entries in %.1f s (%,.0f blobs/s); on disk %,d files, %,d bytes",
                s.blobs(), s.bytes(), s.actionResults(), s.seconds(), s.blobs() / s.seconds(), files[0], files[1]));
    }

    private static long[] countFiles(Path dir) throws IOException {
        long[] r = new long[2];
        if (!Files.isDirectory(dir)) {
            return r;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            s.filter(Files::isRegularFile).forEach(p -> {
                r[0]++;
                try {
                    r[1] += Files.size(p);
                } catch (IOException e) {
                    // removed while we counted
                }
            });
        }
        return r;
    }

    static ManagedChannel channel(int port) {
        return NettyChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().maxInboundMessageSize(64 << 20).build();
    }

    private static void header(Report r, Options opt, Path java) {
        r.header.put("started", DateTimeFormatter.ISO_INSTANT.format(Instant.now().truncatedTo(ChronoUnit.SECONDS)));
        r.header.put("cores (nproc)", command("nproc"));
        r.header.put("cpu", cpuModel());
        r.header.put("memory", memTotal());
        r.header.put("java", command(java.toString(), "-version").lines().findFirst().orElse("?")
                + " (" + java + ")");
        String commit = command("git", "rev-parse", "--short", "HEAD");
        String dirty = command("git", "status", "--porcelain", "--untracked-files=no").isBlank() ? "" : " (with local changes)";
        r.header.put("git commit", commit + dirty);
        r.header.put("load average at start (1/5/15 min)", loadAverage());
        r.header.put("Vouch heap (-Xmx)", String.join(", ", opt.heaps()));
        r.header.put("phases", String.format(Locale.ROOT, "%s; after each V start %.0f to %.0f s of unmeasured mixed load, until the JIT settles; per phase"
                + " warm-up %.0f s, window %.0f s; batch %d x %d in flight; GET %d in flight", String.join(", ", opt.phases()),
                opt.prewarm(), opt.prewarmMax(), opt.warmup(), opt.duration(), opt.batch(),
                opt.batchInFlight(), opt.getInFlight()));
        r.header.put("topologies", String.join(", ", opt.topologies()) + (opt.topologies().contains("remote")
                ? " (rtt " + opt.rtts().stream().map(x -> String.format(Locale.ROOT, "%.0f", x)).toList() + " ms)" : ""));
    }

    private static void workload(Report r, Workload w, Options opt) {
        Workload.Spec s = w.spec();
        r.workload.put("preset", opt.workloadName());
        r.workload.put("actions", s.actions());
        r.workload.put("blobsPerAction", s.blobsPerAction());
        r.workload.put("shape", String.format(Locale.ROOT, "%d output files + 1 output directory (Tree blob + %d files)"
                + "%s; %d-byte blobs; %.0f%% of references from a pool of %,d shared blobs; %.0f%% PARTIAL, %.0f%% MISS;"
                + " seed %d", s.files(), s.treeFiles(), s.bigTrees() > 0 ? String.format(Locale.ROOT,
                        "; %d actions with a Tree of %,d files", s.bigTrees(), s.bigTreeFiles()) : "",
                s.blobBytes(), s.shared() * 100, s.pool(), s.partial() * 100, s.miss() * 100, s.seed()));
        r.workload.put("expected verdicts", String.format(Locale.ROOT, "HIT %d, MISS %d, PARTIAL %d",
                w.count(Workload.Verdict.HIT), w.count(Workload.Verdict.MISS), w.count(Workload.Verdict.PARTIAL)));
        r.workload.put("union of closures", String.format(Locale.ROOT, "%,d distinct blobs", w.unionOfClosures().size()));
    }

    private static String command(String... cmd) {
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String s = new String(p.getInputStream().readAllBytes()).trim();
            p.waitFor(10, TimeUnit.SECONDS);
            return s;
        } catch (IOException | InterruptedException e) {
            return "?";
        }
    }

    static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
            return f[0] + " / " + f[1] + " / " + f[2];
        } catch (IOException e) {
            return "?";
        }
    }

    private static String cpuModel() {
        try (Stream<String> lines = Files.lines(Path.of("/proc/cpuinfo"))) {
            return lines.filter(l -> l.startsWith("model name")).map(l -> l.substring(l.indexOf(':') + 1).trim())
                    .findFirst().orElse("?");
        } catch (IOException e) {
            return "?";
        }
    }

    private static String memTotal() {
        try (Stream<String> lines = Files.lines(Path.of("/proc/meminfo"))) {
            return lines.filter(l -> l.startsWith("MemTotal")).map(l -> {
                long kb = Long.parseLong(l.replaceAll("\\D", ""));
                return String.format(Locale.ROOT, "%.1f GiB", kb / 1024.0 / 1024.0);
            }).findFirst().orElse("?");
        } catch (IOException e) {
            return "?";
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.delete(p);
                } catch (IOException e) {
                    // best effort
                }
            });
        }
    }
}
