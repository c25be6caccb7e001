package dev.vouch.front;

import dev.vouch.config.VouchProperties;
import java.util.List;
import org.springframework.boot.context.properties.bind.Bindable;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.context.annotation.Condition;
import org.springframework.context.annotation.ConditionContext;
import org.springframework.core.type.AnnotatedTypeMetadata;

/**
 * True when the cache front is served: {@code vouch.front.enabled} when it is set, otherwise when a
 * backend of type {@code embedded} is configured or none is (SPEC "The cache front": Vouch with no
 * configuration is a working cache; one configured only with remote caches is a validator unless
 * asked to be a front too).
 */
public class OnFrontEnabled implements Condition {
    @Override
    public boolean matches(ConditionContext context, AnnotatedTypeMetadata metadata) {
        Binder binder = Binder.get(context.getEnvironment());
        Boolean enabled = binder.bind("vouch.front.enabled", Boolean.class).orElse(null);
        if (enabled != null) {
            return enabled;
        }
        List<VouchProperties.Backend> backends = binder
                .bind("vouch.backends", Bindable.listOf(VouchProperties.Backend.class))
                .orElse(List.of());
        return backends.isEmpty() || backends.stream().anyMatch(b -> b.type() == VouchProperties.BackendType.EMBEDDED);
    }
}
