package dev.vouch.ops;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.yaml.snakeyaml.Yaml;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** The repository's operations files (dashboard, rules, compose), read as the tools read them. */
final class OpsFiles {
    static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    static final Path DASHBOARD = ROOT.resolve("ops/grafana/vouch-dashboard.json");
    static final Path RULES = ROOT.resolve("ops/prometheus/vouch-rules.yaml");
    static final Path RULE_TESTS = ROOT.resolve("ops/prometheus/vouch-rules.test.yaml");
    static final Path README = ROOT.resolve("README.md");
    static final Path COMPOSE = ROOT.resolve("docker-compose.yml");

    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final Pattern VARIABLE = Pattern.compile("\\$\\{(\\w+)(?::\\w+)?}|\\$(\\w+)");
    private static final Pattern LABEL_VALUES = Pattern.compile("label_values\\((.+),\\s*(\\w+)\\)");

    private OpsFiles() {
    }

    /** One query of a dashboard panel. */
    record Target(String panel, String refId, String expr, String legendFormat) {
        @Override
        public String toString() {
            return "panel \"" + panel + "\" query " + refId;
        }
    }

    /** One recording or alerting rule. */
    record Rule(String group, String name, boolean alert, String expr, Map<String, String> labels,
            Map<String, String> annotations) {
        @Override
        public String toString() {
            return (alert ? "alert " : "recording rule ") + name;
        }
    }

    /** A query variable {@code label_values(selector, label)}. */
    record LabelValues(String variable, String selector, String label) {
    }

    static JsonNode dashboard() {
        return JSON.readTree(read(DASHBOARD));
    }

    /** Every panel query of the dashboard, rows' nested panels included. */
    static List<Target> targets(JsonNode dashboard) {
        List<Target> targets = new ArrayList<>();
        for (JsonNode panel : panels(dashboard)) {
            for (JsonNode target : panel.path("targets")) {
                targets.add(new Target(panel.path("title").asString(), target.path("refId").asString(),
                        target.path("expr").asString(), target.path("legendFormat").asString("")));
            }
        }
        return targets;
    }

    static List<JsonNode> panels(JsonNode dashboard) {
        List<JsonNode> panels = new ArrayList<>();
        for (JsonNode panel : dashboard.path("panels")) {
            panels.add(panel);
            panel.path("panels").forEach(panels::add);
        }
        return panels;
    }

    static List<LabelValues> labelValueVariables(JsonNode dashboard) {
        List<LabelValues> variables = new ArrayList<>();
        for (JsonNode variable : dashboard.path("templating").path("list")) {
            if (!variable.path("type").asString().equals("query")) {
                continue;
            }
            String query = variable.path("query").isObject()
                    ? variable.path("query").path("query").asString()
                    : variable.path("query").asString();
            Matcher m = LABEL_VALUES.matcher(query);
            if (!m.matches()) {
                throw new AssertionError("variable " + variable.path("name").asString()
                        + " is not a label_values(selector, label) query: " + query);
            }
            variables.add(new LabelValues(variable.path("name").asString(), m.group(1), m.group(2)));
        }
        return variables;
    }

    /** {@code expr} with every template variable replaced: Grafana's own by a fixed range, ours by {@code values}. */
    static String substitute(String expr, Map<String, String> values) {
        Matcher m = VARIABLE.matcher(expr);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            String name = m.group(1) != null ? m.group(1) : m.group(2);
            String value = switch (name) {
                case "__rate_interval", "__interval", "__range" -> "1m";
                default -> values.get(name);
            };
            if (value == null) {
                throw new AssertionError("unknown template variable $" + name + " in " + expr);
            }
            m.appendReplacement(out, Matcher.quoteReplacement(value));
        }
        m.appendTail(out);
        return out.toString();
    }

    @SuppressWarnings("unchecked")
    static List<Rule> rules() {
        Map<String, Object> file = new Yaml().load(read(RULES));
        List<Rule> rules = new ArrayList<>();
        for (Map<String, Object> group : (List<Map<String, Object>>) file.get("groups")) {
            for (Map<String, Object> rule : (List<Map<String, Object>>) group.get("rules")) {
                boolean alert = rule.containsKey("alert");
                rules.add(new Rule((String) group.get("name"), (String) rule.get(alert ? "alert" : "record"), alert,
                        (String) rule.get("expr"),
                        (Map<String, String>) rule.getOrDefault("labels", Map.of()),
                        (Map<String, String>) rule.getOrDefault("annotations", Map.of())));
            }
        }
        return rules;
    }

    static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** {@code name} on the PATH or in /usr/bin, or null where it is not installed. */
    static Path executable(String name) {
        List<String> dirs = new ArrayList<>(List.of(System.getenv().getOrDefault("PATH", "").split(":")));
        dirs.add("/usr/bin");
        for (String dir : dirs) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, name))) {
                return Path.of(dir, name);
            }
        }
        return null;
    }
}
