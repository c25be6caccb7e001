package dev.vouch.validation;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * The validation meters whose Prometheus names SPEC "Metrics" fixes (dashboards and alerts use them).
 * Every tag value is Vouch's own (verdicts, modes, configured backend names) except the instance
 * name, which is bounded by {@link InstanceNameTag}.
 */
public class ValidationMetrics {
    private final MeterRegistry registry;
    private final InstanceNameTag instanceNames;
    /** Meters by their tags: each verdict and each existence check looks one up, and building one per lookup was most of the cost. */
    private final ConcurrentHashMap<List<String>, Meter> meters = new ConcurrentHashMap<>();

    /** Only the empty instance name keeps its own {@code instance_name} value; for tests. */
    public ValidationMetrics(MeterRegistry registry) {
        this(registry, InstanceNameTag.defaultOnly());
    }

    public ValidationMetrics(MeterRegistry registry, InstanceNameTag instanceNames) {
        this.registry = registry;
        this.instanceNames = instanceNames;
    }

    /** One requested position's verdict: {@code vouch_verdicts_total} and {@code vouch_validation_seconds}. */
    public void verdict(ActionVerdict verdict, Mode mode, String instanceName, Source source) {
        String instanceTag = instanceNames.of(instanceName);
        ((Counter) meter(List.of("vouch.verdicts", verdict.verdict().name(), mode.name(), verdict.backend(), instanceTag,
                source.tag()), () -> Counter.builder("vouch.verdicts")
                .description("Verdicts, one per requested action")
                .tag("verdict", verdict.verdict().name())
                .tag("mode", mode.name())
                .tag("backend", verdict.backend())
                // not "instance": Prometheus sets its own instance label on every scraped series
                .tag("instance_name", instanceTag)
                .tag("source", source.tag())
                .register(registry)))
                .increment();
        ((Timer) meter(List.of("vouch.validation", mode.name(), verdict.backend()), () -> Timer.builder("vouch.validation")
                .description("Time from request start to an action's verdict")
                .publishPercentileHistogram()
                .tag("mode", mode.name())
                .tag("backend", verdict.backend())
                .register(registry)))
                .record(Duration.ofNanos(Math.round(verdict.elapsedMillis() * 1_000_000d)));
    }

    /**
     * The meter {@code key} names, registered by {@code register} the first time. Tag values are bounded
     * (verdicts, modes, configured backends, {@link InstanceNameTag}), so this map is too.
     */
    private Meter meter(List<String> key, Supplier<Meter> register) {
        Meter meter = meters.get(key);
        return meter != null ? meter : meters.computeIfAbsent(key, k -> register.get());
    }

    /** Digests sent to existence checks, or blobs read back in mode FETCH. */
    public void blobsChecked(String backend, long count) {
        counter("vouch.blobs.checked", "Digests sent to existence checks or blobs read back", backend).increment(count);
    }

    /** Blobs the cache front copied into {@code backend} from {@code vouch.front.repair-from}: {@code vouch_blobs_repaired_total{backend}}. */
    public void blobsRepaired(String backend, long count) {
        Counter.builder("vouch.blobs.repaired")
                .description("Blobs copied into the backend from vouch.front.repair-from")
                .tag("backend", backend)
                .register(registry)
                .increment(count);
    }

    /**
     * Distinct blobs found missing in one request (by an existence check or a failed Tree/Directory
     * read), by the kind of reference that needs them: {@code vouch_blobs_missing_total{backend,kind}}.
     */
    public void blobsMissing(String backend, Map<BlobKind, Long> byKind) {
        countByKind("vouch.blobs.missing", "Blobs found missing", backend, byKind);
    }

    /**
     * Distinct blobs of one request whose bytes did not match their digest (any blob in mode FETCH,
     * Tree blobs in both modes), by kind: {@code vouch_blobs_corrupt_total{backend,kind}}.
     */
    public void blobsCorrupt(String backend, Map<BlobKind, Long> byKind) {
        countByKind("vouch.blobs.corrupt", "Blobs found corrupt", backend, byKind);
    }

    // every kind is registered, at zero if need be, so that rate() over a kind has a series from the first check on
    private void countByKind(String name, String description, String backend, Map<BlobKind, Long> byKind) {
        for (BlobKind kind : BlobKind.values()) {
            ((Counter) meter(List.of(name, backend, kind.name()), () -> Counter.builder(name).description(description)
                    .tag("backend", backend).tag("kind", kind.name())
                    .register(registry)))
                    .increment(byKind.getOrDefault(kind, 0L));
        }
    }

    private Counter counter(String name, String description, String backend) {
        return (Counter) meter(List.of(name, backend),
                () -> Counter.builder(name).description(description).tag("backend", backend).register(registry));
    }
}
