package dev.vouch.bench;

import java.util.Map;

/**
 * What one measured window gave.
 *
 * @param unit what {@code throughput} counts per second: actions, requests or blobs
 * @param cpuPerUnit CPU-ms of V per action or request; CPU-s of the backend's store per million blobs for raw-fmb
 * @param heapLiveBytes {@code jvm_gc_live_data_size_bytes}: the heap after the last old-generation GC (0 before one)
 * @param heapOldBytes the old generation's {@code jvm_memory_used_bytes} at the end, which young GCs do not shrink
 * @param backendCalls calls per operation during the window: V's {@code vouch_backend_call_seconds_count}
 *     delta, or for the agent-side and raw phases the calls the bench made itself
 */
public record PhaseResult(String phase, String unit, double seconds, long requests, long actions, long blobs,
        double throughput, double p50Ms, double p99Ms, double maxMs, double cpuV, double cpuB, double cpuPerUnit,
        long rssEndV, long rssMaxV, long rssEndB, long rssMaxB, double heapLiveBytes, double heapOldBytes, double heapUsedBytes,
        Map<String, Long> backendCalls, Map<String, Long> verdicts, long wrong, long errors, String firstProblem) {
}
