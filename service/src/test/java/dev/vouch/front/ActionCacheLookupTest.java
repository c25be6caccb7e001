package dev.vouch.front;

import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.ActionResult;
import build.bazel.remote.execution.v2.OutputFile;
import dev.vouch.backend.BackendRouter;
import dev.vouch.backend.Scope;
import dev.vouch.backend.embedded.EmbeddedBackend;
import dev.vouch.backend.embedded.InMemoryBlobStore;
import dev.vouch.config.VouchProperties;
import dev.vouch.config.VouchProperties.FrontCheck;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.validation.CompletenessValidator;
import dev.vouch.validation.PresenceWindow;
import dev.vouch.validation.Repairer;
import dev.vouch.validation.ValidationMetrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** What {@code vouch.front.check} makes of an Action Cache read: EXISTENCE, FETCH and NONE. */
class ActionCacheLookupTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(10);
    private static final Scope SCOPE = Scope.of("");

    private final InMemoryBlobStore store = new InMemoryBlobStore();
    private final BackendRouter router = instance -> new EmbeddedBackend(EmbeddedBackend.DEFAULT_NAME, store, 4 << 20);
    private final byte[] bytes = "object file".getBytes(StandardCharsets.UTF_8);
    private final Digest output = DigestFunction.SHA256.digestOf(bytes);
    private final ActionResult result = ActionResult.newBuilder()
            .addOutputFiles(OutputFile.newBuilder().setPath("out/a.o").setDigest(output.toProto())).build();
    private final Digest action = DigestFunction.SHA256.digestOf("cc -c a.c".getBytes(StandardCharsets.UTF_8));

    ActionCacheLookupTest() {
        store.write(output, bytes).block(TIMEOUT);
        store.putActionResult(action, result.toByteArray()).block(TIMEOUT);
    }

    @Test
    void existenceServesACompleteEntryAndNotAnIncompleteOne() {
        assertThat(lookUp(FrontCheck.EXISTENCE)).isEqualTo(new Lookup.Served(result));

        store.evictBlob(output);

        assertThat(lookUp(FrontCheck.EXISTENCE)).isInstanceOf(Lookup.NotFound.class);
    }

    /** Existence cannot see a blob whose bytes are wrong; FETCH reads them back and refuses the entry. */
    @Test
    void fetchRefusesAnEntryWithACorruptBlob() {
        store.corruptBlob(output, "object filf".getBytes(StandardCharsets.UTF_8));

        assertThat(lookUp(FrontCheck.EXISTENCE)).isEqualTo(new Lookup.Served(result));
        assertThat(lookUp(FrontCheck.FETCH)).isInstanceOf(Lookup.NotFound.class)
                .extracting(l -> ((Lookup.NotFound) l).why()).asString().contains("1 corrupt");
    }

    @Test
    void noneServesWhatTheBackendHas() {
        store.evictBlob(output);

        assertThat(lookUp(FrontCheck.NONE)).isEqualTo(new Lookup.Served(result));
        store.evictActionResult(action);
        assertThat(lookUp(FrontCheck.NONE)).isInstanceOf(Lookup.NotFound.class);
    }

    /** A backend that fails is Unavailable in every mode, NONE included: never the entry. */
    @Test
    void aFailingBackendIsUnavailable() {
        Scope sha1 = new Scope("", DigestFunction.SHA1);
        Digest sha1Action = new Digest("a".repeat(40), 1);
        for (FrontCheck check : FrontCheck.values()) {
            assertThat(lookup(check).lookUp(sha1, sha1Action).block(TIMEOUT)).as(check.name())
                    .isInstanceOf(Lookup.Unavailable.class);
        }
    }

    /** A blob the served backend lost and the second tier has is copied back, and the entry served. */
    @Test
    void aBlobTheSecondTierHasIsRepairedAndTheEntryServed() {
        InMemoryBlobStore durable = new InMemoryBlobStore();
        durable.write(output, bytes).block(TIMEOUT);
        store.evictBlob(output);
        SimpleMeterRegistry meters = new SimpleMeterRegistry();

        Lookup answer = repairing(durable, meters).lookUp(SCOPE, action).block(TIMEOUT);

        assertThat(answer).isEqualTo(new Lookup.Served(result));
        assertThat(store.contains(output).block(TIMEOUT)).isTrue();
        assertThat(meters.get("vouch.blobs.repaired").tag("backend", "embedded").counter().count()).isEqualTo(1);
    }

    @Test
    void aBlobNeitherTierHasLeavesTheEntryUnserved() {
        store.evictBlob(output);

        Lookup answer = repairing(new InMemoryBlobStore(), new SimpleMeterRegistry()).lookUp(SCOPE, action).block(TIMEOUT);

        assertThat(answer).isInstanceOf(Lookup.NotFound.class)
                .extracting(l -> ((Lookup.NotFound) l).why()).asString().contains("0 repaired from backend durable");
        assertThat(store.contains(output).block(TIMEOUT)).isFalse();
    }

    /** The second tier's copy is damaged: it fails its digest on the way, and is never stored. */
    @Test
    void aDamagedCopyIsNotRepaired() {
        InMemoryBlobStore durable = new InMemoryBlobStore();
        durable.corruptBlob(output, "object filf".getBytes(StandardCharsets.UTF_8));
        store.evictBlob(output);

        Lookup answer = repairing(durable, new SimpleMeterRegistry()).lookUp(SCOPE, action).block(TIMEOUT);

        assertThat(answer).isInstanceOf(Lookup.NotFound.class);
        assertThat(store.contains(output).block(TIMEOUT)).isFalse();
    }

    private ActionCacheLookup repairing(InMemoryBlobStore durable, SimpleMeterRegistry meters) {
        CompletenessValidator validator = new CompletenessValidator(router, VouchProperties.Limits.defaults(),
                new ValidationMetrics(meters), new PresenceWindow(Duration.ZERO, 0));
        return new ActionCacheLookup(router, validator, FrontCheck.EXISTENCE,
                new Repairer(new EmbeddedBackend("durable", durable, 4 << 20), new ValidationMetrics(meters)));
    }

    private Lookup lookUp(FrontCheck check) {
        return lookup(check).lookUp(SCOPE, action).block(TIMEOUT);
    }

    private ActionCacheLookup lookup(FrontCheck check) {
        CompletenessValidator validator = new CompletenessValidator(router, VouchProperties.Limits.defaults(),
                new ValidationMetrics(new SimpleMeterRegistry()), new PresenceWindow(Duration.ZERO, 0));
        return new ActionCacheLookup(router, validator, check);
    }
}
