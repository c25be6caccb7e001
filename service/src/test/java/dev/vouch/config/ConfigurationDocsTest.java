package dev.vouch.config;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vouch.auth.AuthProperties;
import dev.vouch.tls.TlsProperties;
import java.io.IOException;
import java.lang.reflect.Constructor;
import java.lang.reflect.Parameter;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.RecordComponent;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.boot.context.properties.bind.DefaultValue;

/**
 * {@code docs/configuration.md} is the reference users read for every key: it must list every key
 * of Vouch's configuration records, with the default the code really has, so that a key added or a
 * default changed in code without the documentation fails the build.
 */
class ConfigurationDocsTest {
    private static final Path DOCS = Path.of("..", "docs", "configuration.md");
    // | `key` | `default` | meaning |
    private static final Pattern ROW = Pattern.compile("^\\| `([^`]+)`[^|]*\\| ([^|]*) \\|", Pattern.MULTILINE);

    private static String text;
    private static final Map<String, String> documentedDefaults = new LinkedHashMap<>();

    @BeforeAll
    static void read() throws IOException {
        text = Files.readString(DOCS);
        Matcher row = ROW.matcher(text);
        while (row.find()) {
            documentedDefaults.put(row.group(1), row.group(2).trim());
        }
    }

    @Test
    void everyKeyIsDocumented() {
        List<String> undocumented = new ArrayList<>();
        for (Key key : keys()) {
            if (!documentedDefaults.containsKey(key.documented()) && !text.contains("`" + key.documented() + "`")
                    && !text.contains("`." + key.leaf() + "`")) {
                undocumented.add(key.documented());
            }
        }
        assertThat(undocumented).as("keys of the configuration records missing from docs/configuration.md").isEmpty();
    }

    @Test
    void documentedDefaultsAreTheCodesDefaults() {
        List<String> wrong = new ArrayList<>();
        for (Key key : keys()) {
            String documented = documentedDefaults.get(key.documented());
            if (key.defaultValue() != null && documented != null && documented.startsWith("`")
                    && !documented.equals("`" + key.defaultValue() + "`")) {
                wrong.add(key.documented() + ": documented " + documented + ", code has " + key.defaultValue());
            }
        }
        assertThat(wrong).as("defaults in docs/configuration.md that differ from the code").isEmpty();
    }

    private static Constructor<?> canonicalConstructor(Class<?> record, RecordComponent[] components) {
        Class<?>[] types = new Class<?>[components.length];
        for (int i = 0; i < components.length; i++) {
            types[i] = components[i].getType();
        }
        try {
            return record.getDeclaredConstructor(types);
        } catch (NoSuchMethodException e) {
            throw new IllegalStateException(record + " has no canonical constructor", e);
        }
    }

    /** A leaf key: how docs name it (resilience keys relative to {@code vouch.backends[i].resilience.}). */
    private record Key(String documented, String leaf, String defaultValue) {
    }

    private static List<Key> keys() {
        List<Key> keys = new ArrayList<>();
        collect(VouchProperties.class, "vouch.", keys);
        collect(MetricsProperties.class, "vouch.metrics.", keys);
        collect(ShutdownProperties.class, "vouch.shutdown.", keys);
        collect(AuthProperties.class, "vouch.auth.", keys);
        collect(TlsProperties.class, "vouch.tls.", keys);
        return keys;
    }

    private static void collect(Class<?> record, String prefix, List<Key> keys) {
        RecordComponent[] components = record.getRecordComponents();
        Parameter[] parameters = canonicalConstructor(record, components).getParameters();
        for (int i = 0; i < components.length; i++) {
            RecordComponent component = components[i];
            String name = component.getName().replaceAll("([a-z0-9])([A-Z])", "$1-$2").toLowerCase(Locale.ROOT);
            Class<?> type = component.getType();
            String key = prefix + name;
            if (List.class.isAssignableFrom(type) && component.getGenericType() instanceof ParameterizedType p
                    && p.getActualTypeArguments()[0] instanceof Class<?> element && element.isRecord()) {
                collect(element, key + (name.equals("routes") ? "[j]." : "[i]."), keys);
            } else if (type.isRecord()) {
                collect(type, key + ".", keys);
            } else {
                // @DefaultValue sits on the canonical constructor's parameter, where the binder reads it
                DefaultValue value = parameters[i].getAnnotation(DefaultValue.class);
                String documented = key.startsWith("vouch.backends[i].resilience.")
                        ? key.substring("vouch.backends[i].resilience.".length())
                        : key.equals("vouch.backends[i].headers") ? "vouch.backends[i].headers.<name>" : key;
                keys.add(new Key(documented, name, value == null || value.value().length == 0 ? null : value.value()[0]));
            }
        }
    }
}
