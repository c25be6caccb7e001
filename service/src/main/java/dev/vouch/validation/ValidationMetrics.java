package dev.vouch.validation;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.Map;

/** The validation meters whose Prometheus names SPEC "Metrics" fixes (dashboards and alerts use them). */
public class ValidationMetrics {
    private final MeterRegistry registry;

    public ValidationMetrics(MeterRegistry registry) {
        this.registry = registry;
    }

    /** One requested position's verdict: {@code vouch_verdicts_total} and {@code vouch_validation_seconds}. */
    public void verdict(ActionVerdict verdict, Mode mode, String instanceName) {
        Counter.builder("vouch.verdicts")
                .description("Verdicts, one per requested action")
                .tag("verdict", verdict.verdict().name())
                .tag("mode", mode.name())
                .tag("backend", verdict.backend())
                .tag("instance", instanceName)
                .register(registry)
                .increment();
        Timer.builder("vouch.validation")
                .description("Time from request start to an action's verdict")
                .publishPercentileHistogram()
                .tag("mode", mode.name())
                .tag("backend", verdict.backend())
                .register(registry)
                .record(Duration.ofNanos(Math.round(verdict.elapsedMillis() * 1_000_000d)));
    }

    /** Digests sent to existence checks, or blobs read back in mode FETCH. */
    public void blobsChecked(String backend, long count) {
        counter("vouch.blobs.checked", "Digests sent to existence checks or blobs read back", backend).increment(count);
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
            Counter.builder(name).description(description).tag("backend", backend).tag("kind", kind.name())
                    .register(registry)
                    .increment(byKind.getOrDefault(kind, 0L));
        }
    }

    private Counter counter(String name, String description, String backend) {
        return Counter.builder(name).description(description).tag("backend", backend).register(registry);
    }
}
