package dev.vouch.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.Directory;
import build.bazel.remote.execution.v2.FileNode;
import build.bazel.remote.execution.v2.Tree;
import dev.vouch.digest.Digest;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import tools.jackson.databind.JsonNode;

/** What the end-to-end tests ask of Bazel's results and of Vouch's JSON answers about them. */
final class E2eVerdicts {

    private E2eVerdicts() {
    }

    /** A PARTIAL result that names exactly one missing blob, with its kind and single path. */
    static void assertSingleMissing(JsonNode result, Digest digest, String kind, String path) {
        assertThat(result.get("verdict").asString()).as(result.toString()).isEqualTo("PARTIAL");
        JsonNode missing = result.get("missing");
        assertThat(missing).as(result.toString()).hasSize(1);
        assertThat(missing.get(0).get("hash").asString()).isEqualTo(digest.hash());
        assertThat(missing.get(0).get("sizeBytes").asLong()).isEqualTo(digest.sizeBytes());
        assertThat(missing.get(0).get("kind").asString()).isEqualTo(kind);
        assertThat(missing.get(0).get("paths")).extracting(JsonNode::asString).containsExactly(path);
    }

    /** The results of a validation response keyed by their action. */
    static Map<Digest, JsonNode> byAction(JsonNode body) {
        Map<Digest, JsonNode> map = new HashMap<>();
        for (JsonNode r : body.get("results")) {
            map.put(new Digest(r.at("/action/hash").asString(), r.at("/action/sizeBytes").asLong()), r);
        }
        return map;
    }

    /** The action whose result has an output file named {@code name} (the workspace's names are unique). */
    static Digest actionWithOutputFile(Collection<Digest> actions, Map<Digest, ActionResult> results, String name) {
        return actions.stream().filter(a -> results.get(a).getOutputFilesList().stream()
                .anyMatch(f -> f.getPath().endsWith("/" + name))).findFirst().orElseThrow();
    }

    /** sub/deeper/leaf.txt of the tree rule: two levels below the root, so nesting is exercised. */
    static FileNode leafFile(Tree tree) {
        List<FileNode> named = new ArrayList<>();
        for (Directory d : tree.getChildrenList()) {
            d.getFilesList().stream().filter(f -> f.getName().equals("leaf.txt")).forEach(named::add);
        }
        assertThat(named).hasSize(1);
        return named.get(0);
    }

    static String[] concat(String[] flags, String... more) {
        return Stream.concat(Stream.of(flags), Stream.of(more)).toArray(String[]::new);
    }
}
