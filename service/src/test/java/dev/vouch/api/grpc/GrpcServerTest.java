package dev.vouch.api.grpc;

import dev.vouch.auth.Authorizer;
import dev.vouch.backend.BackendConfiguration;
import dev.vouch.front.FrontConfiguration;
import dev.vouch.front.grpc.GrpcFrontConfiguration;
import dev.vouch.validation.ValidationConfiguration;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.springframework.context.annotation.Bean;
import static org.assertj.core.api.Assertions.assertThat;

import build.bazel.remote.execution.v2.CapabilitiesGrpc;
import build.bazel.remote.execution.v2.GetCapabilitiesRequest;
import dev.vouch.backend.embedded.BlobStore;
import dev.vouch.backend.embedded.EmbeddedConfiguration;
import dev.vouch.config.IoConfiguration;
import dev.vouch.config.VouchProperties;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.annotation.Configuration;

/** The gRPC server as Spring runs it: every service bean served on a random port, stopped with the context. */
class GrpcServerTest {
    @TempDir
    Path data;

    @Configuration(proxyBeanMethods = false)
    @EnableConfigurationProperties(VouchProperties.class)
    static class Properties {
        @Bean
        MeterRegistry meterRegistry() {
            return new SimpleMeterRegistry();
        }

        @Bean
        Authorizer authorizer() {
            return Authorizer.disabled();
        }
    }

    // the cache front's services over the embedded backend, as the application wires them
    private final ApplicationContextRunner context = new ApplicationContextRunner()
            .withUserConfiguration(Properties.class, IoConfiguration.class, EmbeddedConfiguration.class,
                    BackendConfiguration.class, ValidationConfiguration.class, FrontConfiguration.class,
                    GrpcFrontConfiguration.class, GrpcServer.class);

    @Test
    void servesEmbeddedServicesOnRandomPortAndStopsWithTheContext() throws InterruptedException {
        Path dataDir = data.resolve("not-yet-created");
        int[] port = new int[1];

        context.withPropertyValues("vouch.grpc.port=0", "vouch.data-dir=" + dataDir,
                        "vouch.embedded.max-batch-total-size-bytes=2097152")
                .run(running -> {
                    assertThat(running).hasNotFailed();
                    assertThat(running).hasSingleBean(BlobStore.class);
                    assertThat(dataDir.resolve("cas")).isDirectory();
                    GrpcServer server = running.getBean(GrpcServer.class);
                    assertThat(server.isRunning()).isTrue();
                    port[0] = server.port();
                    assertThat(port[0]).isPositive();

                    ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", port[0]).usePlaintext().build();
                    try {
                        assertThat(CapabilitiesGrpc.newBlockingStub(channel)
                                .getCapabilities(GetCapabilitiesRequest.getDefaultInstance())
                                .getCacheCapabilities().getMaxBatchTotalSizeBytes()).isEqualTo(2097152);
                    } finally {
                        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
                    }
                });

        // the context is closed: the port no longer answers
        ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", port[0]).usePlaintext().build();
        try {
            StatusRuntimeException refused = org.junit.jupiter.api.Assertions.assertThrows(StatusRuntimeException.class,
                    () -> CapabilitiesGrpc.newBlockingStub(channel).withDeadlineAfter(5, TimeUnit.SECONDS)
                            .getCapabilities(GetCapabilitiesRequest.getDefaultInstance()));
            assertThat(refused.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }
}
