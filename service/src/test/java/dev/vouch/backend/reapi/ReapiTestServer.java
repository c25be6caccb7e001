package dev.vouch.backend.reapi;

import build.bazel.remote.execution.v2.BatchReadBlobsRequest;
import build.bazel.remote.execution.v2.BatchReadBlobsResponse;
import build.bazel.remote.execution.v2.BatchUpdateBlobsRequest;
import build.bazel.remote.execution.v2.BatchUpdateBlobsResponse;
import build.bazel.remote.execution.v2.FindMissingBlobsRequest;
import build.bazel.remote.execution.v2.FindMissingBlobsResponse;
import build.bazel.remote.execution.v2.GetTreeRequest;
import build.bazel.remote.execution.v2.GetTreeResponse;
import build.bazel.remote.execution.v2.ReactorContentAddressableStorageGrpc;
import build.bazel.remote.execution.v2.RequestMetadata;
import com.google.bytestream.ReadRequest;
import com.google.protobuf.Descriptors;
import com.google.protobuf.Message;
import dev.vouch.backend.embedded.InMemoryBlobStore;
import dev.vouch.config.VouchProperties;
import dev.vouch.front.grpc.FrontByteStream;
import dev.vouch.front.grpc.FrontCas;
import dev.vouch.front.grpc.GrpcFrontConfiguration;
import dev.vouch.front.grpc.TestFronts;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import io.grpc.BindableService;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Grpc;
import io.grpc.InsecureServerCredentials;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerCredentials;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.TlsServerCredentials;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * A separate embedded REAPI server on a loopback port, as a remote cache for a {@link ReapiBackend}
 * under test: it records every call, its headers and request messages, and can be told to fail or
 * hang a method.
 */
public final class ReapiTestServer implements AutoCloseable {
    public static final Duration TIMEOUT = Duration.ofSeconds(15);
    /** The header REAPI clients send their RequestMetadata in, spelled out here as the wire has it. */
    static final Metadata.Key<byte[]> REQUEST_METADATA =
            Metadata.Key.of("build.bazel.remote.execution.v2.requestmetadata-bin", Metadata.BINARY_BYTE_MARSHALLER);

    public final InMemoryBlobStore store = new InMemoryBlobStore();
    final List<Metadata> headers = new CopyOnWriteArrayList<>();
    /** Every call's method (bare name) with its headers, in arrival order. */
    final List<Map.Entry<String, Metadata>> callHeaders = new CopyOnWriteArrayList<>();
    // refuse calls without a RequestMetadata header, as Bazel's remote worker does
    private volatile boolean requireRequestMetadata;
    static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    // authorization value -> the methods (bare names, "*" for all) it may call; null: no check
    private volatile Map<String, java.util.Set<String>> requiredAuthorization;
    private final List<Message> received = new CopyOnWriteArrayList<>();
    private final Map<String, AtomicInteger> calls = new ConcurrentHashMap<>();
    private final Map<String, Status> failures = new ConcurrentHashMap<>();
    private final java.util.Set<String> hanging = ConcurrentHashMap.newKeySet();
    private final Map<String, java.util.Queue<Status>> nextFailures = new ConcurrentHashMap<>();
    private final Map<String, java.util.concurrent.atomic.AtomicLong> sentBytes = new ConcurrentHashMap<>();
    // blobs served under a digest they do not match, whatever the store would say
    private final Map<Digest, byte[]> lies = new ConcurrentHashMap<>();
    private final Server server;

    private ReapiTestServer(int port, long maxBatch, boolean onePagePerCall, ServerCredentials credentials) {
        // the cache front over the store, unchecked: a plain REAPI cache, serving entries complete or not
        GrpcFrontConfiguration.GrpcFront front = TestFronts.plain(store, maxBatch);
        FrontCas cas = front.cas();
        List<BindableService> services = List.of(
                front.capabilities(),
                front.actionCache(),
                new Lying(onePagePerCall ? new OnePagePerCall(cas) : cas),
                new LyingByteStream(front.byteStream()));
        ServerBuilder<?> builder = Grpc.newServerBuilderForPort(port, credentials)
                // handlers on the event loop, as in the embedded server's own tests
                .directExecutor();
        ServerInterceptor recorder = new Recorder();
        services.forEach(s -> builder.addService(ServerInterceptors.intercept(s, recorder)));
        try {
            server = builder.build().start();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    public static ReapiTestServer start(long maxBatch) {
        return new ReapiTestServer(0, maxBatch, false, InsecureServerCredentials.create());
    }

    /** A server on a given port, e.g. one restarted where another was. */
    public static ReapiTestServer onPort(int port, long maxBatch) {
        return new ReapiTestServer(port, maxBatch, false, InsecureServerCredentials.create());
    }

    /** GetTree answers one page per call, as servers may, so clients must follow next_page_token. */
    static ReapiTestServer onePagePerCall(long maxBatch) {
        return new ReapiTestServer(0, maxBatch, true, InsecureServerCredentials.create());
    }

    static ReapiTestServer tls(long maxBatch, Path certFile, Path keyFile) throws IOException {
        return new ReapiTestServer(0, maxBatch, false, TlsServerCredentials.create(certFile.toFile(), keyFile.toFile()));
    }

    /** TLS that requires a client certificate signed by {@code clientCa}. */
    static ReapiTestServer mutualTls(long maxBatch, Path certFile, Path keyFile, Path clientCa) throws IOException {
        return new ReapiTestServer(0, maxBatch, false, TlsServerCredentials.newBuilder()
                .keyManager(certFile.toFile(), keyFile.toFile())
                .trustManager(clientCa.toFile())
                .clientAuth(TlsServerCredentials.ClientAuth.REQUIRE)
                .build());
    }

    public int port() {
        return server.getPort();
    }

    public String target() {
        return "grpc://127.0.0.1:" + port();
    }

    /** A loopback port nothing listens on. */
    static int closedPort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    static VouchProperties.Backend config(String target) {
        return config(target, null, Map.of(), null, Duration.ofSeconds(10));
    }

    static VouchProperties.Backend config(String target, String instanceName, Map<String, String> headers,
            VouchProperties.Tls tls, Duration callTimeout) {
        return new VouchProperties.Backend("remote", VouchProperties.BackendType.GRPC, URI.create(target), null,
                instanceName, headers, tls, null, callTimeout, 4);
    }

    public Digest put(byte[] blob) {
        Digest digest = DigestFunction.SHA256.digestOf(blob);
        store.write(digest, blob).block(TIMEOUT);
        return digest;
    }

    public Digest put(Message message) {
        return put(message.toByteArray());
    }

    public Digest putAction(String name, build.bazel.remote.execution.v2.ActionResult result) {
        Digest action = DigestFunction.SHA256.digestOf(name.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        store.putActionResult(action, result.toByteArray()).block(TIMEOUT);
        return action;
    }

    /** Calls of {@code method} (its bare name, e.g. {@code FindMissingBlobs}, {@code Read}). */
    public int calls(String method) {
        AtomicInteger count = calls.get(method);
        return count == null ? 0 : count.get();
    }

    public <T extends Message> List<T> received(Class<T> type) {
        return received.stream().filter(type::isInstance).map(type::cast).toList();
    }

    /** Every instance_name the server was sent, in any request that has the field. */
    List<String> instanceNames() {
        return received.stream()
                .map(m -> {
                    Descriptors.FieldDescriptor field = m.getDescriptorForType().findFieldByName("instance_name");
                    return field == null ? null : (String) m.getField(field);
                })
                .filter(java.util.Objects::nonNull)
                .toList();
    }

    /** How often {@code digest} was read: by BatchReadBlobs or ByteStream.Read. */
    long reads(Digest digest) {
        long batch = received(BatchReadBlobsRequest.class).stream()
                .flatMap(r -> r.getDigestsList().stream())
                .filter(d -> d.getHash().equals(digest.hash()))
                .count();
        long streamed = received(ReadRequest.class).stream()
                .filter(r -> r.getResourceName().contains("blobs/" + digest.hash() + "/"))
                .count();
        return batch + streamed;
    }

    /** Serves {@code bytes} as the blob of {@code digest}, over BatchReadBlobs and ByteStream.Read alike. */
    public void lie(Digest digest, byte[] bytes) {
        lies.put(digest, bytes);
    }

    /** Serialized bytes of the messages the server sent in answer to {@code method}. */
    long sentBytes(String method) {
        java.util.concurrent.atomic.AtomicLong sent = sentBytes.get(method);
        return sent == null ? 0 : sent.get();
    }

    /** Every later call of {@code method} ({@code null}: of any method) ends with {@code status}. */
    public void fail(String method, Status status) {
        failures.put(method == null ? "*" : method, status);
    }

    /** The next {@code times} calls of {@code method} end with {@code status}; later ones are served. */
    void failNext(String method, Status status, int times) {
        java.util.Queue<Status> queue = nextFailures.computeIfAbsent(method, m -> new java.util.concurrent.ConcurrentLinkedQueue<>());
        for (int i = 0; i < times; i++) {
            queue.add(status);
        }
    }

    /**
     * From now on every call without a {@code build.bazel.remote.execution.v2.requestmetadata-bin}
     * header is refused as Bazel's remote worker refuses it (INVALID_ARGUMENT, "RequestMetadata not
     * received from the client for ..."), before the service sees it.
     */
    void requireRequestMetadata() {
        requireRequestMetadata = true;
    }

    /**
     * From now on a call is refused UNAUTHENTICATED, before the service sees it, unless its
     * {@code authorization} header is a key of {@code allowed} whose methods (bare names, or
     * {@code "*"}) include the call's: a cache that checks tokens.
     */
    public void requireAuthorization(Map<String, java.util.Set<String>> allowed) {
        requiredAuthorization = Map.copyOf(allowed);
    }

    /** The {@code authorization} values the calls of {@code method} carried ({@code null}: any method), "<none>" for none. */
    public List<String> authorizations(String method) {
        return callHeaders.stream()
                .filter(call -> method == null || call.getKey().equals(method))
                .map(call -> {
                    Iterable<String> values = call.getValue().getAll(AUTHORIZATION);
                    return values == null ? "<none>" : String.join(",", values);
                })
                .toList();
    }

    /** The RequestMetadata headers the calls of {@code method} carried, decoded (each call may carry several). */
    public List<List<RequestMetadata>> requestMetadata(String method) {
        List<List<RequestMetadata>> all = new java.util.ArrayList<>();
        for (Map.Entry<String, Metadata> call : callHeaders) {
            if (call.getKey().equals(method)) {
                List<RequestMetadata> values = new java.util.ArrayList<>();
                Iterable<byte[]> sent = call.getValue().getAll(REQUEST_METADATA);
                if (sent != null) {
                    sent.forEach(bytes -> values.add(parseMetadata(bytes)));
                }
                all.add(values);
            }
        }
        return all;
    }

    private static RequestMetadata parseMetadata(byte[] bytes) {
        try {
            return RequestMetadata.parseFrom(bytes);
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            throw new IllegalStateException("a RequestMetadata header that does not parse", e);
        }
    }

    /** Every later call of {@code method} is accepted and never answered. */
    public void hang(String method) {
        hanging.add(method);
    }

    /** Every later call, of any method, is accepted and never answered: a hung server. */
    void hangAll() {
        hanging.add("*");
    }

    @Override
    public void close() throws InterruptedException {
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    private final class Recorder implements ServerInterceptor {
        @Override
        public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata requestHeaders,
                ServerCallHandler<Q, R> next) {
            String method = call.getMethodDescriptor().getBareMethodName();
            calls.computeIfAbsent(method, m -> new AtomicInteger()).incrementAndGet();
            headers.add(requestHeaders);
            callHeaders.add(Map.entry(method, requestHeaders));
            Map<String, java.util.Set<String>> authorized = requiredAuthorization;
            if (authorized != null) {
                java.util.Set<String> may = authorized.get(String.valueOf(requestHeaders.get(AUTHORIZATION)));
                if (may == null || !(may.contains("*") || may.contains(method))) {
                    call.close(Status.UNAUTHENTICATED.withDescription("a valid token is required for " + method),
                            new Metadata());
                    return new ServerCall.Listener<>() {
                    };
                }
            }
            if (requireRequestMetadata && !requestHeaders.containsKey(REQUEST_METADATA)) {
                call.close(Status.INVALID_ARGUMENT.withDescription("RequestMetadata not received from the client for "
                        + call.getMethodDescriptor().getFullMethodName()), new Metadata());
                return new ServerCall.Listener<>() {
                };
            }
            if (hanging.contains(method) || hanging.contains("*")) {
                return new ServerCall.Listener<>() {
                };
            }
            java.util.Queue<Status> scripted = nextFailures.get(method);
            Status failure = scripted == null ? null : scripted.poll();
            if (failure == null) {
                failure = failures.getOrDefault(method, failures.get("*"));
            }
            if (failure != null) {
                call.close(failure, new Metadata());
                return new ServerCall.Listener<>() {
                };
            }
            java.util.concurrent.atomic.AtomicLong sent = sentBytes.computeIfAbsent(method,
                    m -> new java.util.concurrent.atomic.AtomicLong());
            ServerCall<Q, R> counted = new io.grpc.ForwardingServerCall.SimpleForwardingServerCall<>(call) {
                @Override
                public void sendMessage(R message) {
                    sent.addAndGet(((Message) message).getSerializedSize());
                    super.sendMessage(message);
                }
            };
            return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(next.startCall(counted, requestHeaders)) {
                @Override
                public void onMessage(Q message) {
                    received.add((Message) message);
                    super.onMessage(message);
                }
            };
        }
    }

    private static final class OnePagePerCall extends ReactorContentAddressableStorageGrpc.ContentAddressableStorageImplBase {
        private final FrontCas delegate;

        OnePagePerCall(FrontCas delegate) {
            this.delegate = delegate;
        }

        @Override
        public Mono<FindMissingBlobsResponse> findMissingBlobs(FindMissingBlobsRequest request) {
            return delegate.findMissingBlobs(request);
        }

        @Override
        public Mono<BatchUpdateBlobsResponse> batchUpdateBlobs(BatchUpdateBlobsRequest request) {
            return delegate.batchUpdateBlobs(request);
        }

        @Override
        public Mono<BatchReadBlobsResponse> batchReadBlobs(BatchReadBlobsRequest request) {
            return delegate.batchReadBlobs(request);
        }

        @Override
        public Flux<GetTreeResponse> getTree(GetTreeRequest request) {
            return delegate.getTree(request).take(1);
        }
    }

    /** The CAS, except that the blobs told to {@link #lie} are answered with their lie. */
    private final class Lying extends ReactorContentAddressableStorageGrpc.ContentAddressableStorageImplBase {
        private final ReactorContentAddressableStorageGrpc.ContentAddressableStorageImplBase delegate;

        Lying(ReactorContentAddressableStorageGrpc.ContentAddressableStorageImplBase delegate) {
            this.delegate = delegate;
        }

        @Override
        public Mono<FindMissingBlobsResponse> findMissingBlobs(FindMissingBlobsRequest request) {
            return delegate.findMissingBlobs(request);
        }

        @Override
        public Mono<BatchUpdateBlobsResponse> batchUpdateBlobs(BatchUpdateBlobsRequest request) {
            return delegate.batchUpdateBlobs(request);
        }

        @Override
        public Mono<BatchReadBlobsResponse> batchReadBlobs(BatchReadBlobsRequest request) {
            byte[] lie = request.getDigestsCount() == 1 ? lies.get(Digest.fromProto(request.getDigests(0))) : null;
            if (lie == null) {
                return delegate.batchReadBlobs(request);
            }
            return Mono.just(BatchReadBlobsResponse.newBuilder()
                    .addResponses(BatchReadBlobsResponse.Response.newBuilder().setDigest(request.getDigests(0))
                            .setData(com.google.protobuf.ByteString.copyFrom(lie)))
                    .build());
        }

        @Override
        public Flux<GetTreeResponse> getTree(GetTreeRequest request) {
            return delegate.getTree(request);
        }
    }

    /** ByteStream, except that the blobs told to {@link #lie} stream their lie, 64 KiB a message. */
    private final class LyingByteStream extends com.google.bytestream.ReactorByteStreamGrpc.ByteStreamImplBase {
        private final FrontByteStream delegate;

        LyingByteStream(FrontByteStream delegate) {
            this.delegate = delegate;
        }

        @Override
        public Flux<com.google.bytestream.ReadResponse> read(ReadRequest request) {
            byte[] lie = lies.entrySet().stream()
                    .filter(e -> request.getResourceName().endsWith("blobs/" + e.getKey().hash() + "/" + e.getKey().sizeBytes()))
                    .map(Map.Entry::getValue)
                    .findFirst().orElse(null);
            if (lie == null) {
                return delegate.read(request);
            }
            int chunk = 64 * 1024;
            return Flux.range(0, (lie.length + chunk - 1) / chunk)
                    .map(i -> com.google.bytestream.ReadResponse.newBuilder()
                            .setData(com.google.protobuf.ByteString.copyFrom(lie, i * chunk,
                                    Math.min(chunk, lie.length - i * chunk)))
                            .build());
        }

        @Override
        public Mono<com.google.bytestream.WriteResponse> write(Flux<com.google.bytestream.WriteRequest> requests) {
            return delegate.write(requests);
        }

        @Override
        public Mono<com.google.bytestream.QueryWriteStatusResponse> queryWriteStatus(
                com.google.bytestream.QueryWriteStatusRequest request) {
            return delegate.queryWriteStatus(request);
        }
    }
}
