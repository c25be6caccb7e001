package dev.vouch.front.grpc;

import dev.vouch.backend.BackendRouter;
import dev.vouch.backend.CacheBackend;
import dev.vouch.backend.embedded.BlobStore;
import dev.vouch.backend.embedded.EmbeddedBackend;
import dev.vouch.config.VouchProperties;
import dev.vouch.config.VouchProperties.FrontCheck;
import dev.vouch.front.ActionCacheLookup;
import dev.vouch.front.FrontBackends;
import dev.vouch.validation.CacheValidator;
import dev.vouch.validation.CompletenessValidator;
import dev.vouch.validation.PresenceWindow;
import dev.vouch.validation.ValidationMetrics;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;

/** The cache front's REAPI services built by hand, for tests that serve a backend over gRPC themselves. */
public final class TestFronts {

    private TestFronts() {
    }

    /**
     * A plain REAPI server over {@code store}, as a remote cache is: it serves every Action Cache
     * entry it holds, complete or not ({@code vouch.front.check=NONE}).
     */
    public static GrpcFrontConfiguration.GrpcFront plain(BlobStore store, long maxBatch) {
        return over(new EmbeddedBackend(EmbeddedBackend.DEFAULT_NAME, store, maxBatch), FrontCheck.NONE, maxBatch,
                VouchProperties.Limits.defaults().maxTreeBytes(), new SimpleMeterRegistry());
    }

    /** The front over {@code backend} for every instance name, checking Action Cache reads by {@code check}. */
    public static GrpcFrontConfiguration.GrpcFront over(CacheBackend backend, FrontCheck check, long maxBatch,
            long maxTreeBytes, MeterRegistry metrics) {
        BackendRouter router = instance -> backend;
        VouchProperties properties = properties(maxBatch, maxTreeBytes);
        CacheValidator validator = new CompletenessValidator(router, properties.limits(), new ValidationMetrics(metrics),
                new PresenceWindow(Duration.ZERO, 0));
        return GrpcFrontConfiguration.services(new FrontBackends(router), new ActionCacheLookup(router, validator, check),
                properties);
    }

    static VouchProperties properties(long maxBatch, long maxTreeBytes) {
        VouchProperties.Limits defaults = VouchProperties.Limits.defaults();
        return new VouchProperties(Path.of("unused"),
                new VouchProperties.Grpc(0, 16 << 20, 1),
                new VouchProperties.Embedded(1L << 30, maxBatch),
                new VouchProperties.Limits(defaults.maxActions(), defaults.maxRequestBytes(), defaults.maxBlobsPerAction(),
                        maxTreeBytes, defaults.findMissingBatchSize(), defaults.actionConcurrency(),
                        defaults.fetchConcurrency()),
                new VouchProperties.Io(4, 1000), null, null, null);
    }
}
