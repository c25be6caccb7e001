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

    private Lookup lookUp(FrontCheck check) {
        return lookup(check).lookUp(SCOPE, action).block(TIMEOUT);
    }

    private ActionCacheLookup lookup(FrontCheck check) {
        CompletenessValidator validator = new CompletenessValidator(router, VouchProperties.Limits.defaults(),
                new ValidationMetrics(new SimpleMeterRegistry()), new PresenceWindow(Duration.ZERO, 0));
        return new ActionCacheLookup(router, validator, check);
    }
}
