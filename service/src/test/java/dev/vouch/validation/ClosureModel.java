package dev.vouch.validation;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.Directory;
import build.bazel.remote.execution.v2.DirectoryNode;
import build.bazel.remote.execution.v2.FileNode;
import build.bazel.remote.execution.v2.OutputDirectory;
import build.bazel.remote.execution.v2.OutputFile;
import build.bazel.remote.execution.v2.Tree;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

/**
 * A random cache for the property test, with its ground truth: ActionResults whose closures mix
 * output files, Tree outputs with nested children, root_directory outputs, stdout and stderr,
 * shared and empty blobs; each blob present, absent or corrupt; each AC entry present or absent.
 * The expected verdict of every action is computed here, from the model alone, never from the engine.
 */
final class ClosureModel {
    enum State { PRESENT, ABSENT, CORRUPT }

    /** The truth about one action: its verdict, the blobs the engine can know are missing or corrupt, its whole closure. */
    record Truth(Verdict verdict, Set<Digest> missing, Set<Digest> corrupt, Set<Digest> closure) {
    }

    record Action(String name, Digest digest, ActionResult result, boolean stored) {
    }

    private final Random random;
    private final boolean fetch;
    final Map<Digest, byte[]> contents = new LinkedHashMap<>();
    final Map<Digest, State> states = new HashMap<>();
    // Tree blobs and Directory blobs, by digest, for the truth walk
    private final Map<Digest, Tree> trees = new HashMap<>();
    private final Map<Digest, Directory> directories = new HashMap<>();
    final List<Action> actions = new ArrayList<>();
    final List<Digest> request = new ArrayList<>();
    private final List<Digest> filePool = new ArrayList<>();
    private int names;

    /**
     * @param fetch whether the engine runs in mode FETCH; in EXISTENCE only file blobs are stored
     *     corrupt, since that mode trusts the bytes of Tree and Directory blobs by contract
     */
    ClosureModel(long seed, boolean fetch) {
        this.random = new Random(seed);
        this.fetch = fetch;
        int files = 1 + random.nextInt(6);
        for (int i = 0; i < files; i++) {
            byte[] bytes = new byte[random.nextInt(8) == 0 ? 0 : 1 + random.nextInt(24)];
            random.nextBytes(bytes);
            filePool.add(register(bytes, true));
        }
        int count = 1 + random.nextInt(4);
        for (int i = 0; i < count; i++) {
            String name = "action-" + i;
            Digest digest = DigestFunction.SHA256.digestOf(("action " + name).getBytes());
            actions.add(new Action(name, digest, actionResult(), random.nextInt(6) != 0));
        }
        // actions nobody stored, and duplicates, are part of every kind of request
        List<Digest> choices = new ArrayList<>(actions.stream().map(Action::digest).toList());
        choices.add(DigestFunction.SHA256.digestOf(("never stored " + seed).getBytes()));
        int positions = 1 + random.nextInt(6);
        for (int i = 0; i < positions; i++) {
            request.add(choices.get(random.nextInt(choices.size())));
        }
    }

    private ActionResult actionResult() {
        ActionResult.Builder result = ActionResult.newBuilder();
        int files = random.nextInt(4);
        for (int i = 0; i < files; i++) {
            result.addOutputFiles(OutputFile.newBuilder().setPath("out/f" + i).setDigest(pickFile().toProto()));
        }
        if (random.nextInt(3) == 0) {
            result.setStdoutDigest(pickFile().toProto());
        }
        if (random.nextInt(3) == 0) {
            result.setStderrDigest(pickFile().toProto());
        }
        int outputs = random.nextInt(3);
        for (int i = 0; i < outputs; i++) {
            String path = "out/d" + i;
            Directory root = directory(2);
            if (random.nextBoolean()) {
                Tree.Builder tree = Tree.newBuilder().setRoot(root);
                Set<Directory> children = new LinkedHashSet<>();
                collectChildren(root, children);
                tree.addAllChildren(children);
                Tree built = tree.build();
                Digest digest = register(built.toByteArray(), fetch);
                trees.put(digest, built);
                result.addOutputDirectories(OutputDirectory.newBuilder().setPath(path).setTreeDigest(digest.toProto()));
            } else {
                Digest digest = storeDirectories(root);
                result.addOutputDirectories(OutputDirectory.newBuilder().setPath(path)
                        .setRootDirectoryDigest(digest.toProto()));
            }
        }
        return result.build();
    }

    // directories are built bottom-up, so a child's digest is known when its parent names it
    private final Map<Digest, Directory> built = new HashMap<>();

    private Directory directory(int depth) {
        Directory.Builder dir = Directory.newBuilder();
        int files = random.nextInt(3);
        for (int i = 0; i < files; i++) {
            dir.addFiles(FileNode.newBuilder().setName("file" + i).setDigest(pickFile().toProto()));
        }
        int subdirs = depth == 0 ? 0 : random.nextInt(3);
        for (int i = 0; i < subdirs; i++) {
            Directory child = directory(depth - 1);
            Digest digest = DigestFunction.SHA256.digestOf(child.toByteArray());
            built.put(digest, child);
            dir.addDirectories(DirectoryNode.newBuilder().setName("sub" + i).setDigest(digest.toProto()));
        }
        return dir.build();
    }

    private void collectChildren(Directory directory, Set<Directory> children) {
        for (DirectoryNode node : directory.getDirectoriesList()) {
            Directory child = built.get(Digest.fromProto(node.getDigest()));
            if (children.add(child)) {
                collectChildren(child, children);
            }
        }
    }

    /** Stores a directory and everything below it as Directory blobs; returns the root's digest. */
    private Digest storeDirectories(Directory directory) {
        for (DirectoryNode node : directory.getDirectoriesList()) {
            storeDirectories(built.get(Digest.fromProto(node.getDigest())));
        }
        Digest digest = register(directory.toByteArray(), fetch);
        directories.put(digest, directory);
        return digest;
    }

    private Digest pickFile() {
        // a new blob now and then, otherwise one shared with other outputs and actions
        if (random.nextInt(4) == 0) {
            byte[] bytes = new byte[1 + random.nextInt(24)];
            random.nextBytes(bytes);
            Digest digest = register(bytes, true);
            filePool.add(digest);
            return digest;
        }
        return filePool.get(random.nextInt(filePool.size()));
    }

    /** A blob with its stored state, drawn once per distinct digest; the empty blob is always present. */
    private Digest register(byte[] bytes, boolean mayBeCorrupt) {
        Digest digest = DigestFunction.SHA256.digestOf(bytes);
        if (!contents.containsKey(digest)) {
            contents.put(digest, bytes);
            int roll = random.nextInt(10);
            State state = digest.isEmptyBlob(DigestFunction.SHA256) || roll < 7 ? State.PRESENT
                    : roll < 9 || !mayBeCorrupt ? State.ABSENT : State.CORRUPT;
            states.put(digest, state);
        }
        return digest;
    }

    /** What the CAS holds under {@code digest}: the blob, a damaged copy, or nothing. */
    byte[] stored(Digest digest) {
        return switch (states.get(digest)) {
            case PRESENT -> contents.get(digest);
            case ABSENT -> null;
            case CORRUPT -> {
                // damaged at the first byte, so an injected flip in the middle cannot repair it
                byte[] damaged = contents.get(digest).clone();
                damaged[0] ^= 0x5a;
                yield damaged;
            }
        };
    }

    Action action(Digest digest) {
        return actions.stream().filter(a -> a.digest().equals(digest)).findFirst().orElse(null);
    }

    /** The verdict a correct engine gives {@code action} when the backend answers every call truthfully. */
    Truth truth(Digest actionDigest) {
        Action action = action(actionDigest);
        if (action == null || !action.stored()) {
            return new Truth(Verdict.MISS, Set.of(), Set.of(), Set.of());
        }
        ActionResult result = action.result();
        Set<Digest> known = new LinkedHashSet<>();
        Set<Digest> closure = new LinkedHashSet<>();
        Set<Digest> missing = new LinkedHashSet<>();
        Set<Digest> corrupt = new LinkedHashSet<>();
        result.getOutputFilesList().forEach(f -> known.add(Digest.fromProto(f.getDigest())));
        if (result.hasStdoutDigest()) {
            known.add(Digest.fromProto(result.getStdoutDigest()));
        }
        if (result.hasStderrDigest()) {
            known.add(Digest.fromProto(result.getStderrDigest()));
        }
        for (OutputDirectory output : result.getOutputDirectoriesList()) {
            if (output.hasTreeDigest()) {
                Digest treeDigest = Digest.fromProto(output.getTreeDigest());
                known.add(treeDigest);
                Tree tree = trees.get(treeDigest);
                Set<Digest> treeFiles = new LinkedHashSet<>();
                // a Tree holds its sub-directories inline: only its files are blobs of the closure
                filesBelow(tree.getRoot(), treeFiles, false);
                closure.addAll(treeFiles);
                // the files of a tree the engine cannot read (absent, or corrupt in FETCH) are unknowable
                if (readable(treeDigest)) {
                    known.addAll(treeFiles);
                }
            } else {
                Deque<Digest> pending = new ArrayDeque<>();
                pending.add(Digest.fromProto(output.getRootDirectoryDigest()));
                while (!pending.isEmpty()) {
                    Digest dirDigest = pending.poll();
                    known.add(dirDigest);
                    Directory dir = dirDigest.isEmptyBlob(DigestFunction.SHA256) ? Directory.getDefaultInstance() : directories.get(dirDigest);
                    Set<Digest> below = new LinkedHashSet<>();
                    filesBelow(dir, below, true);
                    closure.addAll(below);
                    if (!readable(dirDigest)) {
                        continue;
                    }
                    dir.getFilesList().forEach(f -> known.add(Digest.fromProto(f.getDigest())));
                    dir.getDirectoriesList().forEach(d -> pending.add(Digest.fromProto(d.getDigest())));
                }
            }
        }
        closure.addAll(known);
        for (Digest digest : known) {
            State state = states.get(digest);
            if (state == State.ABSENT) {
                missing.add(digest);
            } else if (state == State.CORRUPT && fetch) {
                corrupt.add(digest);
            }
        }
        Verdict verdict = missing.isEmpty() && corrupt.isEmpty() ? Verdict.HIT : Verdict.PARTIAL;
        return new Truth(verdict, missing, corrupt, closure);
    }

    private boolean readable(Digest digest) {
        State state = states.get(digest);
        return state == State.PRESENT || state == State.CORRUPT && !fetch;
    }

    /** Every file blob below a directory, and the Directory blobs of its sub-directories when {@code directoryBlobs}. */
    private void filesBelow(Directory directory, Set<Digest> out, boolean directoryBlobs) {
        directory.getFilesList().forEach(f -> out.add(Digest.fromProto(f.getDigest())));
        for (DirectoryNode node : directory.getDirectoriesList()) {
            Digest child = Digest.fromProto(node.getDigest());
            if (directoryBlobs) {
                out.add(child);
            }
            filesBelow(child.isEmptyBlob(DigestFunction.SHA256) ? Directory.getDefaultInstance() : built.get(child), out, directoryBlobs);
        }
    }

    @Override
    public String toString() {
        StringBuilder out = new StringBuilder("model: ");
        for (Action action : actions) {
            out.append("\n  ").append(action.name()).append(' ').append(action.digest())
                    .append(action.stored() ? " stored: " : " NOT stored: ")
                    .append(action.result().toString().replace('\n', ' '));
        }
        out.append("\n  blob states: ").append(states);
        out.append("\n  request: ").append(request);
        return out.toString();
    }
}
