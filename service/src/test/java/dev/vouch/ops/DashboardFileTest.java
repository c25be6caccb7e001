package dev.vouch.ops;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;

/**
 * The dashboard file as Grafana provisions it: a classic dashboard of a current schema whose
 * queries all go to the Prometheus chosen in {@code $datasource}, with the panels issue 8 asks for,
 * over the meters SPEC "Metrics" allows. Its queries are run against the service by
 * {@link DashboardAndRulesAgainstServiceTest}.
 */
class DashboardFileTest {
    private static final JsonNode DASHBOARD = OpsFiles.dashboard();
    private static final String DATASOURCE = "${datasource}";
    private static final Map<String, String> ANY = Map.of("job", ".*", "backend", ".*", "instance_name", ".*");

    @Test
    void classicDashboardOfACurrentGrafana() {
        // 41: Grafana 12.0; 42, the last classic schema: Grafana 12.2 and later
        assertThat(DASHBOARD.path("schemaVersion").asInt()).isBetween(41, 42);
        assertThat(DASHBOARD.path("uid").asString()).matches("[a-z0-9-]{1,40}");
        assertThat(DASHBOARD.path("title").asString()).isEqualTo("Vouch");
    }

    @Test
    void datasourceIsATemplateVariableOfTypePrometheus() {
        JsonNode variables = DASHBOARD.path("templating").path("list");
        assertThat(variables).filteredOn(v -> v.path("name").asString().equals("datasource")).singleElement()
                .satisfies(v -> {
                    assertThat(v.path("type").asString()).isEqualTo("datasource");
                    assertThat(v.path("query").asString()).isEqualTo("prometheus");
                });
        for (JsonNode variable : variables) {
            if (variable.path("type").asString().equals("query")) {
                assertDatasource("variable " + variable.path("name").asString(), variable.path("datasource"));
            }
        }
        for (JsonNode panel : OpsFiles.panels(DASHBOARD)) {
            if (panel.path("type").asString().equals("row")) {
                continue;
            }
            String where = "panel " + panel.path("title").asString();
            assertDatasource(where, panel.path("datasource"));
            assertThat(panel.path("targets")).as(where).isNotEmpty();
            for (JsonNode target : panel.path("targets")) {
                assertDatasource(where, target.path("datasource"));
                assertThat(target.path("expr").asString()).as(where).isNotBlank();
            }
        }
    }

    @Test
    void backendAndInstanceNameVariablesComeFromTheVerdictCounter() {
        assertThat(OpsFiles.labelValueVariables(DASHBOARD))
                .extracting(OpsFiles.LabelValues::variable, OpsFiles.LabelValues::label)
                .contains(org.assertj.core.groups.Tuple.tuple("backend", "backend"),
                        org.assertj.core.groups.Tuple.tuple("instance_name", "instance_name"));
        assertThat(OpsFiles.labelValueVariables(DASHBOARD)).filteredOn(v -> !v.variable().equals("job"))
                .allSatisfy(v -> assertThat(v.selector()).startsWith("vouch_verdicts_total"));
    }

    @Test
    void panelsHaveUniqueIdsAndTitlesAndFitTheGrid() {
        Set<Integer> ids = new HashSet<>();
        Set<String> titles = new HashSet<>();
        for (JsonNode panel : OpsFiles.panels(DASHBOARD)) {
            String title = panel.path("title").asString();
            assertThat(ids.add(panel.path("id").asInt())).as("id of %s is unique", title).isTrue();
            assertThat(titles.add(title)).as("title %s is unique", title).isTrue();
            JsonNode grid = panel.path("gridPos");
            assertThat(grid.path("x").asInt() + grid.path("w").asInt()).as("%s fits 24 columns", title).isBetween(1, 24);
            assertThat(grid.path("h").asInt()).as("height of %s", title).isPositive();
        }
    }

    @Test
    void panelsCoverWhatTheIssueAsksFor() {
        Set<String> metrics = new TreeSet<>();
        for (OpsFiles.Target target : OpsFiles.targets(DASHBOARD)) {
            for (String selector : PromQl.of(OpsFiles.substitute(target.expr(), ANY)).selectors()) {
                metrics.add(selector.replaceFirst("\\{.*", ""));
            }
        }
        assertThat(metrics).contains("vouch_verdicts_total", "vouch_blobs_missing_total", "vouch_blobs_corrupt_total",
                "vouch_validation_seconds_bucket", "vouch_backend_call_seconds_count", "vouch_backend_call_seconds_bucket",
                "resilience4j_circuitbreaker_state", "vouch_validations_in_flight", "vouch_validations_rejected_total",
                "jvm_memory_used_bytes", "jvm_gc_pause_seconds_sum");
    }

    @Test
    void dashboardAndRulesUseOnlyTheMetersSpecAllows() {
        // SPEC "Metrics": Vouch's meters, resilience4j's, Micrometer's JVM and process meters (and Prometheus' up)
        List<String> exprs = new java.util.ArrayList<>();
        OpsFiles.targets(DASHBOARD).forEach(t -> exprs.add(OpsFiles.substitute(t.expr(), ANY)));
        OpsFiles.rules().forEach(r -> exprs.add(r.expr()));
        for (String expr : exprs) {
            for (String selector : PromQl.of(expr).selectors()) {
                assertThat(selector).as(expr).matches("(vouch_|vouch:|resilience4j_|jvm_|process_|up\\{).*");
            }
        }
    }

    private static void assertDatasource(String where, JsonNode datasource) {
        assertThat(datasource.path("type").asString()).as("datasource type of %s", where).isEqualTo("prometheus");
        assertThat(datasource.path("uid").asString()).as("datasource of %s", where).isEqualTo(DATASOURCE);
    }
}
