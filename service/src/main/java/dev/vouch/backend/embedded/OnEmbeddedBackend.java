package dev.vouch.backend.embedded;

import dev.vouch.config.VouchProperties;
import java.util.List;
import org.springframework.boot.context.properties.bind.Bindable;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.context.annotation.Condition;
import org.springframework.context.annotation.ConditionContext;
import org.springframework.core.type.AnnotatedTypeMetadata;

/**
 * True when the embedded cache is wanted: no {@code vouch.backends} configured, or one of type
 * {@code embedded}. Only then does Vouch open its data directory and serve the cache's protocols.
 */
public class OnEmbeddedBackend implements Condition {
    @Override
    public boolean matches(ConditionContext context, AnnotatedTypeMetadata metadata) {
        List<VouchProperties.Backend> backends = Binder.get(context.getEnvironment())
                .bind("vouch.backends", Bindable.listOf(VouchProperties.Backend.class))
                .orElse(List.of());
        return backends.isEmpty() || backends.stream().anyMatch(b -> b.type() == VouchProperties.BackendType.EMBEDDED);
    }
}
