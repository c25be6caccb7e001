package dev.vouch.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.tuple;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.marcnuri.helm.Helm;
import com.marcnuri.helm.LintResult;
import com.marcnuri.helm.TemplateCommand;
import dev.vouch.auth.AuthProperties;
import dev.vouch.config.MetricsProperties;
import dev.vouch.config.VouchProperties;
import dev.vouch.config.VouchProperties.BackendType;
import dev.vouch.tls.TlsProperties;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyPort;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import io.fabric8.openshift.api.model.monitoring.v1.PrometheusRule;
import io.fabric8.openshift.api.model.monitoring.v1.ServiceMonitor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.RecordComponent;
import java.lang.reflect.Type;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.UnaryOperator;
import java.util.stream.Collectors;
import java.util.zip.GZIPInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Helm chart in {@code helm/vouch}, rendered in-process by Helm's own library (helm-java) and
 * read back as the cluster and Vouch would read it: every object parsed strictly into fabric8's
 * Kubernetes model ({@link StrictKubernetesYaml}), the pod's application.yaml bound into Vouch's
 * configuration records ({@link ChartConfig}).
 */
class HelmChartTest {
    private static final Path REPO = Path.of("..").toAbsolutePath().normalize();
    private static final Path CHART = REPO.resolve("helm/vouch");
    private static final Path PRODUCTION = CHART.resolve("values-production.yaml");
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    /** helm template's stand-in for the cluster's version (the chart needs 1.23+); Helm's default is older. */
    private static final String KUBE_VERSION = "1.31.0";
    /** Rendered once each: most tests only read them. */
    private static final Rendered DEFAULTS = render(t -> t);
    private static final Rendered PRODUCTION_VALUES = render(t -> t.withValuesFile(PRODUCTION));

    @Test
    void lintIsCleanInStrictMode() {
        LintResult result = new Helm(CHART).lint().strict().call();
        assertThat(result.isFailed()).as("%s", result.getMessages()).isFalse();
        assertThat(result.getMessages()).noneMatch(m -> m.contains("[WARNING]") || m.contains("[ERROR]"));
    }

    @Test
    void defaultValuesRunTheEmbeddedCacheOnAnEmptyDir() {
        Rendered r = DEFAULTS;
        assertThat(r.kinds()).containsExactlyInAnyOrder("ServiceAccount", "ConfigMap", "Service", "Deployment",
                "PodDisruptionBudget");
        ChartConfig config = r.config(Map.of());
        assertThat(config.vouch().backends()).extracting(VouchProperties.Backend::type).containsExactly(BackendType.EMBEDDED);
        assertThat(config.vouch().embeddedEnabled()).isTrue();

        Volume data = r.volume("data");
        assertThat(r.mount("data").getMountPath()).isEqualTo(config.vouch().dataDir().toString()).isEqualTo("/var/lib/vouch");
        assertThat(Quantity.getAmountInBytes(data.getEmptyDir().getSizeLimit()).longValueExact())
                .as("the emptyDir holds the whole store").isGreaterThan(config.vouch().embedded().maxSizeBytes());
        assertThat(r.deployment().getSpec().getReplicas()).isEqualTo(1);
    }

    @Test
    void probesAndPortsMatchTheConfigThePodGets() {
        for (Rendered r : List.of(DEFAULTS, PRODUCTION_VALUES)) {
            ChartConfig config = r.config(r.fakeSecretEnv());
            Container vouch = r.container();
            Map<String, Integer> ports = vouch.getPorts().stream()
                    .collect(Collectors.toMap(ContainerPort::getName, ContainerPort::getContainerPort));
            assertThat(ports).containsExactlyInAnyOrderEntriesOf(Map.of(
                    "http", Integer.parseInt((String) config.properties().get("server.port")),
                    "grpc", config.vouch().grpc().port()));
            assertProbe(vouch.getStartupProbe(), "/actuator/health/liveness");
            assertProbe(vouch.getLivenessProbe(), "/actuator/health/liveness");
            assertProbe(vouch.getReadinessProbe(), "/actuator/health/readiness");

            Service service = r.one(Service.class);
            assertThat(service.getSpec().getSelector()).isEqualTo(r.deployment().getSpec().getTemplate().getMetadata().getLabels()
                    .entrySet().stream().filter(e -> service.getSpec().getSelector().containsKey(e.getKey()))
                    .collect(Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue)));
            assertThat(service.getSpec().getPorts()).extracting(ServicePort::getName, p -> p.getTargetPort().getStrVal(),
                    ServicePort::getAppProtocol).containsExactly(
                    tuple("http", "http", "http"),
                    tuple("grpc", "grpc", "kubernetes.io/h2c"));

            // the pod reads exactly the rendered file: SPRING_CONFIG_ADDITIONAL_LOCATION names the mounted key
            VolumeMount configMount = r.mount("config");
            assertThat(configMount.getReadOnly()).isTrue();
            assertThat(r.volume("config").getConfigMap().getName()).isEqualTo(r.one(ConfigMap.class, "").getMetadata().getName());
            assertThat(r.env("SPRING_CONFIG_ADDITIONAL_LOCATION").getValue())
                    .isEqualTo(configMount.getMountPath() + "/application.yaml");
        }
    }

    @Test
    void podIsNonRootReadOnlyAndWithoutPrivileges() {
        for (Rendered r : List.of(DEFAULTS, PRODUCTION_VALUES)) {
            PodSpec pod = r.pod();
            assertThat(pod.getSecurityContext().getRunAsNonRoot()).isTrue();
            assertThat(pod.getSecurityContext().getRunAsUser()).isEqualTo(10001L);
            assertThat(pod.getSecurityContext().getFsGroup()).isEqualTo(10001L);
            assertThat(pod.getSecurityContext().getSeccompProfile().getType()).isEqualTo("RuntimeDefault");
            assertThat(pod.getAutomountServiceAccountToken()).isFalse();
            assertThat(pod.getEnableServiceLinks()).as("service links would inject VOUCH_GRPC_PORT=tcp://...").isFalse();

            var security = r.container().getSecurityContext();
            assertThat(security.getRunAsNonRoot()).isTrue();
            assertThat(security.getReadOnlyRootFilesystem()).isTrue();
            assertThat(security.getAllowPrivilegeEscalation()).isFalse();
            assertThat(security.getCapabilities().getDrop()).containsExactly("ALL");
            assertThat(security.getCapabilities().getAdd()).isNullOrEmpty();
            assertThat(security.getSeccompProfile().getType()).isEqualTo("RuntimeDefault");
            // with a read-only root, these are the only places Vouch and the JVM can write
            assertThat(r.container().getVolumeMounts()).filteredOn(m -> !Boolean.TRUE.equals(m.getReadOnly()))
                    .extracting(VolumeMount::getMountPath).containsExactlyInAnyOrder("/var/lib/vouch", "/tmp");
            assertThat(r.volume("tmp").getEmptyDir()).isNotNull();

            String javaOpts = r.env("JAVA_OPTS").getValue();
            assertThat(javaOpts).contains("-XX:+ExitOnOutOfMemoryError").containsPattern("-XX:MaxRAMPercentage=\\d+");
            assertThat(r.container().getResources().getLimits()).containsKey("memory");
        }
    }

    @Test
    void terminationGraceCoversTheDrainAndTheShutdownPhases() {
        for (Rendered r : List.of(DEFAULTS, PRODUCTION_VALUES)) {
            ChartConfig config = r.config(r.fakeSecretEnv());
            Duration drain = config.shutdown().drainDelay();
            Duration phase = Duration.parse("PT" + config.properties().get("spring.lifecycle.timeout-per-shutdown-phase"));
            Duration grpc = Duration.ofSeconds(config.vouch().grpc().shutdownGraceSeconds() + 5L);
            long grace = r.pod().getTerminationGracePeriodSeconds();
            assertThat(drain).as("a drain is configured").isPositive().isLessThan(phase);
            assertThat(grace).as("terminationGracePeriodSeconds vs drain %s + max(REST %s, gRPC %s)", drain, phase, grpc)
                    .isGreaterThan(drain.plus(phase.compareTo(grpc) >= 0 ? phase : grpc).toSeconds());
        }
        assertThat(DEFAULTS.pod().getTerminationGracePeriodSeconds()).isEqualTo(30L);
        assertThat(PRODUCTION_VALUES.pod().getTerminationGracePeriodSeconds()).isEqualTo(60L);
    }

    @Test
    void aGracePeriodTooShortForTheDrainFailsTheInstall() {
        assertThatThrownBy(() -> render(t -> t.set("shutdown.terminationGracePeriodSeconds", 20)))
                .hasMessageContaining("shutdown.terminationGracePeriodSeconds (20) is too short")
                .hasMessageContaining("at least 30 s");
        assertThatThrownBy(() -> render(t -> t.set("shutdown.drainDelaySeconds", 20)))
                .hasMessageContaining("shutdown.drainDelaySeconds (20) must be below shutdown.timeoutPerShutdownPhaseSeconds (20)");
    }

    @Test
    void productionValuesRenderEveryObjectWired() throws IOException {
        Rendered r = PRODUCTION_VALUES;
        assertThat(r.kinds()).containsExactlyInAnyOrder("ServiceAccount", "ConfigMap", "ConfigMap", "Service", "Deployment",
                "HorizontalPodAutoscaler", "PodDisruptionBudget", "ServiceMonitor", "PrometheusRule", "NetworkPolicy");
        Deployment deployment = r.deployment();
        Map<String, String> podLabels = deployment.getSpec().getTemplate().getMetadata().getLabels();
        assertThat(deployment.getSpec().getReplicas()).as("the HPA owns the replica count").isNull();

        HorizontalPodAutoscaler hpa = r.one(HorizontalPodAutoscaler.class);
        assertThat(hpa.getSpec().getScaleTargetRef().getKind()).isEqualTo("Deployment");
        assertThat(hpa.getSpec().getScaleTargetRef().getName()).isEqualTo(deployment.getMetadata().getName());
        assertThat(hpa.getSpec().getMinReplicas()).isEqualTo(3);

        PodDisruptionBudget pdb = r.one(PodDisruptionBudget.class);
        assertThat(podLabels).containsAllEntriesOf(pdb.getSpec().getSelector().getMatchLabels());
        assertThat(pdb.getSpec().getMaxUnavailable().getIntVal()).isEqualTo(1);

        ServiceMonitor monitor = r.one(ServiceMonitor.class);
        assertThat(r.one(Service.class).getMetadata().getLabels()).containsAllEntriesOf(monitor.getSpec().getSelector().getMatchLabels());
        assertThat(monitor.getSpec().getEndpoints()).singleElement().satisfies(e -> {
            assertThat(e.getPort()).isEqualTo("http");
            assertThat(e.getPath()).isEqualTo("/actuator/prometheus");
        });
        assertThat(monitor.getMetadata().getLabels()).containsEntry("release", "kube-prometheus-stack");

        // the shipped rules and dashboard, exactly as in ops/
        JsonNode rules = YAML.readTree(REPO.resolve("ops/prometheus/vouch-rules.yaml").toFile());
        PrometheusRule rule = r.one(PrometheusRule.class);
        assertThat(rule.getSpec().getGroups()).hasSize(rules.get("groups").size());
        assertThat(r.document("PrometheusRule").at("/spec/groups")).isEqualTo(rules.get("groups"));
        ConfigMap dashboard = r.one(ConfigMap.class, "-dashboard");
        assertThat(dashboard.getMetadata().getLabels()).containsEntry("grafana_dashboard", "1");
        assertThat(dashboard.getData().get("vouch-dashboard.json"))
                .isEqualTo(Files.readString(REPO.resolve("ops/grafana/vouch-dashboard.json")).stripTrailing());

        NetworkPolicy policy = r.one(NetworkPolicy.class);
        assertThat(policy.getSpec().getPodSelector().getMatchLabels()).isEqualTo(pdb.getSpec().getSelector().getMatchLabels());
        assertThat(policy.getSpec().getIngress()).singleElement().satisfies(in -> {
            assertThat(in.getPorts()).extracting(p -> p.getPort().getStrVal()).containsExactly("http", "grpc");
            assertThat(in.getFrom()).hasSize(2);
        });
        assertThat(policy.getSpec().getPolicyTypes()).containsExactly("Ingress", "Egress");
        assertThat(policy.getSpec().getEgress().get(0).getPorts()).extracting(NetworkPolicyPort::getProtocol, p -> p.getPort().getIntVal())
                .containsExactly(tuple("UDP", 53), tuple("TCP", 53));

        // each pod gets its own claim for the embedded store
        var claim = r.volume("data").getEphemeral().getVolumeClaimTemplate().getSpec();
        assertThat(claim.getStorageClassName()).isEqualTo("fast-ssd");
        assertThat(claim.getResources().getRequests().get("storage")).isEqualTo(new Quantity("20Gi"));
        assertThat(Quantity.getAmountInBytes(claim.getResources().getRequests().get("storage")).longValueExact())
                .isGreaterThan(r.config(r.fakeSecretEnv()).vouch().embedded().maxSizeBytes());
    }

    @Test
    void productionCredentialsComeFromSecretsThroughPlaceholders() {
        Rendered r = PRODUCTION_VALUES;
        EnvVar token = r.env("BUILDBARN_TOKEN");
        assertThat(token.getValue()).isNull();
        assertThat(token.getValueFrom().getSecretKeyRef().getName()).isEqualTo("vouch-backends");
        assertThat(token.getValueFrom().getSecretKeyRef().getKey()).isEqualTo("buildbarn-token");
        assertThat(r.applicationYaml()).contains("Bearer ${BUILDBARN_TOKEN}").contains("${CI_CACHE_PASSWORD}");

        // what Vouch binds once Kubernetes has put the Secret's values into the environment
        VouchProperties vouch = r.config(r.fakeSecretEnv()).vouch();
        Map<String, VouchProperties.Backend> backends = vouch.backends().stream()
                .collect(Collectors.toMap(VouchProperties.Backend::name, b -> b));
        assertThat(backends.get("buildbarn").type()).isEqualTo(BackendType.GRPC);
        assertThat(backends.get("buildbarn").headers()).containsEntry("authorization", "Bearer secret:vouch-backends/buildbarn-token");
        assertThat(backends.get("buildbarn").resilience().circuitBreaker().slidingWindowSize()).isEqualTo(50);
        assertThat(backends.get("ci-cache").auth().password()).isEqualTo("secret:vouch-backends/ci-cache-password");
        assertThat(backends.get("local").type()).isEqualTo(BackendType.EMBEDDED);
        assertThat(vouch.defaultBackend()).isEqualTo("buildbarn");
        assertThat(vouch.routes()).extracting(VouchProperties.Route::backend).containsExactly("ci-cache", "local");
        assertThat(vouch.limits().maxInFlightValidations()).isEqualTo(128);
    }

    @Test
    void aCredentialWrittenIntoTheValuesIsRefused() {
        assertThatThrownBy(() -> render(t -> t.withValuesFile(PRODUCTION)
                .set("vouch.backends[0].headers.authorization", "Bearer hunter2")))
                .hasMessageContaining("vouch.backends[0].headers.authorization must use a ${NAME} reference");
        assertThatThrownBy(() -> render(t -> t.withValuesFile(PRODUCTION).set("vouch.backends[1].auth.password", "hunter2")))
                .hasMessageContaining("vouch.backends[1].auth.password must be a ${NAME} reference");
        assertThatThrownBy(() -> render(t -> t.withValuesFile(PRODUCTION).set("secretEnv", "null")))
                .hasMessageContaining("the config references ${BUILDBARN_TOKEN}, but neither secretEnv nor extraEnv defines BUILDBARN_TOKEN");
    }

    @Test
    void anUnknownFieldInARenderedObjectFailsParsing() {
        // free-form values (securityContext is a Kubernetes object) pass Helm's schema; the model does not
        String yaml = template(t -> t.set("securityContext.readOnlyRootFileSystem", true));
        assertThatThrownBy(() -> StrictKubernetesYaml.parseAll(yaml))
                .cause().isInstanceOf(UnrecognizedPropertyException.class)
                .hasMessageContaining("Unrecognized field \"readOnlyRootFileSystem\" (class io.fabric8.kubernetes.api.model.SecurityContext)");
    }

    @Test
    void aFieldOfTheWrongTypeFailsParsing() {
        // an EnvVar's value must be a string; the API server refuses a number there
        String yaml = template(t -> t.set("extraEnv[0].name", "RETRIES").set("extraEnv[0].value", 3));
        assertThatThrownBy(() -> StrictKubernetesYaml.parseAll(yaml))
                .cause().isInstanceOf(MismatchedInputException.class)
                .hasMessageContaining("Cannot coerce Integer value (3) to `java.lang.String` value")
                .hasMessageContaining("EnvVar[\"value\"]");
    }

    @Test
    void aMisspeltVouchKeyFailsTheSchemaAndTheBinder() {
        assertThatThrownBy(() -> render(t -> t.set("vouch.limits.max-actons", 5)))
                .hasMessageContaining("max-actons");
        assertThatThrownBy(() -> render(t -> t.set("vouch.limits.max-actions", 0)))
                .hasMessageContaining("max-actions");
        // what the schema cannot see, Vouch's own checks catch: a route to a backend that is not configured
        String yaml = template(t -> t.set("vouch.routes[0].instance-pattern", "ci/.*").set("vouch.routes[0].backend", "nope"));
        assertThatThrownBy(() -> configOf(yaml)).rootCause().hasMessageContaining("vouch.routes[0].backend 'nope' is not a configured backend");
        // and the binder alone refuses keys no configuration record has
        assertThatThrownBy(() -> ChartConfig.bind("vouch:\n  limits:\n    max-actons: 5\n", Map.of()))
                .rootCause().hasMessageContaining("The elements [vouch.limits.max-actons] were left unbound");
    }

    @Test
    void aSharedClaimNeedsASinglePod() {
        assertThatThrownBy(() -> render(t -> t.set("persistence.type", "pvc").set("persistence.pvc.existingClaim", "data")
                .set("replicaCount", 2)))
                .hasMessageContaining("persistence.pvc.existingClaim is one volume for one pod");
        Rendered single = render(t -> t.set("persistence.type", "pvc").set("persistence.pvc.existingClaim", "data"));
        assertThat(single.volume("data").getPersistentVolumeClaim().getClaimName()).isEqualTo("data");
        assertThat(single.deployment().getSpec().getStrategy().getType()).isEqualTo("Recreate");
    }

    /**
     * helm/vouch/files/ links to the dashboard and rules in ops/ (a chart reads only files inside
     * it); Helm follows the links when it packages, so the archive carries the files themselves.
     */
    @Test
    void thePackagedChartCarriesTheDashboardAndRulesFromOps(@TempDir Path out) throws IOException {
        assertThat(Files.isSymbolicLink(CHART.resolve("files/vouch-dashboard.json"))).isTrue();
        new Helm(CHART).packageIt().withDestination(out).call();
        Path archive;
        try (var files = Files.list(out)) {
            archive = files.filter(p -> p.toString().endsWith(".tgz")).findFirst().orElseThrow();
        }
        Map<String, byte[]> entries = new HashMap<>();
        try (TarArchiveInputStream tar = new TarArchiveInputStream(new GZIPInputStream(Files.newInputStream(archive)))) {
            for (TarArchiveEntry entry = tar.getNextEntry(); entry != null; entry = tar.getNextEntry()) {
                assertThat(entry.isSymbolicLink()).as(entry.getName()).isFalse();
                entries.put(entry.getName(), tar.readAllBytes());
            }
        }
        assertThat(entries.get("vouch/files/vouch-dashboard.json"))
                .isEqualTo(Files.readAllBytes(REPO.resolve("ops/grafana/vouch-dashboard.json")));
        assertThat(entries.get("vouch/files/vouch-rules.yaml"))
                .isEqualTo(Files.readAllBytes(REPO.resolve("ops/prometheus/vouch-rules.yaml")));
        assertThat(entries).containsKeys("vouch/values.schema.json", "vouch/templates/deployment.yaml");
    }

    /** Production values require a token, read from a Secret mounted whole so that its updates reach the file. */
    @Test
    void productionValuesTurnAuthOnWithTokensFromASecret() {
        ChartConfig config = PRODUCTION_VALUES.config(PRODUCTION_VALUES.fakeSecretEnv());
        assertThat(config.auth().enabled()).isTrue();
        assertThat(config.auth().tokensFile()).isEqualTo(Path.of("/etc/vouch/auth/tokens.yaml"));
        VolumeMount mount = PRODUCTION_VALUES.mount("auth-tokens");
        assertThat(config.auth().tokensFile().getParent()).isEqualTo(Path.of(mount.getMountPath()));
        assertThat(mount.getSubPath()).as("a subPath mount never sees the Secret's updates").isNull();
        assertThat(mount.getReadOnly()).isTrue();
        assertThat(PRODUCTION_VALUES.volume("auth-tokens").getSecret().getSecretName()).isEqualTo("vouch-auth-tokens");
        assertThat(DEFAULTS.config(Map.of()).auth().enabled()).as("the default values keep auth off").isFalse();
    }

    /**
     * Production values serve both ports over TLS from a kubernetes.io/tls Secret (cert-manager's
     * tls.crt and tls.key) mounted whole, and the probes follow with HTTPS; the defaults stay HTTP.
     */
    @Test
    void productionValuesServeTlsFromASecretAndTheProbesUseHttps() {
        ChartConfig config = PRODUCTION_VALUES.config(PRODUCTION_VALUES.fakeSecretEnv());
        assertThat(config.tls().certFile()).isEqualTo(Path.of("/etc/vouch/tls/tls.crt"));
        assertThat(config.tls().keyFile()).isEqualTo(Path.of("/etc/vouch/tls/tls.key"));
        VolumeMount mount = PRODUCTION_VALUES.mount("tls");
        assertThat(config.tls().certFile().getParent()).isEqualTo(Path.of(mount.getMountPath()));
        assertThat(mount.getSubPath()).as("a subPath mount never sees the Secret's renewals").isNull();
        assertThat(PRODUCTION_VALUES.volume("tls").getSecret().getSecretName()).isEqualTo("vouch-tls");
        Container production = PRODUCTION_VALUES.container();
        for (Probe probe : List.of(production.getStartupProbe(), production.getLivenessProbe(), production.getReadinessProbe())) {
            assertThat(probe.getHttpGet().getScheme()).isEqualTo("HTTPS");
        }
        assertThat(DEFAULTS.container().getReadinessProbe().getHttpGet().getScheme()).isEqualTo("HTTP");
        assertThat(DEFAULTS.config(Map.of()).tls().enabled()).as("the default values keep TLS off").isFalse();
        // the kubelet's probes carry no client certificate: the chart says so instead of rendering pods never ready
        assertThatThrownBy(() -> render(t -> t.withValuesFile(PRODUCTION).set("vouch.tls.client-ca-file", "/etc/vouch/tls/ca.crt")))
                .hasMessageContaining("vouch.tls.client-ca-file makes every connection present a client certificate");
    }

    /**
     * values.schema.json lists Vouch's keys (additionalProperties false), so it must list every key
     * of Vouch's configuration records ({@code vouch.*}, {@code vouch.metrics.*}) and nothing else; the
     * chart sets some of them itself.
     */
    @Test
    void theSchemaKnowsExactlyVouchsConfigurationKeys() throws IOException {
        JsonNode schema = new ObjectMapper().readTree(CHART.resolve("values.schema.json").toFile());
        Set<String> inSchema = new TreeSet<>();
        schemaKeys(schema.at("/properties/vouch"), "", inSchema);
        Set<String> inRecords = new TreeSet<>();
        recordKeys(VouchProperties.class, "", inRecords);
        recordKeys(MetricsProperties.class, "metrics.", inRecords);
        recordKeys(AuthProperties.class, "auth.", inRecords);
        recordKeys(TlsProperties.class, "tls.", inRecords);
        inRecords.removeAll(Set.of("data-dir", "grpc.port", "grpc.shutdown-grace-seconds"));
        assertThat(inSchema).isEqualTo(inRecords);
    }

    private static void schemaKeys(JsonNode node, String prefix, Set<String> keys) {
        JsonNode object = node.has("items") ? node.get("items") : node;
        if (!object.has("properties")) {
            keys.add(prefix.substring(0, prefix.length() - 1));
            return;
        }
        assertThat(object.get("additionalProperties").asBoolean(true)).as("%s has additionalProperties false", prefix).isFalse();
        object.get("properties").properties().forEach(e -> schemaKeys(e.getValue(), prefix + e.getKey() + ".", keys));
    }

    private static void recordKeys(Class<?> record, String prefix, Set<String> keys) {
        for (RecordComponent component : record.getRecordComponents()) {
            String key = prefix + kebab(component.getName());
            Class<?> type = component.getType();
            Type generic = component.getGenericType();
            if (List.class.isAssignableFrom(type) && generic instanceof ParameterizedType p) {
                type = (Class<?>) p.getActualTypeArguments()[0];
            }
            if (type.isRecord() && (type.getEnclosingClass() == VouchProperties.class
                    || type.getEnclosingClass() == AuthProperties.class)) {
                recordKeys(type, key + ".", keys);
            } else {
                keys.add(key);
            }
        }
    }

    private static String kebab(String camel) {
        return camel.replaceAll("([a-z0-9])([A-Z])", "$1-$2").toLowerCase(Locale.ROOT);
    }

    private static void assertProbe(Probe probe, String path) {
        assertThat(probe.getHttpGet().getPath()).isEqualTo(path);
        assertThat(probe.getHttpGet().getPort().getStrVal()).isEqualTo("http");
        assertThat(probe.getPeriodSeconds()).isPositive();
        assertThat(probe.getTimeoutSeconds()).isPositive();
    }

    private static String template(UnaryOperator<TemplateCommand> values) {
        return values.apply(new Helm(CHART).template().withName("vouch").withNamespace("build")
                .withKubeVersion(KUBE_VERSION)).call();
    }

    private static Rendered render(UnaryOperator<TemplateCommand> values) {
        String yaml = template(values);
        return new Rendered(yaml, StrictKubernetesYaml.parseAll(yaml));
    }

    private static ChartConfig configOf(String yaml) {
        return new Rendered(yaml, StrictKubernetesYaml.parseAll(yaml)).config(Map.of());
    }

    /** One helm template output, parsed, with look-ups for the objects the tests ask about. */
    private record Rendered(String yaml, List<HasMetadata> objects) {

        /** The rendered document of that kind as plain YAML, for content the model retypes. */
        JsonNode document(String kind) {
            try {
                return YAML.readerFor(JsonNode.class).<JsonNode>readValues(yaml).readAll().stream()
                        .filter(d -> d != null && kind.equals(d.path("kind").asText())).findFirst().orElseThrow();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        List<String> kinds() {
            return objects.stream().map(HasMetadata::getKind).toList();
        }

        <T extends HasMetadata> T one(Class<T> type) {
            List<T> found = objects.stream().filter(type::isInstance).map(type::cast).toList();
            assertThat(found).as(type.getSimpleName()).hasSize(1);
            return found.get(0);
        }

        /** The one object of that type whose name ends in {@code suffix} after the release's full name. */
        <T extends HasMetadata> T one(Class<T> type, String suffix) {
            String name = deployment().getMetadata().getName() + suffix;
            return objects.stream().filter(type::isInstance).map(type::cast)
                    .filter(o -> o.getMetadata().getName().equals(name)).findFirst().orElseThrow();
        }

        Deployment deployment() {
            return one(Deployment.class);
        }

        PodSpec pod() {
            return deployment().getSpec().getTemplate().getSpec();
        }

        Container container() {
            assertThat(pod().getContainers()).hasSize(1);
            return pod().getContainers().get(0);
        }

        EnvVar env(String name) {
            return container().getEnv().stream().filter(e -> e.getName().equals(name)).findFirst()
                    .orElseThrow(() -> new AssertionError("no env " + name + " in " + container().getEnv()));
        }

        Volume volume(String name) {
            return pod().getVolumes().stream().filter(v -> v.getName().equals(name)).findFirst().orElseThrow();
        }

        VolumeMount mount(String volume) {
            return container().getVolumeMounts().stream().filter(m -> m.getName().equals(volume)).findFirst().orElseThrow();
        }

        String applicationYaml() {
            return one(ConfigMap.class, "").getData().get("application.yaml");
        }

        /** The environment Kubernetes would give the container, each Secret's value named after its reference. */
        Map<String, Object> fakeSecretEnv() {
            return container().getEnv().stream().filter(e -> e.getValueFrom() != null && e.getValueFrom().getSecretKeyRef() != null)
                    .collect(Collectors.toMap(EnvVar::getName, e -> "secret:" + e.getValueFrom().getSecretKeyRef().getName()
                            + "/" + e.getValueFrom().getSecretKeyRef().getKey()));
        }

        ChartConfig config(Map<String, Object> env) {
            ChartConfig config = ChartConfig.bind(applicationYaml(), env);
            // besides vouch.*, the chart sets only these two Spring keys
            assertThat(config.properties().keySet()).filteredOn(k -> !k.startsWith("vouch."))
                    .containsExactlyInAnyOrder("server.port", "spring.lifecycle.timeout-per-shutdown-phase");
            return config;
        }
    }
}
