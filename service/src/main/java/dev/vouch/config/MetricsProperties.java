package dev.vouch.config;

import jakarta.validation.constraints.Min;
import java.util.List;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.boot.context.properties.source.MapConfigurationPropertySource;
import org.springframework.validation.annotation.Validated;

/**
 * Vouch's own meters ({@code vouch.metrics.*}). The {@code instance_name} tag of
 * {@code vouch_verdicts_total} carries a value clients choose, so its values are bounded: the
 * names below, the literal instance patterns of {@code vouch.routes}, the empty (default) instance
 * name, and the first {@code max-seen-instance-names} other names seen since start-up keep their
 * own value; every other name is counted as {@code other}.
 *
 * @param instanceNames instance names that always keep their own {@code instance_name} value
 *     ({@code vouch.metrics.instance-names}), whatever arrived before them
 * @param maxSeenInstanceNames how many further distinct instance names, the first ones seen since
 *     start-up, keep their own value ({@code vouch.metrics.max-seen-instance-names}); 0 counts every
 *     name not configured as {@code other}. Names longer than 128 characters are always {@code other}.
 */
@Validated
@ConfigurationProperties("vouch.metrics")
public record MetricsProperties(
        List<String> instanceNames,
        @Min(0) @DefaultValue("100") int maxSeenInstanceNames) {

    public MetricsProperties {
        instanceNames = instanceNames == null ? List.of() : List.copyOf(instanceNames);
    }

    /** The settings of no configuration: the {@code @DefaultValue}s are the one source. */
    public static MetricsProperties defaults() {
        return new Binder(new MapConfigurationPropertySource()).bindOrCreate("vouch.metrics", MetricsProperties.class);
    }
}
