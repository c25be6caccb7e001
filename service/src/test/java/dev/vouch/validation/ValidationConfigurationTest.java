package dev.vouch.validation;

import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.ActionResult;
import dev.vouch.backend.BackendRouter;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;

class ValidationConfigurationTest {

    @Test
    void buildsAValidatorFromTheRouterAndLimits() {
        FakeCacheBackend backend = new FakeCacheBackend();
        Digest action = backend.putAction("a", ActionResult.newBuilder()
                .addOutputFiles(CompletenessValidatorTest.file("a", backend.absentBlob("a"))).build());
        VouchProperties properties = new VouchProperties(Path.of("data"), new VouchProperties.Grpc(0, 4194304, 0),
                new VouchProperties.Embedded(1 << 20, 4194304),
                CompletenessValidatorTest.limits(1_000_000, 268435456L, 10000), new VouchProperties.Io(2, 100), null, null, null);

        new ApplicationContextRunner()
                .withUserConfiguration(ValidationConfiguration.class)
                .withBean(BackendRouter.class, () -> instance -> backend)
                .withBean(VouchProperties.class, () -> properties)
                .withBean(MeterRegistry.class, SimpleMeterRegistry::new)
                .run(context -> {
                    List<ActionVerdict> verdicts = CompletenessValidatorTest.validate(
                            context.getBean(CacheValidator.class),
                            CompletenessValidatorTest.request(Mode.EXISTENCE, false, action));
                    assertThat(verdicts).extracting(ActionVerdict::verdict).containsExactly(Verdict.PARTIAL);
                    assertThat(context.getBean(MeterRegistry.class).get("vouch.verdicts").counter().count())
                            .isEqualTo(1);
                });
    }
}
