package dev.vouch.api.http;

import dev.vouch.backend.Deadline;
import dev.vouch.config.VouchProperties;
import java.time.Duration;
import java.util.List;
import org.springframework.http.HttpHeaders;

/**
 * The deadline of a REST request: {@value #HEADER} milliseconds from its arrival, at most
 * {@code vouch.limits.max-deadline}, or {@code vouch.limits.default-deadline} without the header.
 */
final class RequestDeadlines {
    static final String HEADER = "X-Vouch-Deadline-Ms";

    private final Duration defaultDeadline;
    private final Duration maxDeadline;

    RequestDeadlines(VouchProperties.Limits limits) {
        this.defaultDeadline = limits.defaultDeadline();
        this.maxDeadline = limits.maxDeadline();
    }

    /** The request's deadline, or a 400 naming the header when its value is not a positive integer. */
    Deadline of(HttpHeaders headers) {
        List<String> values = headers.get(HEADER);
        if (values == null || values.isEmpty()) {
            return Deadline.in(defaultDeadline);
        }
        if (values.size() > 1) {
            throw ApiProblemException.invalid(HEADER, HEADER + " must be given once, got " + values.size() + " values");
        }
        String text = values.get(0).trim();
        long millis;
        try {
            millis = Long.parseLong(text);
        } catch (NumberFormatException e) {
            throw notPositive(text);
        }
        if (millis <= 0) {
            throw notPositive(text);
        }
        // a client may ask for less than the maximum, never for more
        Duration asked = Duration.ofMillis(millis);
        return Deadline.in(asked.compareTo(maxDeadline) < 0 ? asked : maxDeadline);
    }

    private static ApiProblemException notPositive(String text) {
        String shown = text.length() <= 40 ? text : text.substring(0, 40) + "...";
        return ApiProblemException.invalid(HEADER, HEADER + " must be a positive integer of milliseconds, got \""
                + shown + "\"");
    }
}
