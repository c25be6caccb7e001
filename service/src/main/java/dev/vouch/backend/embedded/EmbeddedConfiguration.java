package dev.vouch.backend.embedded;

import dev.vouch.backend.BackendFactory;
import dev.vouch.backend.CacheBackend;
import dev.vouch.config.VouchProperties;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Conditional;
import org.springframework.context.annotation.Configuration;
import reactor.core.scheduler.Scheduler;

/**
 * The embedded cache: its disk store and the backends over it; present only when a backend of type
 * {@code embedded} is configured, or none is. Build tools reach it through the cache front
 * ({@code dev.vouch.front}), as they reach any other backend.
 */
@Configuration(proxyBeanMethods = false)
@Conditional(OnEmbeddedBackend.class)
public class EmbeddedConfiguration {

    @Bean
    public BlobStore embeddedBlobStore(VouchProperties properties, @Qualifier("ioScheduler") Scheduler ioScheduler) {
        VouchProperties.Embedded embedded = properties.embedded();
        return new DiskBlobStore(properties.dataDir(), embedded.maxSizeBytes(), embedded.uploadIdleTimeout(), ioScheduler);
    }

    /** Every {@code embedded} backend entry is a view of the one store, under its configured name. */
    @Bean
    public BackendFactory embeddedBackendFactory(BlobStore embeddedBlobStore, VouchProperties properties) {
        return new BackendFactory() {
            @Override
            public VouchProperties.BackendType type() {
                return VouchProperties.BackendType.EMBEDDED;
            }

            @Override
            public CacheBackend create(VouchProperties.Backend config) {
                return new EmbeddedBackend(config.name(), embeddedBlobStore, properties.embedded().maxBatchTotalSizeBytes(),
                        properties.limits().maxActionResultBytes());
            }
        };
    }
}
