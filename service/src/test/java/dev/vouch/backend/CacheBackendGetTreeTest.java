package dev.vouch.backend;

import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.Directory;
import build.bazel.remote.execution.v2.DirectoryNode;
import build.bazel.remote.execution.v2.FileNode;
import dev.vouch.backend.embedded.EmbeddedBackend;
import dev.vouch.backend.embedded.InMemoryBlobStore;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import reactor.test.StepVerifier;

/** The default {@link CacheBackend#getTree}: a walk with readDirectory that answers as REAPI GetTree does. */
class CacheBackendGetTreeTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(10);
    private static final Scope SCOPE = Scope.of("");

    private final InMemoryBlobStore store = new InMemoryBlobStore();
    private final CacheBackend backend = new EmbeddedBackend("embedded", store, 4 << 20);

    private Digest put(byte[] bytes) {
        Digest digest = DigestFunction.SHA256.digestOf(bytes);
        store.write(digest, bytes).block(TIMEOUT);
        return digest;
    }

    private Digest put(Directory directory) {
        return put(directory.toByteArray());
    }

    private Digest putFile(String content) {
        return put(content.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void everyReachableDirectoryOnceRootFirstMissingOneLeftOut() {
        Directory leaf = Directory.newBuilder().addFiles(file("leaf.txt", putFile("leaf"))).build();
        Digest leafDigest = put(leaf);
        Directory a = Directory.newBuilder().addDirectories(dir("leaf", leafDigest)).build();
        // b reaches the same leaf as a: it is listed once
        Directory b = Directory.newBuilder().addDirectories(dir("same-leaf", leafDigest))
                .addFiles(file("b.txt", putFile("b"))).build();
        Directory gone = Directory.newBuilder().addFiles(file("gone.txt", putFile("gone"))).build();
        Directory root = Directory.newBuilder()
                .addDirectories(dir("a", put(a)))
                .addDirectories(dir("b", put(b)))
                .addDirectories(dir("gone", DigestFunction.SHA256.digestOf(gone.toByteArray())))
                .build();

        StepVerifier.create(backend.getTree(SCOPE, put(root)))
                .expectNext(root, a, b, leaf)
                .expectComplete()
                .verify(TIMEOUT);
    }

    @Test
    void missingRootIsBlobNotFound() {
        Digest absent = DigestFunction.SHA256.digestOf(Directory.newBuilder()
                .addFiles(file("x", putFile("x"))).build().toByteArray());

        StepVerifier.create(backend.getTree(SCOPE, absent))
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(BlobNotFoundException.class))
                .verify(TIMEOUT);
    }

    @Test
    void emptyRootIsTheEmptyDirectory() {
        StepVerifier.create(backend.getTree(SCOPE, DigestFunction.SHA256.digestOf(new byte[0])))
                .expectNext(Directory.getDefaultInstance())
                .expectComplete()
                .verify(TIMEOUT);
    }

    private static FileNode file(String name, Digest digest) {
        return FileNode.newBuilder().setName(name).setDigest(digest.toProto()).build();
    }

    private static DirectoryNode dir(String name, Digest digest) {
        return DirectoryNode.newBuilder().setName(name).setDigest(digest.toProto()).build();
    }
}
