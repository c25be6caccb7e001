package dev.vouch.backend.embedded;

import dev.vouch.backend.embedded.grpc.EmbeddedActionCache;
import dev.vouch.backend.embedded.grpc.EmbeddedByteStream;
import dev.vouch.backend.embedded.grpc.EmbeddedCapabilities;
import dev.vouch.backend.embedded.grpc.EmbeddedCas;
import dev.vouch.backend.BackendFactory;
import dev.vouch.backend.CacheBackend;
import dev.vouch.config.VouchProperties;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Conditional;
import org.springframework.context.annotation.Configuration;
import reactor.core.scheduler.Scheduler;

/**
 * The embedded cache: its disk store, the backends over it, and its REAPI services for the gRPC
 * server; present only when a backend of type {@code embedded} is configured, or none is.
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

    @Bean
    public EmbeddedCapabilities embeddedCapabilitiesService(VouchProperties properties) {
        return new EmbeddedCapabilities(properties.embedded().maxBatchTotalSizeBytes());
    }

    @Bean
    public EmbeddedActionCache embeddedActionCacheService(BlobStore embeddedBlobStore, VouchProperties properties) {
        return new EmbeddedActionCache(embeddedBlobStore, properties.limits().maxActionResultBytes());
    }

    @Bean
    public EmbeddedCas embeddedCasService(BlobStore embeddedBlobStore, VouchProperties properties) {
        return new EmbeddedCas(embeddedBlobStore, properties.embedded().maxBatchTotalSizeBytes(), properties.limits().maxTreeBytes());
    }

    @Bean
    public EmbeddedByteStream embeddedByteStreamService(BlobStore embeddedBlobStore) {
        return new EmbeddedByteStream(embeddedBlobStore);
    }
}
