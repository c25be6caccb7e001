package dev.vouch.config;

import jakarta.validation.Valid;
import jakarta.validation.constraints.DecimalMax;
import jakarta.validation.constraints.DecimalMin;
import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotNull;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.bind.ConstructorBinding;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.boot.context.properties.source.MapConfigurationPropertySource;
import org.springframework.validation.annotation.Validated;

/**
 * Vouch's own configuration, under {@code vouch.*}. The keys named in SPEC "Configuration" are
 * normative: operators and the Helm chart rely on them.
 *
 * @param dataDir the embedded store's directory ({@code vouch.data-dir})
 * @param grpc the gRPC server
 * @param http connection limits of the HTTP port ({@code vouch.http.*})
 * @param embedded the embedded cache
 * @param limits request and validation limits
 * @param io the bounded scheduler that runs blocking work (disk) off the event loops
 * @param backends the caches Vouch validates against ({@code vouch.backends[i].*}); none means one
 *     {@code embedded} backend named "embedded"
 * @param routes instance-name rules picking a backend ({@code vouch.routes[j].*}); first match wins
 * @param defaultBackend the backend when no route matches ({@code vouch.default-backend}); the first by default
 * @param front the cache front: REAPI and the Bazel HTTP cache protocol served for any backend ({@code vouch.front.*})
 */
@Validated
@ConfigurationProperties("vouch")
public record VouchProperties(
        @NotNull @DefaultValue("./data") Path dataDir,
        @Valid @DefaultValue Grpc grpc,
        @Valid @DefaultValue Http http,
        @Valid @DefaultValue Embedded embedded,
        @Valid @DefaultValue Limits limits,
        @Valid @DefaultValue Io io,
        List<@Valid Backend> backends,
        List<@Valid Route> routes,
        String defaultBackend,
        @Valid Front front) {

    @ConstructorBinding
    public VouchProperties {
        http = http == null ? defaultsOf(Http.class) : http;
        backends = backends == null || backends.isEmpty()
                ? List.of(Backend.embedded(Backend.EMBEDDED_NAME))
                : List.copyOf(backends);
        routes = routes == null ? List.of() : List.copyOf(routes);
        checkBackends(backends, routes, defaultBackend);
        if (defaultBackend == null || defaultBackend.isBlank()) {
            defaultBackend = backends.get(0).name();
        }
        front = front == null ? Front.defaults() : front;
        String repairFrom = front.repairFrom();
        if (repairFrom != null && !repairFrom.isBlank() && backends.stream().noneMatch(b -> b.name().equals(repairFrom))) {
            throw new IllegalArgumentException("vouch.front.repair-from '" + repairFrom
                    + "' is not a configured backend " + backends.stream().map(Backend::name).toList());
        }
    }

    /** Properties with the HTTP port's connection limits and the cache front at their defaults. */
    public VouchProperties(Path dataDir, Grpc grpc, Embedded embedded, Limits limits, Io io, List<Backend> backends,
            List<Route> routes, String defaultBackend) {
        this(dataDir, grpc, null, embedded, limits, io, backends, routes, defaultBackend, null);
    }

    /** Whether the cache front is served: {@code vouch.front.enabled}, or by default when the embedded store is. */
    public boolean frontEnabled() {
        return front.enabled() != null ? front.enabled() : embeddedEnabled();
    }

    /** Whether the embedded cache is served (its REAPI services and HTTP protocol). */
    public boolean embeddedEnabled() {
        return backends.stream().anyMatch(b -> b.type() == BackendType.EMBEDDED);
    }

    // Cross-field rules that annotations cannot express; each message names the offending key so
    // that a failed start-up says exactly what to fix.
    private static void checkBackends(List<Backend> backends, List<Route> routes, String defaultBackend) {
        Set<String> names = new HashSet<>();
        for (int i = 0; i < backends.size(); i++) {
            Backend b = backends.get(i);
            String key = "vouch.backends[" + i + "]";
            if (b.name() == null || b.name().isBlank()) {
                throw new IllegalArgumentException(key + ".name is required");
            }
            if (!names.add(b.name())) {
                throw new IllegalArgumentException(key + ".name '" + b.name() + "' is used by another backend");
            }
            if (b.type() == null) {
                throw new IllegalArgumentException(key + ".type is required: embedded, grpc or http");
            }
            switch (b.type()) {
                case GRPC -> {
                    if (b.target() == null) {
                        throw new IllegalArgumentException(key + ".target is required for type grpc (grpc://host:port or grpcs://host:port)");
                    }
                    String scheme = b.target().getScheme();
                    if (!"grpc".equals(scheme) && !"grpcs".equals(scheme) || b.target().getHost() == null
                            || b.target().getPort() < 0) {
                        throw new IllegalArgumentException(key + ".target must be grpc://host:port or grpcs://host:port, was '"
                                + b.target() + "'");
                    }
                }
                case HTTP -> {
                    if (b.url() == null) {
                        throw new IllegalArgumentException(key + ".url is required for type http (e.g. http://cache:8080/prefix)");
                    }
                    String scheme = b.url().getScheme();
                    if (!"http".equals(scheme) && !"https".equals(scheme) || b.url().getHost() == null) {
                        throw new IllegalArgumentException(key + ".url must be an http:// or https:// URL, was '" + b.url() + "'");
                    }
                }
                case EMBEDDED -> { }
            }
        }
        for (int j = 0; j < routes.size(); j++) {
            Route r = routes.get(j);
            String key = "vouch.routes[" + j + "]";
            if (r.instancePattern() == null) {
                throw new IllegalArgumentException(key + ".instance-pattern is required");
            }
            try {
                Pattern.compile(r.instancePattern());
            } catch (PatternSyntaxException e) {
                throw new IllegalArgumentException(key + ".instance-pattern is not a valid regex: " + e.getDescription());
            }
            if (r.backend() == null || !names.contains(r.backend())) {
                throw new IllegalArgumentException(key + ".backend '" + r.backend() + "' is not a configured backend "
                        + names);
            }
        }
        if (defaultBackend != null && !defaultBackend.isBlank() && !names.contains(defaultBackend)) {
            throw new IllegalArgumentException("vouch.default-backend '" + defaultBackend
                    + "' is not a configured backend " + names);
        }
    }

    public enum BackendType {
        EMBEDDED, GRPC, HTTP;

        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /**
     * One remote cache.
     *
     * @param name in results, metrics and routes
     * @param type {@code embedded}, {@code grpc} or {@code http}
     * @param target {@code grpc}: {@code grpc://host:port} or {@code grpcs://host:port} (TLS)
     * @param url {@code http}: base URL; blobs are at {@code <url>/ac/<hash>} and {@code <url>/cas/<hash>}
     * @param instanceName {@code grpc}: sent instead of the request's instance name, when set
     * @param headers static headers sent with every call (e.g. {@code authorization}, {@code x-buildbuddy-api-key})
     * @param tls {@code grpcs}/{@code https}: trust and client certificate; system trust when unset
     * @param auth {@code http}: basic or bearer credentials
     * @param callTimeout deadline of each backend call
     * @param maxConcurrentCalls calls in flight to this backend from one request phase (existence checks, reads)
     * @param resilience {@code grpc} and {@code http}: circuit breaker, retry, bulkhead and time limit of
     *     every call sent over the wire ({@code vouch.backends[i].resilience.*}); the in-process embedded
     *     backend has none
     * @param forwardCredentials {@code grpc} and {@code http}: send the calling client's own
     *     {@code authorization} header (from the REST request or gRPC metadata, on the validation APIs and
     *     the cache front) instead of this backend's configured credentials ({@code headers.authorization},
     *     {@code auth.*}, which are then never sent), so Vouch never sees more than its caller could; a
     *     client without one is forwarded without one. Works with {@code vouch.auth.enabled=false} too.
     *     The presence window and the capabilities cache are then kept per caller (by a hash of the header)
     */
    public record Backend(
            String name,
            BackendType type,
            URI target,
            URI url,
            String instanceName,
            Map<String, String> headers,
            @Valid Tls tls,
            @Valid Auth auth,
            @DefaultValue("30s") Duration callTimeout,
            @Min(1) @DefaultValue("16") int maxConcurrentCalls,
            @Valid @DefaultValue Resilience resilience,
            @DefaultValue("false") boolean forwardCredentials) {

        public static final String EMBEDDED_NAME = "embedded";

        // the binder must pick this one: the record also has the shorter constructor below
        @ConstructorBinding
        public Backend {
            headers = headers == null ? Map.of() : Map.copyOf(headers);
            tls = tls == null ? new Tls(null, null, null) : tls;
            auth = auth == null ? new Auth(null, null, null) : auth;
            callTimeout = callTimeout == null ? Duration.ofSeconds(30) : callTimeout;
            resilience = resilience == null ? Resilience.defaults() : resilience;
        }

        /** A backend with the default resilience settings. */
        public Backend(String name, BackendType type, URI target, URI url, String instanceName,
                Map<String, String> headers, Tls tls, Auth auth, Duration callTimeout, int maxConcurrentCalls) {
            this(name, type, target, url, instanceName, headers, tls, auth, callTimeout, maxConcurrentCalls, null);
        }

        /** A backend that sends its own configured credentials. */
        public Backend(String name, BackendType type, URI target, URI url, String instanceName,
                Map<String, String> headers, Tls tls, Auth auth, Duration callTimeout, int maxConcurrentCalls,
                Resilience resilience) {
            this(name, type, target, url, instanceName, headers, tls, auth, callTimeout, maxConcurrentCalls, resilience,
                    false);
        }

        /** The same backend, sending its callers' credentials instead of its own when {@code forward}. */
        public Backend withForwardCredentials(boolean forward) {
            return new Backend(name, type, target, url, instanceName, headers, tls, auth, callTimeout,
                    maxConcurrentCalls, resilience, forward);
        }

        public static Backend embedded(String name) {
            return new Backend(name, BackendType.EMBEDDED, null, null, null, Map.of(), null, null, null, 16);
        }
    }

    /**
     * How Vouch protects itself and a remote backend from each other
     * ({@code vouch.backends[i].resilience.*}). Applied to each call that goes over the wire (one
     * HTTP HEAD or GET, one gRPC call: each FindMissingBlobs part, BatchReadBlobs, ByteStream.Read
     * stream, GetTree page, GetCapabilities), not to a validation's logical steps: an existence check
     * of 10,000 digests over {@code http} is 10,000 guarded calls. In resilience4j's order
     * Retry(CircuitBreaker(TimeLimiter(Bulkhead(call)))): every attempt takes a bulkhead permit and is
     * timed; the circuit breaker sees every attempt; the retry sees what the circuit breaker lets through.
     *
     * @param circuitBreaker stops calling a backend that keeps failing or is too slow, and probes it later
     * @param retry retries of transient failures (UNAVAILABLE, RESOURCE_EXHAUSTED, ABORTED, a timed-out
     *     call, HTTP 429/502/503/504, refused or reset connections), never of NOT_FOUND or a bad request
     * @param bulkhead calls in flight to the backend from the whole process
     * @param timeLimiter the time one call (attempt) may take
     */
    public record Resilience(
            @Valid @DefaultValue CircuitBreakerSettings circuitBreaker,
            @Valid @DefaultValue RetrySettings retry,
            @Valid @DefaultValue BulkheadSettings bulkhead,
            @Valid @DefaultValue TimeLimiterSettings timeLimiter) {

        public Resilience {
            Resilience defaults = circuitBreaker == null || retry == null || bulkhead == null || timeLimiter == null
                    ? defaults() : null;
            circuitBreaker = circuitBreaker == null ? defaults.circuitBreaker() : circuitBreaker;
            retry = retry == null ? defaults.retry() : retry;
            bulkhead = bulkhead == null ? defaults.bulkhead() : bulkhead;
            timeLimiter = timeLimiter == null ? defaults.timeLimiter() : timeLimiter;
        }

        /** The same values as the {@code @DefaultValue}s, for backends built in code. */
        public static Resilience defaults() {
            return defaultsOf(Resilience.class);
        }
    }

    /**
     * A count-based sliding window over the last calls: the circuit opens when enough of them failed
     * (a {@code BackendException} or a time-out; absence and malformed data are answers, not failures)
     * or were slow. A call cut off unanswered from the caller's side (the request's deadline passed)
     * after it had used at least half of the time it was allowed counts as a failed call, a time-out,
     * so a backend that accepts calls and never answers opens the circuit; cut sooner, it is not
     * counted. While open, calls fail at once with "circuit open" and the backend is not called;
     * after the wait, a few probe calls decide between closing and opening again (a {@code grpc}
     * backend first skips its channel's reconnect backoff, so the probes meet a fresh connection).
     * Waits and durations are measured on a monotonic clock, not the wall clock.
     *
     * @param failureRateThreshold percentage of failed calls in the window that opens the circuit
     * @param slowCallDurationThreshold a call slower than this counts as slow, even if it succeeds
     * @param slowCallRateThreshold percentage of slow calls in the window that opens the circuit
     * @param slidingWindowSize how many of the latest calls the rates are computed over
     * @param minimumNumberOfCalls calls needed before the rates are judged at all
     * @param waitDurationInOpenState how long the circuit stays open before probing
     * @param permittedCallsInHalfOpenState probe calls let through after the wait; more calls meanwhile are refused
     */
    public record CircuitBreakerSettings(
            @DecimalMin("1") @DecimalMax("100") @DefaultValue("50") float failureRateThreshold,
            @NotNull @DefaultValue("5s") Duration slowCallDurationThreshold,
            @DecimalMin("1") @DecimalMax("100") @DefaultValue("80") float slowCallRateThreshold,
            @Min(1) @DefaultValue("20") int slidingWindowSize,
            @Min(1) @DefaultValue("10") int minimumNumberOfCalls,
            @NotNull @DefaultValue("10s") Duration waitDurationInOpenState,
            @Min(1) @DefaultValue("3") int permittedCallsInHalfOpenState) {
    }

    /**
     * Exponential backoff with jitter: the wait before retry n is {@code initialBackoff *
     * multiplier^(n-1)}, moved randomly by up to {@code randomizationFactor} either way, at most
     * {@code maxBackoff}. A retry whose wait could pass the request's deadline is not made.
     *
     * @param maxAttempts calls in all, the first included; 1 turns retries off
     * @param initialBackoff the wait before the first retry
     * @param multiplier growth of the wait from one retry to the next
     * @param randomizationFactor jitter, so that many clients retrying at once spread out; below 1
     * @param maxBackoff the longest wait between two attempts
     */
    public record RetrySettings(
            @Min(1) @DefaultValue("3") int maxAttempts,
            @NotNull @DefaultValue("50ms") Duration initialBackoff,
            @DecimalMin("1.0") @DefaultValue("2") double multiplier,
            @DecimalMin("0.0") @DecimalMax(value = "1.0", inclusive = false) @DefaultValue("0.5") double randomizationFactor,
            @NotNull @DefaultValue("2s") Duration maxBackoff) {
    }

    /**
     * A bound on wire calls in flight to one backend from the whole process; past it a call fails at
     * once with "bulkhead full". There is no waiting for a free slot: resilience4j's bulkhead would
     * wait by blocking the calling thread, which here is an event loop. One request alone may have 64
     * calls in flight at the defaults (4 existence-check parts of {@code max-concurrent-calls} HEADs
     * each, for {@code http}), so the default leaves room for four such requests at once.
     *
     * @param maxConcurrentCalls wire calls (attempts, streams) in flight at once
     */
    public record BulkheadSettings(@Min(1) @DefaultValue("256") int maxConcurrentCalls) {
    }

    /**
     * @param timeout the longest one call may take (for a stream: the longest wait for its next
     *     element); unset, the backend's {@code call-timeout} plus 5s, so that the call's own
     *     deadline, with its precise status, normally fires first and this is only a backstop
     */
    public record TimeLimiterSettings(Duration timeout) {

        /** The effective timeout of a backend whose calls have {@code callTimeout}. */
        public Duration timeoutFor(Duration callTimeout) {
            return timeout != null ? timeout : callTimeout.plusSeconds(5);
        }
    }

    /**
     * @param caFile PEM file of the certificate authorities to trust instead of the system's
     * @param certFile PEM client certificate chain, for mutual TLS (with {@code keyFile})
     * @param keyFile PEM PKCS#8 private key of the client certificate
     */
    public record Tls(Path caFile, Path certFile, Path keyFile) {
    }

    /**
     * @param username basic authentication user (with {@code password})
     * @param password basic authentication password
     * @param bearerToken sent as {@code Authorization: Bearer <token>}
     */
    public record Auth(String username, String password, String bearerToken) {
    }

    /**
     * @param instancePattern a Java regex that must match the whole request instance name
     * @param backend the name of the backend for matching requests
     */
    public record Route(String instancePattern, String backend) {
    }

    /**
     * The gRPC server and the lifetime of its connections. Idle, old and silent connections are
     * closed so that they cannot pile up and hold file descriptors; clients reconnect on their own
     * (grpc-java, Bazel and Go clients treat the GOAWAY as routine).
     *
     * @param port the gRPC port: embedded REAPI services ({@code vouch.grpc.port})
     * @param maxInboundMessageBytes the largest gRPC message accepted; Bazel's batch calls stay below 4 MiB
     * @param shutdownGraceSeconds how long in-flight calls may run on shutdown before they are cancelled
     * @param maxConnectionIdle a connection without calls for this long is closed (GOAWAY)
     * @param maxConnectionAge a connection older than this is asked to go away, so that clients spread
     *     over new instances; its calls get {@code maxConnectionAgeGrace} to finish
     * @param maxConnectionAgeGrace how long calls of a connection past its age may still run; above the
     *     longest validation deadline ({@code vouch.limits.max-deadline}) by default
     * @param keepAliveTime how long a connection may be silent before Vouch pings the client to see it is there
     * @param keepAliveTimeout how long Vouch waits for the ping's answer before closing the connection
     * @param permitKeepAliveTime the shortest interval at which a client may ping; a client pinging more
     *     often is told to go away (ENHANCE_YOUR_CALM), which bounds ping floods
     * @param maxConcurrentCallsPerConnection calls one connection may have open at once; HTTP/2 clients
     *     queue the rest (advertised as MAX_CONCURRENT_STREAMS)
     * @param maxConnections connections the gRPC port holds at once; past it a new connection is closed
     *     as soon as it is accepted, so that file descriptors stay for the HTTP port and the store
     * @param handshakeTimeout how long a new connection may take to send its HTTP/2 preface (and finish
     *     TLS); a socket that connects and says nothing is closed after it, since the idle and keepalive
     *     limits only start once the connection is established (grpc-java's own default is 120s)
     */
    public record Grpc(
            @Min(0) @Max(65535) @DefaultValue("9092") int port,
            @Min(1024) @DefaultValue("16777216") int maxInboundMessageBytes,
            @Min(0) @DefaultValue("10") int shutdownGraceSeconds,
            @NotNull @DefaultValue("5m") Duration maxConnectionIdle,
            @NotNull @DefaultValue("1h") Duration maxConnectionAge,
            @NotNull @DefaultValue("10m") Duration maxConnectionAgeGrace,
            @NotNull @DefaultValue("2m") Duration keepAliveTime,
            @NotNull @DefaultValue("20s") Duration keepAliveTimeout,
            @NotNull @DefaultValue("30s") Duration permitKeepAliveTime,
            @Min(1) @DefaultValue("200") int maxConcurrentCallsPerConnection,
            @Min(1) @DefaultValue("4096") int maxConnections,
            @NotNull @DefaultValue("20s") Duration handshakeTimeout) {

        @ConstructorBinding
        public Grpc {
            Grpc defaults = maxConnectionIdle == null || maxConnectionAge == null || maxConnectionAgeGrace == null
                    || keepAliveTime == null || keepAliveTimeout == null || permitKeepAliveTime == null
                    || handshakeTimeout == null
                    ? defaultsOf(Grpc.class) : null;
            maxConnectionIdle = maxConnectionIdle == null ? defaults.maxConnectionIdle() : maxConnectionIdle;
            maxConnectionAge = maxConnectionAge == null ? defaults.maxConnectionAge() : maxConnectionAge;
            maxConnectionAgeGrace = maxConnectionAgeGrace == null ? defaults.maxConnectionAgeGrace() : maxConnectionAgeGrace;
            keepAliveTime = keepAliveTime == null ? defaults.keepAliveTime() : keepAliveTime;
            keepAliveTimeout = keepAliveTimeout == null ? defaults.keepAliveTimeout() : keepAliveTimeout;
            permitKeepAliveTime = permitKeepAliveTime == null ? defaults.permitKeepAliveTime() : permitKeepAliveTime;
            handshakeTimeout = handshakeTimeout == null ? defaults.handshakeTimeout() : handshakeTimeout;
        }

        /** The port, message size and grace given; connection settings at their defaults. */
        public Grpc(int port, int maxInboundMessageBytes, int shutdownGraceSeconds) {
            this(port, maxInboundMessageBytes, shutdownGraceSeconds, null, null, null, null, null, null, 200, 4096, null);
        }
    }

    /**
     * Connection limits of the HTTP port (REST API, actuator, the HTTP cache protocol), so that slow
     * or idle clients cannot hold its file descriptors.
     *
     * @param idleTimeout a keep-alive connection without a request for this long is closed, and so is a
     *     connection that sends nothing at all
     * @param requestHeaderTimeout how long a client has to send a request's line and headers, from their
     *     first byte; a connection still sending them then is closed (slowloris)
     * @param maxConnections connections the HTTP port holds at once. A connection past it makes room by
     *     closing an idle one (no request in progress: between keep-alive requests or still sending its
     *     headers), so a liveness probe always gets in while anything is idle; only when every connection
     *     has a request in progress is the new one closed at once
     */
    public record Http(
            @NotNull @DefaultValue("60s") Duration idleTimeout,
            @NotNull @DefaultValue("10s") Duration requestHeaderTimeout,
            @Min(1) @DefaultValue("8192") int maxConnections) {
    }

    /** What an Action Cache read at the cache front checks before it answers ({@code vouch.front.check}). */
    public enum FrontCheck {
        /** Every blob of the entry's closure exists (existence checks): verdict HIT, as the API's mode EXISTENCE. */
        EXISTENCE,
        /** Every blob is read back and hash-verified, as the API's mode FETCH: slower, sees corruption. */
        FETCH,
        /** Nothing: the backend's entry is served as it is, as a plain cache would. */
        NONE
    }

    /**
     * The cache front (SPEC "The cache front"): Vouch serving REAPI (Capabilities, ActionCache,
     * ContentAddressableStorage, ByteStream) on the gRPC port and the Bazel HTTP cache protocol under
     * {@code /cache} on the HTTP port, for whichever backend the request's instance name routes to,
     * answering an Action Cache entry only when its closure is complete.
     *
     * @param enabled serve the front ({@code vouch.front.enabled}); unset, it is served when a backend of
     *     type {@code embedded} is configured, or none is (as before the front served remote backends)
     * @param check what an Action Cache read checks ({@code vouch.front.check}): {@code EXISTENCE}, {@code FETCH}
     *     or {@code NONE}. An entry is answered only on verdict HIT; MISS and PARTIAL are NOT_FOUND / 404,
     *     UNKNOWN is UNAVAILABLE / 503
     * @param presenceTtl how long a blob confirmed present by a front lookup is not checked again
     *     ({@code vouch.front.presence-ttl}); 0 turns the window off. Only presence is kept, never absence or a
     *     failure; in {@code FETCH} only blobs read back and verified count. A blob evicted within the window may
     *     still be vouched for by a lookup in it: keep it short
     * @param presenceMaxEntries the most blobs the presence window holds ({@code vouch.front.presence-max-entries});
     *     about 200 bytes each, so the default is some 20 MB at most
     * @param repairFrom a configured backend's name ({@code vouch.front.repair-from}), the second tier: when an
     *     Action Cache read at the front is PARTIAL, the missing blobs this backend has are copied (streamed,
     *     hash-verified) into the served backend before the answer, and the entry is served if every missing
     *     blob was repaired. Unset: no repair
     */
    public record Front(
            Boolean enabled,
            @NotNull @DefaultValue("EXISTENCE") FrontCheck check,
            @NotNull @DefaultValue("5s") Duration presenceTtl,
            @Min(0) @DefaultValue("100000") long presenceMaxEntries,
            String repairFrom) {

        @ConstructorBinding
        public Front {
            check = check == null ? FrontCheck.EXISTENCE : check;
            presenceTtl = presenceTtl == null ? Duration.ofSeconds(5) : presenceTtl;
            if (presenceTtl.isNegative()) {
                throw new IllegalArgumentException("vouch.front.presence-ttl must not be negative, was " + presenceTtl);
            }
        }

        /** Every setting at its default, as with no configuration. */
        public static Front defaults() {
            return defaultsOf(Front.class);
        }
    }

    /**
     * @param maxSizeBytes the store's size bound; least recently used entries are evicted above it.
     *     Uploads in progress count toward it: an upload that cannot fit fails (RESOURCE_EXHAUSTED, 507)
     * @param maxBatchTotalSizeBytes advertised to clients in GetCapabilities; larger blobs go over ByteStream
     * @param uploadIdleTimeout how long an upload (ByteStream.Write, HTTP PUT) may send nothing before it is
     *     aborted and its temporary file deleted ({@code vouch.embedded.upload-idle-timeout})
     */
    public record Embedded(
            @Min(1) @DefaultValue("10737418240") long maxSizeBytes,
            @Min(1024) @DefaultValue("4194304") long maxBatchTotalSizeBytes,
            @DefaultValue("60s") Duration uploadIdleTimeout) {

        @ConstructorBinding
        public Embedded {
            if (uploadIdleTimeout == null) {
                uploadIdleTimeout = Duration.ofSeconds(60);
            } else if (uploadIdleTimeout.isNegative() || uploadIdleTimeout.isZero()) {
                throw new IllegalArgumentException("vouch.embedded.upload-idle-timeout must be positive, was " + uploadIdleTimeout);
            }
        }

        /** The size bounds only; the upload idle timeout keeps its default. */
        public Embedded(long maxSizeBytes, long maxBatchTotalSizeBytes) {
            this(maxSizeBytes, maxBatchTotalSizeBytes, null);
        }

        /** Every setting at its default, as with no configuration. */
        public static Embedded defaults() {
            return defaultsOf(Embedded.class);
        }
    }

    /**
     * @param maxActions actions per request
     * @param maxRequestBytes request body size; larger bodies get 413
     * @param maxBlobsPerAction closure size above which an action is UNKNOWN rather than checked
     * @param maxTreeBytes total bytes of Tree and Directory messages one action may make Vouch read (about
     *     six times as much heap while they are held)
     * @param findMissingBatchSize digests per existence query (bb-storage's 10,000 keeps a message near 700 KB)
     * @param actionConcurrency Action Cache lookups in flight per request
     * @param fetchConcurrency blob reads in flight per request in mode FETCH ({@code vouch.limits.fetch-concurrency})
     * @param defaultDeadline how long a request may take when it names no deadline ({@code X-Vouch-Deadline-Ms});
     *     actions undecided by then are UNKNOWN "deadline exceeded"
     * @param maxDeadline the longest deadline a request may ask for; longer ones are cut to it
     * @param maxInFlightValidations requests (not actions; REST and gRPC together) validated at once; past it 429
     *     with Retry-After over HTTP, RESOURCE_EXHAUSTED over gRPC
     * @param maxBlobsPerRequest distinct blobs (counted per action) one request may hold in its closures, counted
     *     while they are walked; actions whose closures would go past it are UNKNOWN
     * @param maxTreeBytesPerRequest bytes of Tree and Directory messages one request may hold parsed at once
     *     (each read once per request and shared by its actions); past it the action needing more is UNKNOWN
     * @param maxActionResultBytes the largest serialized ActionResult Vouch accepts or reads: uploads above it
     *     are refused (HTTP 413, gRPC INVALID_ARGUMENT), a larger entry in a backend makes its action UNKNOWN
     * @param validationHeapPercent the share of the JVM's maximum heap that the closures, Tree messages and
     *     ActionResults of all requests in progress may hold together, by Vouch's estimate of their size;
     *     an action that would go past it is UNKNOWN
     * @param overloadRetryAfter the {@code Retry-After} of a 429, rounded up to whole seconds
     * @param presenceTtl how long a blob that a validation request (REST or gRPC) confirmed present is counted
     *     present by later validation requests without asking the backend again ({@code vouch.limits.presence-ttl});
     *     0, the default, asks about every blob every time. The cache front has its own,
     *     {@code vouch.front.presence-ttl}. Only presence is kept (never absence or a failure, so no MISS, PARTIAL
     *     or UNKNOWN is ever turned into a HIT by it); a blob evicted within the window may still be vouched for
     */
    public record Limits(
            @Min(1) @DefaultValue("1000") int maxActions,
            @Min(1024) @DefaultValue("4194304") int maxRequestBytes,
            @Min(1) @DefaultValue("200000") int maxBlobsPerAction,
            @Min(1) @DefaultValue("33554432") long maxTreeBytes,
            @Min(1) @Max(10000) @DefaultValue("10000") int findMissingBatchSize,
            @Min(1) @DefaultValue("32") int actionConcurrency,
            @Min(1) @DefaultValue("8") int fetchConcurrency,
            @DefaultValue("30s") Duration defaultDeadline,
            @DefaultValue("5m") Duration maxDeadline,
            @Min(1) @DefaultValue("64") int maxInFlightValidations,
            @Min(1) @DefaultValue("500000") long maxBlobsPerRequest,
            @DefaultValue("1s") Duration overloadRetryAfter,
            @Min(1) @DefaultValue("67108864") long maxTreeBytesPerRequest,
            @Min(1024) @DefaultValue("1048576") int maxActionResultBytes,
            @Min(1) @Max(90) @DefaultValue("40") int validationHeapPercent,
            @DefaultValue("0s") Duration presenceTtl) {

        @ConstructorBinding
        public Limits {
            presenceTtl = presenceTtl == null ? Duration.ZERO : presenceTtl;
            if (presenceTtl.isNegative()) {
                throw new IllegalArgumentException("vouch.limits.presence-ttl must not be negative, was " + presenceTtl);
            }
            defaultDeadline = positive(defaultDeadline, Duration.ofSeconds(30), "default-deadline");
            maxDeadline = positive(maxDeadline, Duration.ofMinutes(5), "max-deadline");
            overloadRetryAfter = overloadRetryAfter == null ? Duration.ofSeconds(1) : overloadRetryAfter;
            if (defaultDeadline.compareTo(maxDeadline) > 0) {
                throw new IllegalArgumentException("vouch.limits.default-deadline (" + defaultDeadline
                        + ") is longer than vouch.limits.max-deadline (" + maxDeadline + ")");
            }
        }

        /** The per-request limits only; deadlines, overload and request-wide bounds keep their defaults. */
        public Limits(int maxActions, int maxRequestBytes, int maxBlobsPerAction, long maxTreeBytes,
                int findMissingBatchSize, int actionConcurrency, int fetchConcurrency) {
            this(maxActions, maxRequestBytes, maxBlobsPerAction, maxTreeBytes, findMissingBatchSize, actionConcurrency,
                    fetchConcurrency, null, null, 64, 2_000_000L, null, 64L << 20, 1 << 20, 40, null);
        }

        /** What {@code validationHeapPercent} of this JVM's maximum heap comes to. */
        public long validationHeapBytes() {
            return Runtime.getRuntime().maxMemory() / 100 * validationHeapPercent;
        }

        /** Every limit at its default, as with no configuration. */
        public static Limits defaults() {
            return defaultsOf(Limits.class);
        }

        private static Duration positive(Duration value, Duration fallback, String key) {
            if (value == null) {
                return fallback;
            }
            if (value.isNegative() || value.isZero()) {
                throw new IllegalArgumentException("vouch.limits." + key + " must be positive, was " + value);
            }
            return value;
        }
    }

    /**
     * @param threads threads of the bounded blocking-work scheduler
     * @param queuedTasks tasks that may wait for those threads before new work is refused
     */
    public record Io(
            @Min(1) @DefaultValue("16") int threads,
            @Min(1) @DefaultValue("100000") int queuedTasks) {
    }

    /** A nested settings record as bound from no configuration: the {@code @DefaultValue}s are the one source. */
    private static <T> T defaultsOf(Class<T> type) {
        return new Binder(new MapConfigurationPropertySource()).bindOrCreate("defaults", type);
    }
}
