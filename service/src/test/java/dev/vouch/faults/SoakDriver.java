package dev.vouch.faults;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.Directory;
import build.bazel.remote.execution.v2.FileNode;
import build.bazel.remote.execution.v2.OutputDirectory;
import build.bazel.remote.execution.v2.OutputFile;
import build.bazel.remote.execution.v2.Tree;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.faults.FaultProxy.Faults;
import dev.vouch.faults.FaultProxy.Phase;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The load side of {@code scripts/soak.sh}: a {@link FaultProxy} in front of a running Vouch's
 * embedded REAPI port, a cache seeded with actions whose truth is known (complete, partial by a
 * blob never uploaded or deleted from the data directory, absent), then concurrent validation
 * load for a bounded time, half straight at the embedded backend and half through the proxied
 * {@code grpc} backend, while the proxy runs a schedule of faults. Counts verdicts and false HITs,
 * measures latency, and the Vouch JVM's heap (after a full GC) and RSS at start and end.
 * Loopback only; bounded in time and in requests. Exits 1 on any false HIT or any wrong verdict
 * from the healthy path.
 *
 * <p>Arguments: {@code --http PORT --grpc PORT --proxy-port PORT --instance NAME --data-dir DIR
 * --seconds N --concurrency N --pid PID}.
 */
public final class SoakDriver {
    private static final int ACTIONS = 300;
    private static final long MAX_REQUESTS = 5_000_000;
    private static final Duration WARM_UP = Duration.ofSeconds(15);

    private enum Truth { HIT, PARTIAL, MISS }

    private record Action(Digest digest, Truth truth) {
    }

    private final Map<String, String> options;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final JsonMapper json = new JsonMapper();
    private final String base;
    private final Path dataDir;
    private final List<Action> actions = new ArrayList<>();
    private final Map<String, Truth> truthByHash = new HashMap<>();

    // results
    private final LongAdder requests = new LongAdder();
    private final Map<String, LongAdder> statuses = new ConcurrentHashMap<>();
    private final Map<String, LongAdder> verdicts = new ConcurrentHashMap<>();
    private final LongAdder falseHits = new LongAdder();
    private final LongAdder healthyPathWrong = new LongAdder();
    private final LongAdder faultyPathLies = new LongAdder();
    private final Map<String, LongAdder> unknownReasons = new ConcurrentHashMap<>();
    private final ConcurrentLinkedQueue<Long> latenciesMicros = new ConcurrentLinkedQueue<>();
    private final ConcurrentLinkedQueue<String> examples = new ConcurrentLinkedQueue<>();

    private SoakDriver(Map<String, String> options) {
        this.options = options;
        this.base = "http://127.0.0.1:" + options.get("http");
        this.dataDir = Path.of(options.get("data-dir"));
    }

    public static void main(String[] args) throws Exception {
        // the report is the output: the proxy's own log lines (phases are printed here) stay out of it
        ((ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME))
                .setLevel(ch.qos.logback.classic.Level.WARN);
        Map<String, String> options = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            options.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        }
        System.exit(new SoakDriver(options).run());
    }

    private int run() throws Exception {
        int seconds = Integer.parseInt(options.getOrDefault("seconds", "180"));
        int concurrency = Integer.parseInt(options.getOrDefault("concurrency", "8"));
        String instance = options.getOrDefault("instance", "faulty");
        long pid = Long.parseLong(options.get("pid"));

        seed(new Random(20240601));
        print("seeded %d actions: %s", actions.size(), count(actions));
        try (FaultProxy proxy = FaultProxy.start(Integer.parseInt(options.get("proxy-port")),
                Integer.parseInt(options.get("grpc")))) {
            // warm up on a healthy proxy, so the start measurement is of a JIT-compiled, connected service
            runLoad(concurrency, WARM_UP, instance, null);
            resetCounts();
            Memory start = Memory.of(pid);
            print("start: heap used after full GC %s, RSS %s", mib(start.heapUsedKib()), mib(start.rssKib()));

            proxy.schedule(schedule(), true, phase -> print("proxy: %s for %ds", phase.faults(),
                    phase.duration().toSeconds()));
            Instant began = Instant.now();
            runLoad(concurrency, Duration.ofSeconds(Math.max(10, seconds - WARM_UP.toSeconds())), instance, began);
            proxy.set(Faults.HEALTHY);
            Duration took = Duration.between(began, Instant.now());

            Memory end = Memory.of(pid);
            report(took, concurrency, start, end, proxy);
        }
        return falseHits.sum() > 0 || healthyPathWrong.sum() > 0 ? 1 : 0;
    }

    /** Faults through a cycle of about 100 s: slow, resets, refusal, hangs, truncation, flapping. */
    private static List<Phase> schedule() {
        List<Phase> phases = new ArrayList<>(List.of(
                new Phase(Duration.ofSeconds(15), Faults.HEALTHY),
                new Phase(Duration.ofSeconds(10), Faults.slow(Duration.ofMillis(150))),
                new Phase(Duration.ofSeconds(10), Faults.resetAfter(4096)),
                new Phase(Duration.ofSeconds(10), Faults.HEALTHY),
                new Phase(Duration.ofSeconds(8), Faults.refusing()),
                new Phase(Duration.ofSeconds(10), Faults.HEALTHY),
                new Phase(Duration.ofSeconds(8), Faults.hanging()),
                new Phase(Duration.ofSeconds(10), Faults.truncateAfter(8192))));
        for (int i = 0; i < 5; i++) {
            phases.add(new Phase(Duration.ofSeconds(2), Faults.HEALTHY));
            phases.add(new Phase(Duration.ofSeconds(1), Faults.resetAfter(512)));
        }
        return phases;
    }

    // --- seeding

    private void seed(Random random) throws Exception {
        List<byte[]> shared = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            shared.add(bytes(random, 16 + random.nextInt(32 * 1024)));
        }
        for (byte[] blob : shared) {
            putBlob(blob);
        }
        List<Digest> toDelete = new ArrayList<>();
        for (int i = 0; i < ACTIONS; i++) {
            int kind = random.nextInt(100);
            Truth truth = kind < 60 ? Truth.HIT : kind < 85 ? Truth.PARTIAL : Truth.MISS;
            ActionResult.Builder result = ActionResult.newBuilder();
            int files = 1 + random.nextInt(4);
            for (int f = 0; f < files; f++) {
                byte[] blob = random.nextBoolean() ? shared.get(random.nextInt(shared.size()))
                        : bytes(random, 1 + random.nextInt(64 * 1024));
                putBlob(blob);
                result.addOutputFiles(OutputFile.newBuilder().setPath("out/" + i + "/f" + f).setDigest(sha(blob).toProto()));
            }
            if (random.nextBoolean()) {
                byte[] leaf = bytes(random, 1 + random.nextInt(4096));
                putBlob(leaf);
                Tree tree = Tree.newBuilder().setRoot(Directory.newBuilder()
                        .addFiles(FileNode.newBuilder().setName("gen.txt").setDigest(sha(leaf).toProto()))
                        .addFiles(FileNode.newBuilder().setName("shared.bin")
                                .setDigest(sha(shared.get(random.nextInt(shared.size()))).toProto()))).build();
                putBlob(tree.toByteArray());
                result.addOutputDirectories(OutputDirectory.newBuilder().setPath("out/" + i + "/gen")
                        .setTreeDigest(sha(tree.toByteArray()).toProto()));
            }
            byte[] stdout = ("action " + i + " done").getBytes(StandardCharsets.UTF_8);
            putBlob(stdout);
            result.setStdoutDigest(sha(stdout).toProto());
            if (truth == Truth.PARTIAL) {
                // a blob of this action alone: never uploaded, or uploaded and then evicted by deleting its file
                byte[] lost = ("lost output of action " + i + " " + random.nextLong()).getBytes(StandardCharsets.UTF_8);
                if (random.nextBoolean()) {
                    putBlob(lost);
                    toDelete.add(sha(lost));
                }
                result.addOutputFiles(OutputFile.newBuilder().setPath("out/" + i + "/lost.o").setDigest(sha(lost).toProto()));
            }
            byte[] serialized = result.build().toByteArray();
            Digest action = sha(("soak action " + i).getBytes(StandardCharsets.UTF_8));
            if (truth != Truth.MISS) {
                put("/cache/ac/" + action.hash(), serialized);
            }
            actions.add(new Action(action, truth));
            truthByHash.put(action.hash(), truth);
        }
        for (Digest digest : toDelete) {
            Files.delete(dataDir.resolve("cas").resolve(digest.hash().substring(0, 2)).resolve(digest.hash()));
        }
    }

    private final Set<String> uploaded = ConcurrentHashMap.newKeySet();

    private void putBlob(byte[] blob) throws Exception {
        Digest digest = sha(blob);
        if (uploaded.add(digest.hash())) {
            put("/cache/cas/" + digest.hash(), blob);
        }
    }

    private void put(String path, byte[] body) throws Exception {
        HttpResponse<Void> response = http.send(HttpRequest.newBuilder(URI.create(base + path))
                .PUT(HttpRequest.BodyPublishers.ofByteArray(body)).build(), HttpResponse.BodyHandlers.discarding());
        if (response.statusCode() / 100 != 2) {
            throw new IllegalStateException("PUT " + path + " answered " + response.statusCode());
        }
    }

    // --- load

    private void runLoad(int concurrency, Duration duration, String instance, Instant progressFrom)
            throws InterruptedException {
        long endAt = System.nanoTime() + duration.toNanos();
        CountDownLatch done = new CountDownLatch(concurrency);
        AtomicLong issued = new AtomicLong();
        for (int w = 0; w < concurrency; w++) {
            long workerSeed = w * 7919L + System.nanoTime();
            Thread worker = new Thread(() -> {
                Random random = new Random(workerSeed);
                try {
                    while (System.nanoTime() < endAt && issued.incrementAndGet() <= MAX_REQUESTS) {
                        oneRequest(random, instance);
                    }
                } finally {
                    done.countDown();
                }
            }, "soak-worker-" + w);
            worker.setDaemon(true);
            worker.start();
        }
        while (!done.await(30, java.util.concurrent.TimeUnit.SECONDS)) {
            if (progressFrom != null) {
                print("progress %ds: %d requests, verdicts %s, false HITs %d", Duration.between(progressFrom,
                        Instant.now()).toSeconds(), requests.sum(), sums(verdicts), falseHits.sum());
            }
        }
    }

    private void oneRequest(Random random, String instance) {
        // half the traffic through the proxied grpc backend, half straight at the embedded one
        boolean throughProxy = random.nextBoolean();
        String mode = random.nextInt(5) == 0 ? "FETCH" : "EXISTENCE";
        int size = 1 + random.nextInt(10);
        List<Action> batch = new ArrayList<>(size);
        for (int i = 0; i < size; i++) {
            batch.add(actions.get(random.nextInt(actions.size())));
        }
        StringBuilder body = new StringBuilder("{\"instanceName\":\"").append(throughProxy ? instance : "")
                .append("\",\"mode\":\"").append(mode).append("\",\"actions\":[");
        for (int i = 0; i < batch.size(); i++) {
            body.append(i == 0 ? "" : ",").append('"').append(batch.get(i).digest().hash()).append('/')
                    .append(batch.get(i).digest().sizeBytes()).append('"');
        }
        body.append("]}");
        long start = System.nanoTime();
        try {
            HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(base + "/v1/validate"))
                    .timeout(Duration.ofSeconds(60))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build(),
                    HttpResponse.BodyHandlers.ofString());
            latenciesMicros.add((System.nanoTime() - start) / 1000);
            statuses.computeIfAbsent(String.valueOf(response.statusCode()), k -> new LongAdder()).increment();
            if (response.statusCode() != 200) {
                return;
            }
            requests.increment();
            judge(json.readTree(response.body()).get("results"), batch, throughProxy, mode);
        } catch (IOException e) {
            statuses.computeIfAbsent("io-error " + e.getClass().getSimpleName(), k -> new LongAdder()).increment();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void judge(JsonNode results, List<Action> batch, boolean throughProxy, String mode) {
        for (int i = 0; i < batch.size(); i++) {
            JsonNode result = results.get(i);
            String verdict = result.get("verdict").asString();
            Truth truth = truthByHash.get(result.get("action").get("hash").asString());
            String path = throughProxy ? "proxied" : "direct";
            verdicts.computeIfAbsent(path + " " + verdict, k -> new LongAdder()).increment();
            if (verdict.equals("HIT") && truth != Truth.HIT) {
                falseHits.increment();
                example("FALSE HIT", path, mode, result, truth);
            }
            if (verdict.equals("UNKNOWN")) {
                unknownReasons.computeIfAbsent(path + ": " + shorten(result.get("reason").asString()),
                        k -> new LongAdder()).increment();
            } else if (!verdict.equals(truth.name())) {
                // a decided verdict must be the truth on either path: a proxy fault may only make it UNKNOWN
                if (throughProxy) {
                    faultyPathLies.increment();
                } else {
                    healthyPathWrong.increment();
                }
                example("WRONG", path, mode, result, truth);
            }
        }
    }

    private void example(String what, String path, String mode, JsonNode result, Truth truth) {
        if (examples.size() < 10) {
            examples.add(what + " (" + path + ", " + mode + ", truth " + truth + "): " + result);
        }
    }

    private static final Pattern HEX = Pattern.compile("[0-9a-f]{64}(/\\d+)?");
    private static final Pattern NUMBER = Pattern.compile("\\d+");

    /** A reason without digests and numbers, so that like reasons count together. */
    private static String shorten(String reason) {
        String general = NUMBER.matcher(HEX.matcher(reason).replaceAll("<digest>")).replaceAll("N");
        return general.length() > 140 ? general.substring(0, 140) + "..." : general;
    }

    private void resetCounts() {
        requests.reset();
        statuses.clear();
        verdicts.clear();
        unknownReasons.clear();
        latenciesMicros.clear();
        // false HITs and wrong verdicts of the warm-up stay counted: they are failures all the same
    }

    // --- report

    private void report(Duration took, int concurrency, Memory start, Memory end, FaultProxy proxy) {
        long[] latencies = latenciesMicros.stream().mapToLong(Long::longValue).sorted().toArray();
        print("==== soak summary ====");
        print("duration                 %ds under faults (after %ds warm-up), %d concurrent clients",
                took.toSeconds(), WARM_UP.toSeconds(), concurrency);
        print("requests served (200)    %d (%.1f/s); HTTP statuses %s", requests.sum(),
                requests.sum() / Math.max(1.0, took.toMillis() / 1000.0), sums(statuses));
        print("verdicts                 %s", sums(verdicts));
        print("false HITs               %d", falseHits.sum());
        print("wrong verdicts, direct   %d (the healthy path must always be exact)", healthyPathWrong.sum());
        print("wrong verdicts, proxied  %d (a fault may only make a verdict UNKNOWN)", faultyPathLies.sum());
        print("latency per request      p50 %s  p99 %s  max %s", ms(percentile(latencies, 50)),
                ms(percentile(latencies, 99)), ms(latencies.length == 0 ? 0 : latencies[latencies.length - 1]));
        print("proxy connections        %d accepted", proxy.accepted());
        print("heap used after full GC  start %s, end %s (%+.1f MiB)", mib(start.heapUsedKib()), mib(end.heapUsedKib()),
                (end.heapUsedKib() - start.heapUsedKib()) / 1024.0);
        print("RSS                      start %s, end %s", mib(start.rssKib()), mib(end.rssKib()));
        print("UNKNOWN reasons (top):");
        unknownReasons.entrySet().stream()
                .sorted((a, b) -> Long.compare(b.getValue().sum(), a.getValue().sum()))
                .limit(8)
                .forEach(e -> print("  %7d  %s", e.getValue().sum(), e.getKey()));
        examples.forEach(e -> print("example: %s", e));
        print("RESULT: %s", falseHits.sum() == 0 && healthyPathWrong.sum() == 0 ? "PASS" : "FAIL");
    }

    private static long percentile(long[] sorted, int p) {
        if (sorted.length == 0) {
            return 0;
        }
        return sorted[(int) Math.min(sorted.length - 1, Math.ceil(p / 100.0 * sorted.length) - 1)];
    }

    private static String ms(long micros) {
        return String.format("%.1f ms", micros / 1000.0);
    }

    private static String mib(long kib) {
        return String.format("%.1f MiB", kib / 1024.0);
    }

    private static Map<String, Long> sums(Map<String, LongAdder> counters) {
        Map<String, Long> out = new TreeMap<>();
        counters.forEach((k, v) -> out.put(k, v.sum()));
        return out;
    }

    private static Map<Truth, Long> count(List<Action> actions) {
        Map<Truth, Long> out = new LinkedHashMap<>();
        actions.forEach(a -> out.merge(a.truth(), 1L, Long::sum));
        return out;
    }

    private static void print(String format, Object... args) {
        System.out.println(String.format(format, args));
        System.out.flush();
    }

    private static byte[] bytes(Random random, int size) {
        byte[] bytes = new byte[size];
        random.nextBytes(bytes);
        return bytes;
    }

    private static Digest sha(byte[] bytes) {
        return DigestFunction.SHA256.digestOf(bytes);
    }

    /** The Vouch JVM's heap after a full GC (jcmd) and its resident set (/proc). */
    record Memory(long heapUsedKib, long rssKib) {
        private static final Pattern USED = Pattern.compile("total \\d+K, used (\\d+)K");

        static Memory of(long pid) throws IOException, InterruptedException {
            jcmd(pid, "GC.run");
            String heap = jcmd(pid, "GC.heap_info");
            long used = 0;
            Matcher m = USED.matcher(heap);
            while (m.find()) {
                used += Long.parseLong(m.group(1));
            }
            long rss = Files.readAllLines(Path.of("/proc/" + pid + "/status")).stream()
                    .filter(line -> line.startsWith("VmRSS:"))
                    .map(line -> Long.parseLong(line.replaceAll("\\D", "")))
                    .findFirst().orElse(-1L);
            return new Memory(used, rss);
        }

        private static String jcmd(long pid, String command) throws IOException, InterruptedException {
            Process process = new ProcessBuilder("jcmd", String.valueOf(pid), command).redirectErrorStream(true).start();
            String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            process.waitFor();
            return out;
        }
    }
}
