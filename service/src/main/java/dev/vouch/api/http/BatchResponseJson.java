package dev.vouch.api.http;

import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.vouch.validation.Verdict;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The body of a {@code POST /v1/validate} JSON answer: results in request order and a count per verdict. */
@JsonPropertyOrder({"results", "summary"})
record BatchResponseJson(List<ResultJson> results, Map<String, Integer> summary) {

    static BatchResponseJson of(List<ResultJson> results) {
        // Every verdict appears, zero or not, in a fixed order, so dashboards can read keys blindly.
        Map<String, Integer> summary = new LinkedHashMap<>();
        for (Verdict verdict : Verdict.values()) {
            summary.put(verdict.name(), 0);
        }
        results.forEach(r -> summary.merge(r.verdict().name(), 1, Integer::sum));
        return new BatchResponseJson(results, summary);
    }
}
