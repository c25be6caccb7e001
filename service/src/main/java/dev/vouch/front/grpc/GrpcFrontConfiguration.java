package dev.vouch.front.grpc;

import dev.vouch.api.grpc.CallDeadlines;
import dev.vouch.auth.Authorizer;
import dev.vouch.config.VouchProperties;
import dev.vouch.front.ActionCacheLookup;
import dev.vouch.front.FrontBackends;
import dev.vouch.front.OnFrontEnabled;
import io.grpc.BindableService;
import java.util.List;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Conditional;
import org.springframework.context.annotation.Configuration;

/**
 * The cache front's REAPI services, one per service (Capabilities, ActionCache,
 * ContentAddressableStorage, ByteStream), for the gRPC server on {@code vouch.grpc.port}.
 */
@Configuration(proxyBeanMethods = false)
@Conditional(OnFrontEnabled.class)
public class GrpcFrontConfiguration {

    /** The services over {@code backends}, as the application wires them; tests build theirs with it too. */
    public static GrpcFront services(FrontBackends backends, ActionCacheLookup lookup, VouchProperties properties) {
        return services(backends, lookup, properties, Authorizer.disabled());
    }

    /** The same, with who may read and write checked by {@code authorizer}. */
    public static GrpcFront services(FrontBackends backends, ActionCacheLookup lookup, VouchProperties properties,
            Authorizer authorizer) {
        GrpcAccess access = new GrpcAccess(authorizer, new CallDeadlines(properties.limits()));
        BatchLimit batchLimit = BatchLimit.of(properties.embedded().maxBatchTotalSizeBytes(),
                properties.grpc().maxInboundMessageBytes());
        return new GrpcFront(
                new FrontCapabilities(backends, batchLimit, access),
                new FrontActionCache(backends, lookup, properties.limits().maxActionResultBytes(), access),
                new FrontCas(backends, batchLimit, properties.limits().maxTreeBytes(), access),
                new FrontByteStream(backends, access));
    }

    @Bean
    public GrpcFront grpcFront(FrontBackends frontBackends, ActionCacheLookup actionCacheLookup, VouchProperties properties,
            Authorizer authorizer) {
        return services(frontBackends, actionCacheLookup, properties, authorizer);
    }

    @Bean
    public FrontCapabilities frontCapabilitiesService(GrpcFront grpcFront) {
        return grpcFront.capabilities();
    }

    @Bean
    public FrontActionCache frontActionCacheService(GrpcFront grpcFront) {
        return grpcFront.actionCache();
    }

    @Bean
    public FrontCas frontCasService(GrpcFront grpcFront) {
        return grpcFront.cas();
    }

    @Bean
    public FrontByteStream frontByteStreamService(GrpcFront grpcFront) {
        return grpcFront.byteStream();
    }

    /** The four services of one front. */
    public record GrpcFront(FrontCapabilities capabilities, FrontActionCache actionCache, FrontCas cas,
            FrontByteStream byteStream) {

        /** All four, to add to a gRPC server. */
        public List<BindableService> all() {
            return List.of(capabilities, actionCache, cas, byteStream);
        }
    }
}
