package dev.vouch.bench;

import build.bazel.remote.execution.v2.ActionCacheGrpc;
import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.BatchReadBlobsRequest;
import build.bazel.remote.execution.v2.BatchReadBlobsResponse;
import build.bazel.remote.execution.v2.ContentAddressableStorageGrpc;
import build.bazel.remote.execution.v2.Digest;
import build.bazel.remote.execution.v2.Directory;
import build.bazel.remote.execution.v2.FileNode;
import build.bazel.remote.execution.v2.FindMissingBlobsRequest;
import build.bazel.remote.execution.v2.GetActionResultRequest;
import build.bazel.remote.execution.v2.OutputDirectory;
import build.bazel.remote.execution.v2.OutputFile;
import build.bazel.remote.execution.v2.Tree;
import dev.vouch.v1.BlobProblem;
import dev.vouch.v1.ValidateRequest;
import dev.vouch.v1.ValidateResponse;
import dev.vouch.v1.ValidationResult;
import dev.vouch.v1.ValidationServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/** The measured phases: each a warm-up, then a window of {@code duration} seconds. */
public final class Phases {

    public static final List<String> ALL = List.of("agent-seq", "agent-16", "raw-fmb", "rest-batch", "grpc-batch",
            "get-peak", "get-half");

    /**
     * @param v the Vouch under test
     * @param b the separate backend (remote topology), or null
     * @param reapi where agent-side and raw FindMissingBlobs calls go: V itself in-process, the proxy to B remote
     * @param vGrpc V's gRPC port (vouch.v1)
     */
    public record Target(Workload workload, VouchProcess v, VouchProcess b, ManagedChannel reapi, ManagedChannel vGrpc,
            double warmupSeconds, double durationSeconds, int batch, int batchInFlight, int getInFlight) {
    }

    private static final ObjectMapper JSON = JsonMapper.builder().build();

    private final Target t;
    private final List<Workload.Action> actions;
    private final HttpClient http;

    public Phases(Target t) {
        this.t = t;
        this.actions = t.workload().actions();
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .executor(java.util.concurrent.Executors.newFixedThreadPool(4, r -> {
                    Thread th = new Thread(r, "http-client");
                    th.setDaemon(true);
                    return th;
                }))
                .connectTimeout(Duration.ofSeconds(5)).build();
    }

    /** What one worker saw while the window was open. */
    static final class Recorder {
        long[] latencies = new long[0];
        int n;
        long requests;
        long actionCount;
        long blobs;
        long wrong;
        long errors;
        String firstProblem;
        final long[] verdicts = new long[4]; // HIT MISS PARTIAL UNKNOWN
        final Map<String, Long> calls = new TreeMap<>();

        void latency(long nanos) {
            if (n == latencies.length) {
                latencies = Arrays.copyOf(latencies, Math.max(1024, n * 2));
            }
            latencies[n++] = nanos;
        }

        void call(String op) {
            calls.merge(op, 1L, Long::sum);
        }

        void problem(String p) {
            if (firstProblem == null) {
                firstProblem = p;
            }
        }
    }

    /** One request of a phase; records into {@code r} only what the window should count. */
    interface Op {
        void run(Recorder r) throws Exception;
    }

    // ---------------------------------------------------------------- phases

    public PhaseResult run(String phase, double getHalfRate) throws Exception {
        return switch (phase) {
            case "agent-seq" -> closedLoop(phase, "actions/s", 1, this::agentOne, true);
            case "agent-16" -> closedLoop(phase, "actions/s", 16, this::agentOne, true);
            case "raw-fmb" -> rawFmb();
            case "rest-batch" -> closedLoop(phase, "actions/s", t.batchInFlight(), this::restBatch, false);
            case "grpc-batch" -> closedLoop(phase, "actions/s", t.batchInFlight(), this::grpcBatch, false);
            case "get-peak" -> closedLoop(phase, "requests/s", t.getInFlight(), this::getOne, false);
            case "get-half" -> openLoop(phase, getHalfRate);
            default -> throw new IllegalArgumentException("unknown phase " + phase + "; phases are " + ALL);
        };
    }

    private final AtomicLong cursor = new AtomicLong();

    private Workload.Action nextAction() {
        return actions.get((int) Math.floorMod(cursor.getAndIncrement(), (long) actions.size()));
    }

    private List<Workload.Action> nextBatch() {
        long start = cursor.getAndAdd(t.batch());
        List<Workload.Action> l = new ArrayList<>(t.batch());
        for (int k = 0; k < t.batch(); k++) {
            l.add(actions.get((int) Math.floorMod(start + k, (long) actions.size())));
        }
        return l;
    }

    /** Agent side: GetActionResult, read each Tree with BatchReadBlobs, one FindMissingBlobs of the closure. */
    private void agentOne(Recorder r) {
        Workload.Action a = nextAction();
        var ac = ActionCacheGrpc.newBlockingStub(t.reapi()).withDeadlineAfter(60, TimeUnit.SECONDS);
        var cas = ContentAddressableStorageGrpc.newBlockingStub(t.reapi()).withDeadlineAfter(60, TimeUnit.SECONDS);
        ActionResult result;
        r.call("get_action_result");
        try {
            result = ac.getActionResult(GetActionResultRequest.newBuilder().setActionDigest(a.digest()).build());
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() == Status.Code.NOT_FOUND) {
                judge(r, a, Workload.Verdict.MISS, Set.of());
                r.actionCount++;
                r.blobs += 0;
                return;
            }
            throw e;
        }
        Set<Digest> closure = new LinkedHashSet<>();
        Set<Digest> missing = new HashSet<>();
        for (OutputFile f : result.getOutputFilesList()) {
            closure.add(f.getDigest());
        }
        for (OutputDirectory d : result.getOutputDirectoriesList()) {
            closure.add(d.getTreeDigest());
            r.call("read_blob");
            BatchReadBlobsResponse read = cas.batchReadBlobs(BatchReadBlobsRequest.newBuilder()
                    .addDigests(d.getTreeDigest()).build());
            BatchReadBlobsResponse.Response one = read.getResponses(0);
            if (one.getStatus().getCode() != 0) {
                missing.add(d.getTreeDigest());
                continue;
            }
            try {
                Tree tree = Tree.parseFrom(one.getData());
                addFiles(tree.getRoot(), closure);
                for (Directory child : tree.getChildrenList()) {
                    addFiles(child, closure);
                }
            } catch (com.google.protobuf.InvalidProtocolBufferException e) {
                throw new IllegalStateException("a Tree blob that does not parse: " + d.getTreeDigest().getHash(), e);
            }
        }
        int closureSize = closure.size();
        // a Tree that could not be read is already known missing: not asked about again
        closure.removeAll(missing);
        List<Digest> all = new ArrayList<>(closure);
        for (int from = 0; from < all.size(); from += 10_000) {
            r.call("find_missing");
            missing.addAll(cas.findMissingBlobs(FindMissingBlobsRequest.newBuilder()
                    .addAllBlobDigests(all.subList(from, Math.min(all.size(), from + 10_000))).build())
                    .getMissingBlobDigestsList());
        }
        judge(r, a, missing.isEmpty() ? Workload.Verdict.HIT : Workload.Verdict.PARTIAL, missing);
        r.actionCount++;
        r.blobs += closureSize;
    }

    private static void addFiles(Directory d, Set<Digest> closure) {
        for (FileNode f : d.getFilesList()) {
            if (f.getDigest().getSizeBytes() > 0) {
                closure.add(f.getDigest());
            }
        }
    }

    /** Counts the verdict and whether it and the missing set are what the generator expects. */
    private void judge(Recorder r, Workload.Action a, Object verdict, Set<Digest> missing) {
        String v = verdict.toString();
        int slot = switch (v) {
            case "HIT" -> 0;
            case "MISS" -> 1;
            case "PARTIAL" -> 2;
            default -> 3;
        };
        r.verdicts[slot]++;
        boolean ok = v.equals(a.verdict().name());
        if (ok && a.verdict() == Workload.Verdict.PARTIAL) {
            ok = missing.equals(t.workload().expectedMissing(a));
        }
        if (!ok) {
            r.wrong++;
            r.problem("action " + a.index() + " " + a.digest().getHash() + ": expected " + a.verdict() + " "
                    + t.workload().expectedMissing(a).size() + " missing, got " + v + " " + missing.size() + " missing");
        }
    }

    private void restBatch(Recorder r) throws Exception {
        List<Workload.Action> batch = nextBatch();
        StringBuilder body = new StringBuilder(batch.size() * 80).append("{\"actions\":[");
        for (int k = 0; k < batch.size(); k++) {
            Digest d = batch.get(k).digest();
            body.append(k == 0 ? "\"" : ",\"").append(d.getHash()).append('/').append(d.getSizeBytes()).append('"');
        }
        body.append("]}");
        HttpResponse<byte[]> resp = http.send(HttpRequest.newBuilder(URI.create(t.v().base() + "/v1/validate"))
                .timeout(Duration.ofSeconds(60)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build(), HttpResponse.BodyHandlers.ofByteArray());
        if (resp.statusCode() != 200) {
            throw new IllegalStateException("POST /v1/validate answered " + resp.statusCode() + ": "
                    + new String(resp.body(), java.nio.charset.StandardCharsets.UTF_8));
        }
        JsonNode results = JSON.readTree(resp.body()).get("results");
        if (results == null || results.size() != batch.size()) {
            throw new IllegalStateException("POST /v1/validate: expected " + batch.size() + " results");
        }
        for (int k = 0; k < batch.size(); k++) {
            judgeJson(r, batch.get(k), results.get(k));
        }
        r.requests++;
        r.actionCount += batch.size();
    }

    private void judgeJson(Recorder r, Workload.Action a, JsonNode result) {
        Set<Digest> missing = new HashSet<>();
        JsonNode m = result.get("missing");
        if (m != null) {
            for (JsonNode one : m) {
                missing.add(Digest.newBuilder().setHash(one.get("hash").asString())
                        .setSizeBytes(one.get("sizeBytes").asLong()).build());
            }
        }
        if (!a.digest().getHash().equals(result.get("action").get("hash").asString())) {
            r.wrong++;
            r.problem("result out of order for action " + a.index());
            return;
        }
        String verdict = result.get("verdict").asString();
        judge(r, a, verdict, missing);
        if (!"HIT".equals(verdict) && !"MISS".equals(verdict) && !"PARTIAL".equals(verdict)) {
            r.problem("action " + a.index() + ": " + verdict + " " + result.path("reason").asString());
        }
    }

    private void grpcBatch(Recorder r) {
        List<Workload.Action> batch = nextBatch();
        ValidateRequest.Builder req = ValidateRequest.newBuilder();
        for (Workload.Action a : batch) {
            req.addActions(a.digest());
        }
        ValidateResponse resp = ValidationServiceGrpc.newBlockingStub(t.vGrpc()).withDeadlineAfter(60, TimeUnit.SECONDS)
                .validate(req.build());
        if (resp.getResultsCount() != batch.size()) {
            throw new IllegalStateException("Validate: expected " + batch.size() + " results, got " + resp.getResultsCount());
        }
        for (int k = 0; k < batch.size(); k++) {
            ValidationResult res = resp.getResults(k);
            Set<Digest> missing = new HashSet<>();
            for (BlobProblem p : res.getMissingList()) {
                missing.add(p.getDigest());
            }
            judge(r, batch.get(k), res.getVerdict().name(), missing);
            if (res.getVerdict() == dev.vouch.v1.Verdict.UNKNOWN) {
                r.problem("action " + batch.get(k).index() + ": UNKNOWN " + res.getReason());
            }
        }
        r.requests++;
        r.actionCount += batch.size();
    }

    private void getOne(Recorder r) throws Exception {
        Workload.Action a = nextAction();
        HttpResponse<byte[]> resp = http.send(HttpRequest.newBuilder(URI.create(t.v().base() + "/v1/actions/"
                + a.digest().getHash() + "/" + a.digest().getSizeBytes())).timeout(Duration.ofSeconds(60)).GET().build(),
                HttpResponse.BodyHandlers.ofByteArray());
        if (resp.statusCode() != 200) {
            throw new IllegalStateException("GET /v1/actions answered " + resp.statusCode());
        }
        judgeJson(r, a, JSON.readTree(resp.body()));
        r.requests++;
        r.actionCount++;
    }

    /** FindMissingBlobs on the union of all closures, 10,000 digests per call, 4 calls in flight. */
    private PhaseResult rawFmb() throws Exception {
        List<Digest> union = t.workload().unionOfClosures();
        Set<Digest> allMissing = new HashSet<>();
        for (Workload.Action a : actions) {
            allMissing.addAll(t.workload().expectedMissing(a));
        }
        List<List<Digest>> chunks = new ArrayList<>();
        List<Set<Digest>> expected = new ArrayList<>();
        for (int from = 0; from < union.size(); from += 10_000) {
            List<Digest> c = union.subList(from, Math.min(union.size(), from + 10_000));
            chunks.add(c);
            Set<Digest> e = new HashSet<>(c);
            e.retainAll(allMissing);
            expected.add(e);
        }
        AtomicLong next = new AtomicLong();
        return closedLoop("raw-fmb", "blobs/s", 4, r -> {
            int k = (int) (next.getAndIncrement() % chunks.size());
            r.call("find_missing");
            var got = new HashSet<>(ContentAddressableStorageGrpc.newBlockingStub(t.reapi())
                    .withDeadlineAfter(60, TimeUnit.SECONDS)
                    .findMissingBlobs(FindMissingBlobsRequest.newBuilder().addAllBlobDigests(chunks.get(k)).build())
                    .getMissingBlobDigestsList());
            if (!got.equals(expected.get(k))) {
                r.wrong++;
                r.problem("FindMissingBlobs chunk " + k + ": expected " + expected.get(k).size() + " missing, got "
                        + got.size());
            }
            r.requests++;
            r.blobs += chunks.get(k).size();
        }, true);
    }

    // ---------------------------------------------------------------- drivers

    private record Snapshot(long nanos, double cpuV, double cpuB, Map<String, Double> calls) {
    }

    /**
     * The scrape is kept outside the window (before it at the start, after it at the end), so the
     * CPU V spends rendering /actuator/prometheus is not charged to the phase.
     */
    private Snapshot snapshot(boolean start) throws Exception {
        Map<String, Double> calls = start ? scrapeCalls() : null;
        long now = System.nanoTime();
        double cpuV = t.v().cpuSeconds();
        double cpuB = t.b() == null ? Double.NaN : t.b().cpuSeconds();
        return new Snapshot(now, cpuV, cpuB, start ? calls : scrapeCalls());
    }

    private Map<String, Double> scrapeCalls() throws Exception {
        return t.v().scrape().sumBy("vouch_backend_call_seconds_count", "operation");
    }

    /** Length of one prewarm round, after which the JIT's progress is read. */
    static final double PREWARM_ROUND_SECONDS = 5;
    /** The share of a round's wall time the JIT may still spend compiling for the processes to count as warm. */
    static final double JIT_SETTLED_SHARE = 0.10;

    /** How a prewarm ended: its length, the compile time in its last round, and whether that was settled. */
    public record Prewarm(double seconds, double lastRoundCompileMillis, boolean settled) {
        @Override
        public String toString() {
            return String.format(Locale.ROOT, "%.0f s, %s (%.0f ms compiling in the last %.0f s)", seconds,
                    settled ? "JIT settled" : "JIT not settled at the maximum", lastRoundCompileMillis,
                    PREWARM_ROUND_SECONDS);
        }
    }

    /**
     * Unmeasured load of every kind right after V started, so the JIT compiles the hot paths (and its
     * CPU is spent) before the first phase's window rather than inside it. Runs in rounds of
     * {@link #PREWARM_ROUND_SECONDS} for at least {@code minSeconds} and then until V (and B, when
     * there is one) compiled for at most {@link #JIT_SETTLED_SHARE} of the last round
     * ({@code jvm_compilation_time_ms_total}), or until {@code maxSeconds}. A fixed length was not
     * enough for the remote topology: there the agent-side load warms B, not V, and V's CPU per
     * action in its first phases was up to three times what it was once warm.
     */
    public Prewarm prewarm(double minSeconds, double maxSeconds) throws Exception {
        if (maxSeconds <= 0) {
            return new Prewarm(0, Double.NaN, false);
        }
        long start = System.nanoTime();
        double compiled = compileMillis();
        while (true) {
            load(PREWARM_ROUND_SECONDS);
            double now = compileMillis();
            double round = now - compiled;
            compiled = now;
            double elapsed = (System.nanoTime() - start) / 1e9;
            boolean settled = jitSettled(round, PREWARM_ROUND_SECONDS);
            if (elapsed >= minSeconds && settled || elapsed >= maxSeconds) {
                return new Prewarm(elapsed, round, settled);
            }
        }
    }

    /** Whether {@code compileMillis} of compiling in a round of {@code roundSeconds} is little enough to call the JIT done. */
    static boolean jitSettled(double compileMillis, double roundSeconds) {
        return compileMillis <= JIT_SETTLED_SHARE * roundSeconds * 1000;
    }

    /** V's compile time so far, plus B's when there is one; NaN (never settled) when a scrape lacks it. */
    private double compileMillis() throws Exception {
        double total = t.v().scrape().sum("jvm_compilation_time_ms_total");
        if (t.b() != null) {
            total += t.b().scrape().sum("jvm_compilation_time_ms_total");
        }
        return total;
    }

    /** Starts the RSS maxima of V (and B) afresh, at the start of a phase's window. */
    private void resetRssMaxima() {
        t.v().rss().resetMax();
        if (t.b() != null) {
            t.b().rss().resetMax();
        }
    }

    private void load(double seconds) throws Exception {
        List<Op> ops = List.of(this::agentOne, this::restBatch, this::grpcBatch, this::getOne, this::agentOne,
                this::getOne);
        long end = System.nanoTime() + (long) (seconds * 1e9);
        Thread[] threads = new Thread[ops.size()];
        for (int k = 0; k < threads.length; k++) {
            Op op = ops.get(k);
            threads[k] = new Thread(() -> {
                while (System.nanoTime() < end) {
                    try {
                        op.run(new Recorder());
                    } catch (Exception e) {
                        // counted by the phases, not here
                    }
                }
            }, "prewarm-" + k);
            threads[k].setDaemon(true);
            threads[k].start();
        }
        for (Thread th : threads) {
            th.join(120_000 + (long) (seconds * 1000));
        }
    }

    private PhaseResult closedLoop(String phase, String unit, int workers, Op op, boolean ownCalls) throws Exception {
        long warmupEnd = System.nanoTime() + (long) (t.warmupSeconds() * 1e9);
        java.util.concurrent.atomic.AtomicLongArray window = new java.util.concurrent.atomic.AtomicLongArray(
                new long[] {Long.MAX_VALUE, Long.MAX_VALUE});
        AtomicLong completed = new AtomicLong();
        Recorder[] recs = new Recorder[workers];
        Thread[] threads = new Thread[workers];
        java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
        for (int w = 0; w < workers; w++) {
            recs[w] = new Recorder();
            Recorder mine = recs[w];
            threads[w] = new Thread(() -> {
                Recorder scratch = new Recorder();
                while (!stop.get()) {
                    long s = System.nanoTime();
                    Recorder into = new Recorder();
                    try {
                        op.run(into);
                    } catch (Exception e) {
                        into.errors++;
                        into.problem(e.toString());
                    }
                    long end = System.nanoTime();
                    // counted when the request completes inside the window
                    if (end >= window.get(0) && end < window.get(1)) {
                        merge(mine, into);
                        mine.latency(end - s);
                        completed.incrementAndGet();
                    } else {
                        merge(scratch, into);
                    }
                }
            }, phase + "-" + w);
            threads[w].setDaemon(true);
            threads[w].start();
        }
        sleepUntil(warmupEnd);
        resetRssMaxima();
        Snapshot before = snapshot(true);
        window.set(0, before.nanos());
        sleepUntil(window.get(0) + (long) (t.durationSeconds() * 1e9));
        // a window in which fewer requests than workers completed says little: give it up to 3x as long
        long longest = window.get(0) + (long) (3 * t.durationSeconds() * 1e9);
        while (completed.get() < workers + 2 && System.nanoTime() < longest) {
            LockSupport.parkNanos(50_000_000L);
        }
        window.set(1, System.nanoTime());
        Snapshot after = snapshot(false);
        stop.set(true);
        for (Thread th : threads) {
            th.join(120_000);
        }
        Recorder total = new Recorder();
        for (Recorder r : recs) {
            merge(total, r);
            for (int k = 0; k < r.n; k++) {
                total.latency(r.latencies[k]);
            }
        }
        if (total.errors > 0 && total.firstProblem != null) {
            System.err.println("  " + phase + ": " + total.errors + " failed requests; first: " + total.firstProblem);
        }
        return result(phase, unit, total, before, after, ownCalls);
    }

    /** GETs on a fixed schedule; latency from the scheduled send time, so queueing is not hidden. */
    private PhaseResult openLoop(String phase, double rate) throws Exception {
        if (!(rate > 0)) {
            throw new IllegalArgumentException("get-half needs a rate: run get-peak first or give --get-rate");
        }
        long interval = (long) (1e9 / rate);
        long t0 = System.nanoTime() + 100_000_000L;
        long windowStart = t0 + (long) (t.warmupSeconds() * 1e9);
        long windowEnd = windowStart + (long) (t.durationSeconds() * 1e9);
        AtomicLong slot = new AtomicLong();
        int workers = 64;
        Recorder[] recs = new Recorder[workers];
        Thread[] threads = new Thread[workers];
        for (int w = 0; w < workers; w++) {
            recs[w] = new Recorder();
            Recorder mine = recs[w];
            threads[w] = new Thread(() -> {
                while (true) {
                    long scheduled = t0 + slot.getAndIncrement() * interval;
                    if (scheduled >= windowEnd) {
                        return;
                    }
                    sleepUntil(scheduled);
                    Recorder into = new Recorder();
                    try {
                        getOne(into);
                    } catch (Exception e) {
                        into.errors++;
                        into.problem(e.toString());
                    }
                    long end = System.nanoTime();
                    if (scheduled >= windowStart) {
                        merge(mine, into);
                        mine.latency(end - scheduled);
                    }
                }
            }, phase + "-" + w);
            threads[w].setDaemon(true);
            threads[w].start();
        }
        sleepUntil(windowStart);
        resetRssMaxima();
        Snapshot before = snapshot(true);
        for (Thread th : threads) {
            th.join(120_000 + (long) (t.durationSeconds() * 1000));
        }
        Snapshot after = snapshot(false);
        Recorder total = new Recorder();
        for (Recorder r : recs) {
            merge(total, r);
            for (int k = 0; k < r.n; k++) {
                total.latency(r.latencies[k]);
            }
        }
        // throughput over the scheduled window, not the drain after it
        Snapshot fixedAfter = new Snapshot(before.nanos() + (windowEnd - windowStart), after.cpuV(), after.cpuB(),
                after.calls());
        return result(phase, "requests/s", total, before, fixedAfter, false);
    }

    private static void sleepUntil(long deadline) {
        long wait;
        while ((wait = deadline - System.nanoTime()) > 0) {
            LockSupport.parkNanos(wait);
        }
    }

    private static void merge(Recorder into, Recorder from) {
        into.requests += from.requests;
        into.actionCount += from.actionCount;
        into.blobs += from.blobs;
        into.wrong += from.wrong;
        into.errors += from.errors;
        for (int k = 0; k < 4; k++) {
            into.verdicts[k] += from.verdicts[k];
        }
        from.calls.forEach((k, v) -> into.calls.merge(k, v, Long::sum));
        if (from.firstProblem != null) {
            into.problem(from.firstProblem);
        }
    }

    private PhaseResult result(String phase, String unit, Recorder r, Snapshot before, Snapshot after, boolean ownCalls)
            throws Exception {
        double seconds = (after.nanos() - before.nanos()) / 1e9;
        long[] lat = Arrays.copyOf(r.latencies, r.n);
        Arrays.sort(lat);
        double cpuV = after.cpuV() - before.cpuV();
        double cpuB = after.cpuB() - before.cpuB();
        long requests = r.requests > 0 ? r.requests : r.n;
        double throughput = switch (unit) {
            case "blobs/s" -> r.blobs / seconds;
            case "requests/s" -> requests / seconds;
            default -> r.actionCount / seconds;
        };
        double cpuPerUnit;
        if (unit.equals("blobs/s")) {
            // the store's cost: V's own in-process, the backend's when it is a separate process
            double storeCpu = t.b() != null ? cpuB : cpuV;
            cpuPerUnit = r.blobs == 0 ? Double.NaN : storeCpu / (r.blobs / 1e6);
        } else if (unit.equals("requests/s")) {
            cpuPerUnit = requests == 0 ? Double.NaN : cpuV * 1000 / requests;
        } else {
            cpuPerUnit = r.actionCount == 0 ? Double.NaN : cpuV * 1000 / r.actionCount;
        }
        Map<String, Long> calls = new TreeMap<>();
        if (ownCalls) {
            calls.putAll(r.calls);
        } else {
            after.calls().forEach((op, n) -> {
                long d = Math.round(n - before.calls().getOrDefault(op, 0.0));
                if (d != 0) {
                    calls.put(op, d);
                }
            });
        }
        Prometheus p = t.v().scrape();
        Map<String, Long> verdicts = new java.util.LinkedHashMap<>();
        String[] names = {"HIT", "MISS", "PARTIAL", "UNKNOWN"};
        for (int k = 0; k < 4; k++) {
            verdicts.put(names[k], r.verdicts[k]);
        }
        return new PhaseResult(phase, unit, seconds, requests, r.actionCount, r.blobs, throughput, pct(lat, 0.50),
                pct(lat, 0.99), lat.length == 0 ? Double.NaN : lat[lat.length - 1] / 1e6, cpuV, cpuB, cpuPerUnit,
                t.v().rss().current(), t.v().rss().max(), t.b() == null ? -1 : t.b().rss().current(),
                t.b() == null ? -1 : t.b().rss().max(), p.sum("jvm_gc_live_data_size_bytes"),
                p.sum("jvm_memory_used_bytes", "area", "heap", "id", "G1 Old Gen"), p.sum("jvm_memory_used_bytes", "area", "heap"), calls, verdicts, r.wrong, r.errors, r.firstProblem);
    }

    static double pct(long[] sorted, double q) {
        if (sorted.length == 0) {
            return Double.NaN;
        }
        int idx = (int) Math.ceil(q * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, idx))] / 1e6;
    }
}
