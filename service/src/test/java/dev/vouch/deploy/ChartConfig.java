package dev.vouch.deploy;

import dev.vouch.auth.AuthProperties;
import dev.vouch.config.ShutdownProperties;
import dev.vouch.config.VouchProperties;
import dev.vouch.tls.TlsProperties;
import jakarta.validation.Validation;
import jakarta.validation.ValidatorFactory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.hibernate.validator.messageinterpolation.ParameterMessageInterpolator;
import org.springframework.boot.context.properties.bind.BindHandler;
import org.springframework.boot.context.properties.bind.Bindable;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.bind.PropertySourcesPlaceholdersResolver;
import org.springframework.boot.context.properties.bind.handler.IgnoreTopLevelConverterNotFoundBindHandler;
import org.springframework.boot.context.properties.bind.handler.NoUnboundElementsBindHandler;
import org.springframework.boot.context.properties.bind.validation.ValidationBindHandler;
import org.springframework.boot.context.properties.source.MapConfigurationPropertySource;
import org.springframework.boot.env.YamlPropertySourceLoader;
import org.springframework.core.env.EnumerablePropertySource;
import org.springframework.core.env.MapPropertySource;
import org.springframework.core.env.PropertySource;
import org.springframework.core.io.ByteArrayResource;
import org.springframework.validation.beanvalidation.SpringValidatorAdapter;

/**
 * The application.yaml the chart gives the pod, read as Vouch reads it: Spring's YAML loader, then
 * Spring's Binder into Vouch's own configuration records with their validation, and, unlike Vouch
 * at start-up, refusing any key under {@code vouch.} that no record has (a misspelt key would
 * otherwise be ignored silently). {@code ${NAME}} placeholders resolve against {@code env}.
 */
record ChartConfig(Map<String, Object> properties, VouchProperties vouch, ShutdownProperties shutdown,
        AuthProperties auth, TlsProperties tls) {

    private static final String SHUTDOWN = "vouch.shutdown.";
    private static final String AUTH = "vouch.auth.";
    private static final String TLS = "vouch.tls.";

    static ChartConfig bind(String applicationYaml, Map<String, Object> env) {
        Map<String, Object> all = new TreeMap<>();
        Map<String, Object> vouch = new TreeMap<>();
        Map<String, Object> shutdown = new TreeMap<>();
        Map<String, Object> auth = new TreeMap<>();
        Map<String, Object> tls = new TreeMap<>();
        for (Map.Entry<String, Object> e : flatten(applicationYaml).entrySet()) {
            all.put(e.getKey(), e.getValue());
            if (e.getKey().startsWith(SHUTDOWN)) {
                shutdown.put(e.getKey(), e.getValue());
            } else if (e.getKey().startsWith(AUTH)) {
                auth.put(e.getKey(), e.getValue());
            } else if (e.getKey().startsWith(TLS)) {
                tls.put(e.getKey(), e.getValue());
            } else if (e.getKey().startsWith("vouch.")) {
                vouch.put(e.getKey(), e.getValue());
            }
        }
        PropertySourcesPlaceholdersResolver placeholders =
                new PropertySourcesPlaceholdersResolver(List.of(new MapPropertySource("env", env)));
        try (ValidatorFactory factory = Validation.byDefaultProvider().configure()
                .messageInterpolator(new ParameterMessageInterpolator()).buildValidatorFactory()) {
            BindHandler strict = new NoUnboundElementsBindHandler(new ValidationBindHandler(
                    new IgnoreTopLevelConverterNotFoundBindHandler(), new SpringValidatorAdapter(factory.getValidator())));
            VouchProperties vouchProperties = new Binder(List.of(new MapConfigurationPropertySource(vouch)), placeholders)
                    .bindOrCreate("vouch", Bindable.of(VouchProperties.class), strict);
            ShutdownProperties shutdownProperties = new Binder(List.of(new MapConfigurationPropertySource(shutdown)), placeholders)
                    .bindOrCreate("vouch.shutdown", Bindable.of(ShutdownProperties.class), strict);
            AuthProperties authProperties = new Binder(List.of(new MapConfigurationPropertySource(auth)), placeholders)
                    .bindOrCreate("vouch.auth", Bindable.of(AuthProperties.class), strict);
            TlsProperties tlsProperties = new Binder(List.of(new MapConfigurationPropertySource(tls)), placeholders)
                    .bindOrCreate("vouch.tls", Bindable.of(TlsProperties.class), strict);
            return new ChartConfig(all, vouchProperties, shutdownProperties, authProperties, tlsProperties);
        }
    }

    /** Spring's own flattening of a YAML document: {@code vouch.backends[0].name} and so on. */
    static Map<String, Object> flatten(String yaml) {
        try {
            Map<String, Object> flat = new TreeMap<>();
            for (PropertySource<?> source : new YamlPropertySourceLoader().load("application.yaml",
                    new ByteArrayResource(yaml.getBytes(StandardCharsets.UTF_8)))) {
                EnumerablePropertySource<?> enumerable = (EnumerablePropertySource<?>) source;
                for (String name : enumerable.getPropertyNames()) {
                    flat.put(name, String.valueOf(enumerable.getProperty(name)));
                }
            }
            return flat;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
