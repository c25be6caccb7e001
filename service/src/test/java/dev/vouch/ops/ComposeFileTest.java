package dev.vouch.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.vouch.config.VouchProperties;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.beans.factory.config.BeanDefinition;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.BindContext;
import org.springframework.boot.context.properties.bind.BindHandler;
import org.springframework.boot.context.properties.bind.Bindable;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.ConfigurationPropertyName;
import org.springframework.boot.context.properties.source.ConfigurationPropertySources;
import org.springframework.boot.origin.PropertySourceOrigin;
import org.springframework.context.annotation.ClassPathScanningCandidateComponentProvider;
import org.springframework.core.env.StandardEnvironment;
import org.springframework.core.env.SystemEnvironmentPropertySource;
import org.springframework.core.type.filter.AnnotationTypeFilter;
import org.yaml.snakeyaml.Yaml;

/**
 * {@code docker-compose.yml} agrees with the service and the repository: Debian's docker-compose
 * accepts it; Vouch's environment binds, strictly, into Vouch's own configuration classes with
 * Spring's relaxed binding (a misspelt {@code VOUCH_...} variable binds nothing and fails here);
 * the ports, the backend target, the scrape target and the Grafana data source point at the
 * services and ports the file defines; every mounted host path exists and is what the container
 * side expects (Prometheus' rule file, Grafana's provisioning and dashboard).
 */
class ComposeFileTest {
    // the image's variables besides Spring's (chart's Dockerfile: JAVA_OPTS replaces its JVM flags)
    private static final Set<String> OTHER_VOUCH_VARIABLES = Set.of("SERVER_PORT", "JAVA_OPTS");

    private final Map<String, Object> compose = yaml(OpsFiles.COMPOSE);

    @Test
    void dockerComposeAcceptsTheFile() throws Exception {
        Path dockerCompose = OpsFiles.executable("docker-compose");
        assumeTrue(dockerCompose != null, "docker-compose is not installed (Debian package docker-compose: apt-get "
                + "install docker-compose); docker-compose.yml is not validated by it");
        String out = run(OpsFiles.ROOT, dockerCompose.toString(), "--file", OpsFiles.COMPOSE.toString(), "config");
        Map<String, Object> normalized = new Yaml().load(out);
        assertThat(map(normalized, "services").keySet()).containsExactlyInAnyOrder("vouch", "bazel-remote",
                "prometheus", "grafana");
        // every bind mount compose resolved lies in the repository
        for (Map.Entry<String, Object> service : map(normalized, "services").entrySet()) {
            for (Object volume : list(map(normalized, "services", service.getKey()).get("volumes"))) {
                String source = volume.toString().split(":")[0];
                if (source.startsWith("/")) {
                    assertThat(Path.of(source)).as("bind mount of %s", service.getKey()).exists().startsWith(OpsFiles.ROOT);
                }
            }
        }
    }

    @Test
    void vouchEnvironmentBindsStrictlyIntoVouchsConfiguration() {
        Map<String, Object> environment = environment("vouch");
        Set<String> used = new TreeSet<>();
        Binder binder = new Binder(ConfigurationPropertySources.from(new ComposeEnvironment(environment)));
        BindHandler recordVariables = new BindHandler() {
            @Override
            public Object onSuccess(ConfigurationPropertyName name, Bindable<?> target, BindContext context,
                    Object result) {
                if (context.getConfigurationProperty() != null
                        && context.getConfigurationProperty().getOrigin() instanceof PropertySourceOrigin origin) {
                    used.add(origin.getPropertyName());
                }
                return result;
            }
        };
        // every configuration class of Vouch's own keys: VouchProperties and its siblings (vouch.shutdown, ...)
        Map<String, Object> bound = new LinkedHashMap<>();
        for (Class<?> properties : vouchConfigurationClasses()) {
            String prefix = properties.getAnnotation(ConfigurationProperties.class).value();
            binder.bind(prefix, Bindable.of(properties), recordVariables).ifBound(value -> bound.put(prefix, value));
        }
        Integer serverPort = binder.bind("server.port", Bindable.of(Integer.class), recordVariables).orElse(null);

        Set<String> unknown = new TreeSet<>(environment.keySet());
        unknown.removeAll(used);
        unknown.removeAll(OTHER_VOUCH_VARIABLES);
        assertThat(unknown).as("variables of the vouch service that set no Vouch key").isEmpty();

        VouchProperties vouch = (VouchProperties) bound.get("vouch");
        assertThat(vouch.backends()).extracting(VouchProperties.Backend::name, VouchProperties.Backend::type)
                .containsExactly(org.assertj.core.groups.Tuple.tuple("bazel-remote", VouchProperties.BackendType.GRPC),
                        org.assertj.core.groups.Tuple.tuple("embedded", VouchProperties.BackendType.EMBEDDED));
        assertThat(vouch.defaultBackend()).isEqualTo("bazel-remote");
        assertThat(vouch.embeddedEnabled()).isTrue();

        // the ports Vouch listens on are the ones published, and the data directory is the volume
        assertThat(containerPorts("vouch")).containsExactlyInAnyOrder(serverPort, vouch.grpc().port());
        assertThat(volumeTargets("vouch")).contains(vouch.dataDir().toString());

        // the grpc backend is bazel-remote's gRPC port
        URI target = vouch.backends().get(0).target();
        assertThat(services()).containsKey(target.getHost());
        assertThat(containerPorts(target.getHost())).contains(target.getPort());
        assertThat(flag(target.getHost(), "--grpc_port")).isEqualTo(String.valueOf(target.getPort()));
    }

    @Test
    void bazelRemoteIsTheVersionTheScenariosRunAgainstAndPublishesWhatItListensOn() {
        assertThat(service("bazel-remote").get("image")).isEqualTo(dev.vouch.scenarios.BazelRemoteScenariosTest.IMAGE);
        assertThat(containerPorts("bazel-remote")).containsExactlyInAnyOrder(
                Integer.valueOf(flag("bazel-remote", "--port")), Integer.valueOf(flag("bazel-remote", "--grpc_port")));
        assertThat(volumeTargets("bazel-remote")).contains(flag("bazel-remote", "--dir"));
    }

    @Test
    void prometheusScrapesVouchAndLoadsTheShippedRules(@TempDir Path dir) throws Exception {
        Map<String, Path> mounts = bindMounts("prometheus");
        Path config = mounts.get(flag("prometheus", "--config.file"));
        assertThat(config).as("Prometheus' --config.file is mounted from the repository").isNotNull();
        Map<String, Object> prometheus = yaml(config);

        List<String> ruleFiles = stringList(prometheus.get("rule_files"));
        assertThat(ruleFiles).isNotEmpty().allSatisfy(rules ->
                assertThat(mounts.get(rules)).as("rule file %s is mounted", rules).isEqualTo(OpsFiles.RULES));

        Map<String, Object> job = list(prometheus.get("scrape_configs")).stream().map(ComposeFileTest::asMap)
                .filter(j -> j.get("job_name").equals(Prometheus.JOB)).findFirst().orElseThrow();
        // the no-scrape alerts look for a job named like this
        assertThat(job.get("job_name").toString()).matches(".*vouch.*");
        assertThat(job.get("metrics_path")).isEqualTo("/actuator/prometheus");
        String vouchHttp = "vouch:" + environment("vouch").get("SERVER_PORT");
        assertThat(stringList(asMap(list(job.get("static_configs")).get(0)).get("targets"))).containsExactly(vouchHttp);
        assertThat(containerPorts("prometheus")).contains(9090);

        // Prometheus itself accepts the file once the container paths are the repository's
        Path promtool = OpsFiles.executable("promtool");
        assumeTrue(promtool != null, "promtool is not installed (apt-get install prometheus); the compose "
                + "Prometheus configuration is not checked by it");
        String text = OpsFiles.read(config);
        for (String rules : ruleFiles) {
            text = text.replace(rules, mounts.get(rules).toString());
        }
        Path copy = dir.resolve("prometheus.yml");
        Files.writeString(copy, text);
        assertThat(run(dir, promtool.toString(), "check", "config", copy.toString())).contains("SUCCESS");
    }

    @Test
    void grafanaIsProvisionedWithTheDatasourceAndTheDashboard() {
        Map<String, Path> mounts = bindMounts("grafana");
        Path provisioning = mounts.get("/etc/grafana/provisioning");
        assertThat(provisioning).as("Grafana's provisioning directory is mounted").isDirectory();

        Map<String, Object> datasources = yaml(provisioning.resolve("datasources/prometheus.yaml"));
        Map<String, Object> datasource = asMap(list(datasources.get("datasources")).get(0));
        assertThat(datasource.get("type")).as("the dashboard's ${datasource} is of type prometheus").isEqualTo("prometheus");
        assertThat(datasource.get("isDefault")).isEqualTo(true);
        URI url = URI.create(datasource.get("url").toString());
        assertThat(url.getHost()).isEqualTo("prometheus");
        assertThat(containerPorts("prometheus")).contains(url.getPort());

        Map<String, Object> dashboards = yaml(provisioning.resolve("dashboards/vouch.yaml"));
        String folder = asMap(asMap(list(dashboards.get("providers")).get(0)).get("options")).get("path").toString();
        Map<String, Path> inFolder = new LinkedHashMap<>();
        mounts.forEach((target, source) -> {
            if (target.startsWith(folder + "/")) {
                inFolder.put(target, source);
            }
        });
        assertThat(inFolder.values()).as("dashboards mounted under the provider's path " + folder)
                .containsExactly(OpsFiles.DASHBOARD);
        assertThat(environment("grafana").get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"))
                .isIn(inFolder.keySet());
    }

    @Test
    void everyMountedHostPathExistsAndEveryVolumeIsDeclared() {
        Set<String> declared = map(compose, "volumes").keySet();
        for (String name : services().keySet()) {
            for (Object volume : list(service(name).get("volumes"))) {
                String source = volume.toString().split(":")[0];
                if (source.startsWith(".") || source.startsWith("/")) {
                    assertThat(OpsFiles.ROOT.resolve(source).normalize()).as("host path of %s: %s", name, volume)
                            .exists().startsWith(OpsFiles.ROOT);
                } else {
                    assertThat(declared).as("named volume of %s", name).contains(source);
                }
            }
        }
    }

    /** The service's environment as Spring Boot reads the process environment. */
    private static final class ComposeEnvironment extends SystemEnvironmentPropertySource {
        ComposeEnvironment(Map<String, Object> environment) {
            // Spring Boot maps VOUCH_BACKENDS_0_NAME to vouch.backends[0].name only in a source named so
            super("compose-" + StandardEnvironment.SYSTEM_ENVIRONMENT_PROPERTY_SOURCE_NAME, environment);
        }
    }

    // --- reading the compose file

    private Map<String, Object> services() {
        return map(compose, "services");
    }

    private Map<String, Object> service(String name) {
        return map(compose, "services", name);
    }

    private Map<String, Object> environment(String service) {
        return map(service(service), "environment");
    }

    /** Container ports of {@code "host:container"} mappings. */
    private Set<Integer> containerPorts(String service) {
        Set<Integer> ports = new LinkedHashSet<>();
        for (String mapping : stringList(service(service).get("ports"))) {
            ports.add(Integer.valueOf(mapping.substring(mapping.lastIndexOf(':') + 1)));
        }
        return ports;
    }

    private Set<String> volumeTargets(String service) {
        Set<String> targets = new LinkedHashSet<>();
        for (String volume : stringList(service(service).get("volumes"))) {
            targets.add(volume.split(":")[1]);
        }
        return targets;
    }

    /** Container path to repository path of every bind mount of {@code service}. */
    private Map<String, Path> bindMounts(String service) {
        Map<String, Path> mounts = new LinkedHashMap<>();
        for (String volume : stringList(service(service).get("volumes"))) {
            String[] parts = volume.split(":");
            if (parts[0].startsWith(".")) {
                mounts.put(parts[1], OpsFiles.ROOT.resolve(parts[0]).normalize());
            }
        }
        return mounts;
    }

    /** The value of {@code --name=value} in the service's command. */
    private String flag(String service, String name) {
        return stringList(service(service).get("command")).stream().filter(arg -> arg.startsWith(name + "="))
                .map(arg -> arg.substring(name.length() + 1)).findFirst()
                .orElseThrow(() -> new AssertionError(service + " has no " + name + " in its command"));
    }

    private static List<Class<?>> vouchConfigurationClasses() {
        // as VouchApplication's @ConfigurationPropertiesScan finds them; reading only *Properties classes
        // keeps the scan off the large generated protobuf classes
        ClassPathScanningCandidateComponentProvider scanner = new ClassPathScanningCandidateComponentProvider(false);
        scanner.setResourcePattern("**/*Properties.class");
        scanner.addIncludeFilter(new AnnotationTypeFilter(ConfigurationProperties.class));
        List<Class<?>> classes = new ArrayList<>();
        for (BeanDefinition candidate : scanner.findCandidateComponents("dev.vouch")) {
            try {
                Class<?> type = Class.forName(candidate.getBeanClassName());
                if (type.getAnnotation(ConfigurationProperties.class).value().startsWith("vouch")) {
                    classes.add(type);
                }
            } catch (ClassNotFoundException e) {
                throw new IllegalStateException(e);
            }
        }
        assertThat(classes).as("Vouch's configuration classes").contains(VouchProperties.class);
        return classes;
    }

    private static Map<String, Object> yaml(Path file) {
        return new Yaml().load(OpsFiles.read(file));
    }

    private static Map<String, Object> map(Map<String, Object> root, String... path) {
        Map<String, Object> node = root;
        for (String key : path) {
            node = asMap(node.get(key));
            if (node == null) {
                throw new AssertionError("no " + String.join(".", path));
            }
        }
        return node;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> asMap(Object value) {
        return (Map<String, Object>) value;
    }

    @SuppressWarnings("unchecked")
    private static List<Object> list(Object value) {
        return value == null ? List.of() : (List<Object>) value;
    }

    private static List<String> stringList(Object value) {
        return list(value).stream().map(Object::toString).toList();
    }

    /** The command's standard output; its standard error goes into the failure message only. */
    private static String run(Path dir, String... command) throws IOException, InterruptedException {
        Path errors = Files.createTempFile("ops-command", ".err");
        try {
            Process process = new ProcessBuilder(command).directory(dir.toFile())
                    .redirectError(errors.toFile()).start();
            process.getOutputStream().close();
            String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(process.waitFor(60, TimeUnit.SECONDS)).as("%s ended", command[0]).isTrue();
            assertThat(process.exitValue()).as("exit status of %s; output:%n%s%s", String.join(" ", command), out,
                    Files.readString(errors)).isZero();
            return out;
        } finally {
            Files.deleteIfExists(errors);
        }
    }
}
