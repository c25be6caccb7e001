package dev.vouch.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;

/**
 * The shipped alert rules as Prometheus' own tool judges them: {@code promtool check rules} and
 * {@code promtool test rules} over {@code ops/prometheus/vouch-rules.test.yaml}, where every alert
 * has cases that fire and cases that stay silent. Skipped where Debian's {@code prometheus}
 * package (which brings promtool) is not installed; {@code .ci/run} installs it.
 */
class PromtoolRulesTest {
    private static final Set<String> SEVERITIES = Set.of("page", "warning");

    @Test
    void promtoolChecksTheRules() throws Exception {
        String out = promtool("check", "rules", OpsFiles.RULES.toString());
        assertThat(out).contains("SUCCESS: " + OpsFiles.rules().size() + " rules found");
    }

    @Test
    void promtoolRuleTestsPass() throws Exception {
        String out = promtool("test", "rules", OpsFiles.RULE_TESTS.toString());
        assertThat(out).contains("SUCCESS");
    }

    @Test
    void everyAlertHasCasesThatFireAndCasesThatStaySilent() {
        Map<String, Set<String>> cases = new TreeMap<>();
        for (OpsFiles.Rule rule : OpsFiles.rules()) {
            if (rule.alert()) {
                cases.put(rule.name(), new TreeSet<>());
            }
        }
        Map<String, Object> file = new Yaml().load(OpsFiles.read(OpsFiles.RULE_TESTS));
        for (Map<String, Object> test : list(file.get("tests"))) {
            for (Map<String, Object> alertTest : list(test.get("alert_rule_test"))) {
                String alert = (String) alertTest.get("alertname");
                assertThat(cases).as("alert tested in %s", OpsFiles.RULE_TESTS).containsKey(alert);
                cases.get(alert).add(list(alertTest.get("exp_alerts")).isEmpty() ? "silent" : "fires");
            }
        }
        assertThat(cases).allSatisfy((alert, kinds) ->
                assertThat(kinds).as("cases of %s", alert).containsExactly("fires", "silent"));
    }

    @Test
    void everyAlertSaysWhatHappenedAndWhereItsRunbookIs() {
        String runbook = OpsFiles.read(OpsFiles.README);
        for (OpsFiles.Rule rule : OpsFiles.rules()) {
            if (!rule.alert()) {
                continue;
            }
            assertThat(rule.annotations()).as(rule.name()).containsKeys("summary", "description", "runbook_url");
            assertThat(rule.labels().get("severity")).as("severity of %s", rule.name()).isIn(SEVERITIES);
            // a heading that is the alert's name gets this anchor on GitHub: README "Alerts: what to do"
            assertThat(rule.annotations().get("runbook_url")).as(rule.name())
                    .isEqualTo("README.md#" + rule.name().toLowerCase(Locale.ROOT));
            assertThat(runbook).as("%s has a section in %s", rule.name(), OpsFiles.README)
                    .contains("\n#### " + rule.name() + "\n");
        }
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> list(Object value) {
        return value == null ? List.of() : (List<Map<String, Object>>) value;
    }

    private static String promtool(String... args) throws IOException, InterruptedException {
        Path promtool = OpsFiles.executable("promtool");
        assumeTrue(promtool != null, "promtool is not installed (Debian package prometheus: apt-get install "
                + "prometheus); the rule checks are skipped");
        List<String> command = new java.util.ArrayList<>(List.of(promtool.toString()));
        command.addAll(List.of(args));
        Process process = new ProcessBuilder(command).directory(OpsFiles.RULES.getParent().toFile())
                .redirectErrorStream(true).start();
        process.getOutputStream().close();
        String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(process.waitFor(60, TimeUnit.SECONDS)).as("promtool ended").isTrue();
        assertThat(process.exitValue()).as("promtool %s exit status; its output:%n%s", String.join(" ", args), out)
                .isZero();
        return out;
    }
}
