package dev.vouch.backend.embedded;

import dev.vouch.backend.embedded.grpc.EmbeddedActionCache;
import dev.vouch.backend.embedded.grpc.EmbeddedByteStream;
import dev.vouch.backend.embedded.grpc.EmbeddedCapabilities;
import dev.vouch.backend.embedded.grpc.EmbeddedCas;
import dev.vouch.config.VouchProperties;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import reactor.core.scheduler.Scheduler;

/** The embedded cache: its disk store, the backend over it, and its REAPI services for the gRPC server. */
@Configuration(proxyBeanMethods = false)
public class EmbeddedConfiguration {

    @Bean
    public BlobStore embeddedBlobStore(VouchProperties properties, @Qualifier("ioScheduler") Scheduler ioScheduler) {
        return new DiskBlobStore(properties.dataDir(), properties.embedded().maxSizeBytes(), ioScheduler);
    }

    @Bean
    public EmbeddedBackend embeddedBackend(BlobStore embeddedBlobStore, VouchProperties properties) {
        return new EmbeddedBackend(EmbeddedBackend.DEFAULT_NAME, embeddedBlobStore, properties.embedded().maxBatchTotalSizeBytes());
    }

    @Bean
    public EmbeddedCapabilities embeddedCapabilitiesService(VouchProperties properties) {
        return new EmbeddedCapabilities(properties.embedded().maxBatchTotalSizeBytes());
    }

    @Bean
    public EmbeddedActionCache embeddedActionCacheService(BlobStore embeddedBlobStore) {
        return new EmbeddedActionCache(embeddedBlobStore);
    }

    @Bean
    public EmbeddedCas embeddedCasService(BlobStore embeddedBlobStore, VouchProperties properties) {
        return new EmbeddedCas(embeddedBlobStore, properties.embedded().maxBatchTotalSizeBytes());
    }

    @Bean
    public EmbeddedByteStream embeddedByteStreamService(BlobStore embeddedBlobStore) {
        return new EmbeddedByteStream(embeddedBlobStore);
    }
}
