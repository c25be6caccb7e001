package dev.vouch.validation;

import static dev.vouch.validation.CompletenessValidatorTest.request;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vouch.backend.BackendException;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.validation.FakeCacheBackend.Operation;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;

/** A big request against a failing backend logs a line with counts, not a line per action. */
@ExtendWith(OutputCaptureExtension.class)
class UnknownLoggingTest {
    private final FakeCacheBackend backend = new FakeCacheBackend();

    @Test
    void thousandActionsOnAnOpenCircuitAreOneWarning(CapturedOutput output) {
        backend.fail(Operation.GET_ACTION_RESULT, new BackendException("fake",
                "backend fake: circuit open (probing whether it recovered); getActionResult not attempted"));
        Digest[] actions = IntStream.range(0, 1000).mapToObj(i -> backend.actionDigest("a" + i)).toArray(Digest[]::new);
        CompletenessValidator validator = new CompletenessValidator(instance -> backend,
                VouchProperties.Limits.defaults(), new ValidationMetrics(new SimpleMeterRegistry()));

        List<ActionVerdict> verdicts = CompletenessValidatorTest.validate(validator, request(Mode.EXISTENCE, false, actions));

        assertThat(verdicts).extracting(ActionVerdict::verdict).containsOnly(Verdict.UNKNOWN);
        List<String> warnings = output.getAll().lines()
                .filter(line -> line.contains("WARN") && line.contains("CompletenessValidator"))
                .toList();
        assertThat(warnings).hasSize(1);
        assertThat(warnings.get(0)).contains("1000 of 1000 actions UNKNOWN on backend fake: 1000 action cache lookup "
                + "failed: backend fake: circuit open (probing whether it recovered); getActionResult not attempted");
    }
}
