package dev.vouch.bench;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.Digest;
import build.bazel.remote.execution.v2.Directory;
import build.bazel.remote.execution.v2.FileNode;
import build.bazel.remote.execution.v2.OutputDirectory;
import build.bazel.remote.execution.v2.OutputFile;
import build.bazel.remote.execution.v2.Tree;
import com.google.protobuf.ByteString;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * The seeded workload, deterministic from its {@link Spec}: actions whose ActionResult has
 * {@code files} output files and one output directory (a Tree blob whose root holds
 * {@code treeFiles} files), so {@code files + 1 + treeFiles} blobs per action. Blob contents are
 * regenerated from their id on demand, so only digests are kept in memory.
 *
 * <p>Blob ids: {@code [0, pool)} is the shared pool, then the blobs of one action each. A PARTIAL
 * action's first one or two output files are blobs of its own that are never uploaded, so its
 * expected missing set is exactly those; a MISS action gets no AC entry (and no blobs).
 */
public final class Workload {

    public enum Verdict { HIT, MISS, PARTIAL }

    /**
     * @param bigTrees how many actions (HIT ones, spread over the set) get a Tree of {@code bigTreeFiles} files
     */
    public record Spec(long seed, int actions, int files, int treeFiles, double shared, int pool,
            double partial, double miss, int blobBytes, int bigTrees, int bigTreeFiles) {

        public static Spec standard(long seed) {
            return new Spec(seed, 2_000, 12, 39, 0.30, 1_000, 0.05, 0.05, 64, 0, 10_000);
        }

        /**
         * 100k actions, ~1 MB referenced per closure (51 file blobs of 20 kB), 20 Trees of 10k
         * files; blobs are shared heavily (98%, from a pool of 20k) so the store holds ~220k files.
         */
        public static Spec large(long seed) {
            return new Spec(seed, 100_000, 12, 39, 0.98, 20_000, 0.05, 0.05, 20_000, 20, 10_000);
        }

        public int blobsPerAction() {
            return files + 1 + treeFiles;
        }
    }

    /** One action: its digest, expected verdict, and (unless MISS) its result's blob ids. */
    public record Action(int index, Digest digest, Verdict verdict, int[] fileBlobs, int[] treeFileBlobs,
            Digest treeDigest, int[] missingBlobs) {
    }

    private final Spec spec;
    private final List<Action> actions;
    private final int blobCount;
    private final Digest[] blobDigests;
    /** Blobs referenced by an AC entry that are never uploaded. */
    private final BitSet neverUploaded = new BitSet();
    private final BitSet referenced = new BitSet();

    public Workload(Spec spec) {
        if (spec.actions() < 1 || spec.files() < 0 || spec.treeFiles() < 0 || spec.files() + spec.treeFiles() < 1) {
            throw new IllegalArgumentException("a workload needs at least one action and one blob per action: " + spec);
        }
        if (spec.partial() + spec.miss() > 1 || spec.partial() < 0 || spec.miss() < 0) {
            throw new IllegalArgumentException("--partial + --miss must be within [0, 1]: " + spec);
        }
        if (spec.partial() > 0 && spec.files() < 2) {
            throw new IllegalArgumentException("PARTIAL actions need --files >= 2 (their first output files go missing)");
        }
        this.spec = spec;
        SplittableRandom random = new SplittableRandom(spec.seed());
        int n = spec.actions();
        int partialCount = (int) Math.round(n * spec.partial());
        int missCount = (int) Math.round(n * spec.miss());
        // Exact counts, positions shuffled deterministically: PARTIAL first, then MISS, then HIT.
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        for (int i = n - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        Verdict[] verdicts = new Verdict[n];
        Arrays.fill(verdicts, Verdict.HIT);
        for (int k = 0; k < partialCount; k++) {
            verdicts[order[k]] = Verdict.PARTIAL;
        }
        for (int k = partialCount; k < partialCount + missCount; k++) {
            verdicts[order[k]] = Verdict.MISS;
        }
        int bigLeft = spec.bigTrees();
        int bigEvery = spec.bigTrees() > 0 ? Math.max(1, n / spec.bigTrees()) : Integer.MAX_VALUE;

        int next = spec.pool();
        List<Action> list = new ArrayList<>(n);
        List<int[]> treeFilesOf = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            Digest actionDigest = digestOf(("vouch-bench action " + spec.seed() + "/" + i).getBytes(StandardCharsets.UTF_8));
            if (verdicts[i] == Verdict.MISS) {
                list.add(new Action(i, actionDigest, Verdict.MISS, new int[0], new int[0], null, new int[0]));
                treeFilesOf.add(null);
                continue;
            }
            int treeFiles = spec.treeFiles();
            if (bigLeft > 0 && verdicts[i] == Verdict.HIT && i % bigEvery == 0) {
                treeFiles = spec.bigTreeFiles();
                bigLeft--;
            }
            int missingCount = verdicts[i] == Verdict.PARTIAL ? 1 + random.nextInt(2) : 0;
            int[] fileBlobs = new int[spec.files()];
            int[] treeBlobs = new int[treeFiles];
            // distinct pool picks within one closure, so an action's closure has exactly its blob count
            Set<Integer> picked = new java.util.HashSet<>();
            int[] missing = new int[missingCount];
            for (int f = 0; f < fileBlobs.length + treeBlobs.length; f++) {
                int id;
                if (f < missingCount) {
                    id = next++;
                    missing[f] = id;
                    neverUploaded.set(id);
                } else if (spec.pool() > picked.size() && random.nextDouble() < spec.shared()) {
                    int p;
                    do {
                        p = random.nextInt(spec.pool());
                    } while (!picked.add(p));
                    id = p;
                } else {
                    id = next++;
                }
                referenced.set(id);
                if (f < fileBlobs.length) {
                    fileBlobs[f] = id;
                } else {
                    treeBlobs[f - fileBlobs.length] = id;
                }
            }
            list.add(new Action(i, actionDigest, verdicts[i], fileBlobs, treeBlobs, null, missing));
            treeFilesOf.add(treeBlobs);
        }
        this.blobCount = next;
        this.blobDigests = new Digest[next];
        // Tree digests need the file digests; done after all ids are known.
        List<Action> done = new ArrayList<>(n);
        for (Action a : list) {
            if (a.verdict() == Verdict.MISS) {
                done.add(a);
            } else {
                Digest tree = digestOf(treeBytes(a.treeFileBlobs()).toByteArray());
                done.add(new Action(a.index(), a.digest(), a.verdict(), a.fileBlobs(), a.treeFileBlobs(), tree,
                        a.missingBlobs()));
            }
        }
        this.actions = List.copyOf(done);
    }

    public Spec spec() {
        return spec;
    }

    public List<Action> actions() {
        return actions;
    }

    /** Number of blob ids (pool and per-action blobs, Tree blobs not included). */
    public int blobCount() {
        return blobCount;
    }

    public boolean isReferenced(int blob) {
        return referenced.get(blob);
    }

    public boolean isUploaded(int blob) {
        return referenced.get(blob) && !neverUploaded.get(blob);
    }

    /** The content of blob {@code id}: {@code blobBytes} pseudo-random bytes from the seed and the id. */
    public byte[] blobContent(int id) {
        byte[] b = new byte[spec.blobBytes()];
        new SplittableRandom(spec.seed() * 0x9E3779B97F4A7C15L + id).nextBytes(b);
        return b;
    }

    public synchronized Digest blobDigest(int id) {
        Digest d = blobDigests[id];
        if (d == null) {
            d = digestOf(blobContent(id));
            blobDigests[id] = d;
        }
        return d;
    }

    /** The serialized Tree of an output directory whose root holds these blobs as files. */
    public ByteString treeBytes(int[] treeFileBlobs) {
        Directory.Builder root = Directory.newBuilder();
        for (int j = 0; j < treeFileBlobs.length; j++) {
            root.addFiles(FileNode.newBuilder().setName("f" + (100_000 + j) + ".o").setDigest(blobDigest(treeFileBlobs[j])));
        }
        return Tree.newBuilder().setRoot(root).build().toByteString();
    }

    public ActionResult actionResult(Action a) {
        ActionResult.Builder r = ActionResult.newBuilder();
        for (int f = 0; f < a.fileBlobs().length; f++) {
            r.addOutputFiles(OutputFile.newBuilder().setPath("bazel-out/k8-fastbuild/bin/a" + a.index() + "/out" + f + ".o")
                    .setDigest(blobDigest(a.fileBlobs()[f])));
        }
        r.addOutputDirectories(OutputDirectory.newBuilder().setPath("bazel-out/k8-fastbuild/bin/a" + a.index() + "/dir")
                .setTreeDigest(a.treeDigest()));
        return r.build();
    }

    /** The digests of an action's closure (output files, Tree blob, Tree files), duplicates removed. */
    public Set<Digest> closure(Action a) {
        Set<Digest> s = new LinkedHashSet<>();
        for (int id : a.fileBlobs()) {
            s.add(blobDigest(id));
        }
        if (a.treeDigest() != null) {
            s.add(a.treeDigest());
        }
        for (int id : a.treeFileBlobs()) {
            s.add(blobDigest(id));
        }
        return s;
    }

    public Set<Digest> expectedMissing(Action a) {
        Set<Digest> s = new LinkedHashSet<>();
        for (int id : a.missingBlobs()) {
            s.add(blobDigest(id));
        }
        return s;
    }

    /** Every digest of every closure, each once (the set raw FindMissingBlobs is measured on). */
    public List<Digest> unionOfClosures() {
        Set<Digest> s = new LinkedHashSet<>();
        for (Action a : actions) {
            s.addAll(closure(a));
        }
        return new ArrayList<>(s);
    }

    public long count(Verdict v) {
        return actions.stream().filter(a -> a.verdict() == v).count();
    }

    private static final ThreadLocal<MessageDigest> SHA256 = ThreadLocal.withInitial(() -> {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    });

    static Digest digestOf(byte[] data) {
        byte[] h = SHA256.get().digest(data);
        return Digest.newBuilder().setHash(HexFormat.of().formatHex(h)).setSizeBytes(data.length).build();
    }
}
