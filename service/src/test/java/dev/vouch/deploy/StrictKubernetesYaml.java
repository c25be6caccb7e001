package dev.vouch.deploy;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.cfg.CoercionAction;
import com.fasterxml.jackson.databind.cfg.CoercionInputShape;
import com.fasterxml.jackson.databind.introspect.Annotated;
import com.fasterxml.jackson.databind.introspect.JacksonAnnotationIntrospector;
import com.fasterxml.jackson.databind.type.LogicalType;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import io.fabric8.openshift.api.model.monitoring.v1.PrometheusRule;
import io.fabric8.openshift.api.model.monitoring.v1.ServiceMonitor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Parses rendered manifests into fabric8's Kubernetes model the way the API server reads them:
 * an unknown field, a field of the wrong type or a kind/apiVersion the chart should not render
 * fails. fabric8's classes keep unknown fields in an "additionalProperties" any-setter; this mapper
 * ignores that setter, so FAIL_ON_UNKNOWN_PROPERTIES applies, and it refuses the scalar coercions
 * (string to number or boolean, number to string) that Jackson would otherwise allow.
 */
final class StrictKubernetesYaml {

    /** Every kind the chart renders, with the apiVersion it must carry. */
    static final Map<String, Kind> KINDS = Map.of(
            "ServiceAccount", new Kind("v1", ServiceAccount.class),
            "ConfigMap", new Kind("v1", ConfigMap.class),
            "Service", new Kind("v1", Service.class),
            "Deployment", new Kind("apps/v1", Deployment.class),
            "HorizontalPodAutoscaler", new Kind("autoscaling/v2", HorizontalPodAutoscaler.class),
            "PodDisruptionBudget", new Kind("policy/v1", PodDisruptionBudget.class),
            "NetworkPolicy", new Kind("networking.k8s.io/v1", NetworkPolicy.class),
            "ServiceMonitor", new Kind("monitoring.coreos.com/v1", ServiceMonitor.class),
            "PrometheusRule", new Kind("monitoring.coreos.com/v1", PrometheusRule.class));

    record Kind(String apiVersion, Class<? extends HasMetadata> type) {
    }

    private static final ObjectMapper MAPPER = strictMapper();

    private StrictKubernetesYaml() {
    }

    /** Every document of a multi-document YAML stream (helm template's output), parsed strictly. */
    static List<HasMetadata> parseAll(String yaml) {
        List<HasMetadata> objects = new ArrayList<>();
        try {
            for (JsonNode document : MAPPER.readerFor(JsonNode.class).<JsonNode>readValues(yaml).readAll()) {
                if (document == null || document.isNull() || document.isEmpty()) {
                    continue;
                }
                objects.add(parse(document));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return objects;
    }

    private static HasMetadata parse(JsonNode document) throws IOException {
        String kind = document.path("kind").asText();
        Kind expected = KINDS.get(kind);
        if (expected == null) {
            throw new IllegalArgumentException("the chart rendered an unexpected kind '" + kind + "'");
        }
        String apiVersion = document.path("apiVersion").asText();
        if (!expected.apiVersion().equals(apiVersion)) {
            throw new IllegalArgumentException(kind + " has apiVersion '" + apiVersion + "', expected '"
                    + expected.apiVersion() + "'");
        }
        return MAPPER.treeToValue(document, expected.type());
    }

    private static ObjectMapper strictMapper() {
        ObjectMapper mapper = new ObjectMapper(new YAMLFactory())
                .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, true)
                .configure(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES, true)
                .configure(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY, true);
        mapper.setAnnotationIntrospector(new JacksonAnnotationIntrospector() {
            @Override
            public Boolean hasAnySetter(Annotated annotated) {
                return Boolean.FALSE;
            }
        });
        for (LogicalType type : List.of(LogicalType.Integer, LogicalType.Float, LogicalType.Boolean)) {
            mapper.coercionConfigFor(type).setCoercion(CoercionInputShape.String, CoercionAction.Fail);
        }
        mapper.coercionConfigFor(LogicalType.Textual)
                .setCoercion(CoercionInputShape.Integer, CoercionAction.Fail)
                .setCoercion(CoercionInputShape.Float, CoercionAction.Fail)
                .setCoercion(CoercionInputShape.Boolean, CoercionAction.Fail);
        return mapper;
    }
}
