package dev.vouch.jmh;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.Directory;
import build.bazel.remote.execution.v2.DirectoryNode;
import build.bazel.remote.execution.v2.FileNode;
import build.bazel.remote.execution.v2.OutputDirectory;
import build.bazel.remote.execution.v2.OutputFile;
import build.bazel.remote.execution.v2.Tree;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

/**
 * The workload shape of issue 11, the same for every seed-equal run: {@link #ACTIONS} actions of
 * {@link #BLOBS_PER_ACTION} blobs each ({@link #OUTPUT_FILES} output files, and one output directory
 * whose Tree is a blob too and lists {@link #TREE_FILES} files: 9 at its root, 10 in each of 3
 * subdirectories), about {@link #SHARED_PERCENT}% of the file blobs drawn from a pool that all
 * actions share, in batches of {@link #BATCH}. In every batch 5 actions have no Action Cache entry
 * (MISS) and 5 lack one blob of their own (PARTIAL).
 *
 * <p>Only Trees have bytes (the validator reads them in mode EXISTENCE); file blobs are digests
 * with sizes between 100 B and 1 MB, which mode EXISTENCE never reads.
 */
public final class Workload {
    public static final int ACTIONS = 2_000;
    public static final int BATCH = 100;
    public static final int OUTPUT_FILES = 12;
    public static final int TREE_FILES = 39;
    public static final int BLOBS_PER_ACTION = OUTPUT_FILES + 1 + TREE_FILES;
    public static final int SHARED_PERCENT = 30;
    /** Blobs in the shared pool (common headers, libraries): each shared reference is one of these. */
    public static final int SHARED_POOL = 2_000;
    private static final int ROOT_FILES = 9;
    private static final int SUBDIRECTORIES = 3;
    private static final DigestFunction SHA256 = DigestFunction.SHA256;

    /**
     * One action of the workload.
     *
     * @param inActionCache false for a MISS: the backend has no entry for it
     * @param absent the one blob of its closure the CAS lacks (a PARTIAL), or null
     * @param closureBytes the sizes of its 52 blobs added up, as a verdict's bytesReferenced counts them
     */
    public record Action(Digest digest, ActionResult result, Digest tree, byte[] treeBytes, List<Digest> files,
            boolean inActionCache, Digest absent, long closureBytes) {
        /** The 52 digests of the closure, in the order the validator meets them. */
        public List<Digest> closure() {
            List<Digest> all = new ArrayList<>(BLOBS_PER_ACTION);
            all.addAll(files.subList(0, OUTPUT_FILES));
            all.add(tree);
            all.addAll(files.subList(OUTPUT_FILES, files.size()));
            return all;
        }
    }

    private final List<Action> actions;

    private Workload(List<Action> actions) {
        this.actions = List.copyOf(actions);
    }

    public static Workload generate(long seed) {
        Random random = new Random(seed);
        List<Digest> pool = new ArrayList<>(SHARED_POOL);
        for (int i = 0; i < SHARED_POOL; i++) {
            pool.add(fileDigest("shared " + i, random));
        }
        List<Action> actions = new ArrayList<>(ACTIONS);
        for (int i = 0; i < ACTIONS; i++) {
            actions.add(action(i, pool, random));
        }
        return new Workload(actions);
    }

    public List<Action> actions() {
        return actions;
    }

    /** The actions in consecutive batches of {@link #BATCH}, as a client sends them. */
    public List<List<Action>> batches() {
        List<List<Action>> batches = new ArrayList<>();
        for (int from = 0; from < actions.size(); from += BATCH) {
            batches.add(actions.subList(from, Math.min(actions.size(), from + BATCH)));
        }
        return batches;
    }

    private static Action action(int index, List<Digest> pool, Random random) {
        // the files of one action are distinct, so each closure has exactly 52 blobs
        Set<Digest> files = new LinkedHashSet<>();
        Digest ownFile = null;
        while (files.size() < OUTPUT_FILES + TREE_FILES) {
            Digest file = random.nextInt(100) < SHARED_PERCENT
                    ? pool.get(random.nextInt(pool.size()))
                    : fileDigest("action " + index + " file " + files.size(), random);
            if (files.add(file) && ownFile == null && !pool.contains(file)) {
                ownFile = file;
            }
        }
        List<Digest> fileList = List.copyOf(files);
        boolean miss = index % 20 == 13;
        // the blob a PARTIAL lacks is one of its own, so no other action of the batch is PARTIAL by it
        Digest absent = index % 20 == 7 ? ownFile : null;

        String out = "bazel-out/k8-fastbuild/bin/pkg" + index + "/";
        ActionResult.Builder result = ActionResult.newBuilder();
        for (int f = 0; f < OUTPUT_FILES; f++) {
            result.addOutputFiles(OutputFile.newBuilder().setPath(out + "lib" + f + ".o")
                    .setDigest(fileList.get(f).toProto()));
        }
        byte[] treeBytes = tree(fileList.subList(OUTPUT_FILES, fileList.size())).toByteArray();
        Digest tree = SHA256.digestOf(treeBytes);
        result.addOutputDirectories(OutputDirectory.newBuilder().setPath(out + "gen").setTreeDigest(tree.toProto()));
        long bytes = tree.sizeBytes() + fileList.stream().mapToLong(Digest::sizeBytes).sum();
        Digest action = SHA256.digestOf(("action " + index).getBytes(StandardCharsets.UTF_8));
        return new Action(action, result.build(), tree, treeBytes, fileList, !miss, absent, bytes);
    }

    /** A Tree of {@code files}: some at its root, the rest spread over its subdirectories. */
    private static Tree tree(List<Digest> files) {
        Directory.Builder root = Directory.newBuilder();
        for (int f = 0; f < ROOT_FILES; f++) {
            root.addFiles(fileNode("gen" + f + ".h", files.get(f)));
        }
        Tree.Builder tree = Tree.newBuilder();
        int perDirectory = (files.size() - ROOT_FILES) / SUBDIRECTORIES;
        for (int d = 0; d < SUBDIRECTORIES; d++) {
            Directory.Builder child = Directory.newBuilder();
            int from = ROOT_FILES + d * perDirectory;
            int to = d == SUBDIRECTORIES - 1 ? files.size() : from + perDirectory;
            for (int f = from; f < to; f++) {
                child.addFiles(fileNode("src" + f + ".cc", files.get(f)));
            }
            Directory built = child.build();
            root.addDirectories(DirectoryNode.newBuilder().setName("part" + d)
                    .setDigest(SHA256.digestOf(built.toByteArray()).toProto()));
            tree.addChildren(built);
        }
        return tree.setRoot(root).build();
    }

    private static FileNode fileNode(String name, Digest digest) {
        return FileNode.newBuilder().setName(name).setDigest(digest.toProto()).build();
    }

    /** A file blob's digest: a real SHA-256 (of a name) with a size spread log-uniformly over 100 B to 1 MB. */
    private static Digest fileDigest(String name, Random random) {
        long size = (long) Math.pow(10, 2 + 4 * random.nextDouble());
        return new Digest(SHA256.digestOf(name.getBytes(StandardCharsets.UTF_8)).hash(), size);
    }

    /**
     * {@code count} distinct digests of 64-byte blobs named {@code prefix} 0, 1, ...; with
     * {@link #blobBytes} they are the blobs a store can hold.
     */
    public static List<Digest> blobDigests(String prefix, int from, int count) {
        List<Digest> digests = new ArrayList<>(count);
        for (int i = from; i < from + count; i++) {
            digests.add(blobDigest(prefix, i));
        }
        return digests;
    }

    /** The digest of blob {@code i} named {@code prefix}. */
    public static Digest blobDigest(String prefix, int i) {
        return SHA256.digestOf(blobBytes(prefix, i));
    }

    /** The 64 bytes of blob {@code i} named {@code prefix}. */
    public static byte[] blobBytes(String prefix, int i) {
        String text = String.format("%-63s\n", prefix + " " + i);
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        if (bytes.length != 64) {
            throw new IllegalArgumentException("blob name too long: " + prefix + " " + i);
        }
        return bytes;
    }
}
