package dev.vouch.validation;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;

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

    /** Distinct blobs found missing in one request (by an existence check or a failed Tree/Directory read). */
    public void blobsMissing(String backend, long count) {
        counter("vouch.blobs.missing", "Blobs found missing", backend).increment(count);
    }

    /** Distinct blobs read back in one request (mode FETCH) whose bytes did not match their digest. */
    public void blobsCorrupt(String backend, long count) {
        counter("vouch.blobs.corrupt", "Blobs found corrupt", backend).increment(count);
    }

    private Counter counter(String name, String description, String backend) {
        return Counter.builder(name).description(description).tag("backend", backend).register(registry);
    }
}
