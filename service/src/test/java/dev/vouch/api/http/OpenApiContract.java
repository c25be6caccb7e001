package dev.vouch.api.http;

import com.networknt.schema.Error;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaLocation;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SchemaRegistryConfig;
import com.networknt.schema.dialect.Dialects;
import com.networknt.schema.path.PathType;
import dev.vouch.backend.Buffers;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferUtils;
import org.springframework.core.io.buffer.DefaultDataBufferFactory;
import org.springframework.http.InvalidMediaTypeException;
import org.springframework.http.MediaType;
import org.springframework.web.reactive.function.BodyExtractors;
import org.springframework.web.reactive.function.client.ClientRequest;
import org.springframework.web.reactive.function.client.ClientResponse;
import org.springframework.web.reactive.function.client.ExchangeFilterFunction;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import tools.jackson.core.JacksonException;
import tools.jackson.core.StreamReadFeature;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.JsonNodeFactory;
import tools.jackson.dataformat.yaml.YAMLMapper;

/**
 * {@code api-spec/openapi.yaml} as a check on every response a test sees: the request's method and
 * path pick the operation (or the document's {@code x-vouch-unrouted} responses, for a path or
 * method it does not declare), and the response's status, declared headers, Content-Type and body
 * must be what that operation declares. Bodies are validated with networknt's JSON Schema
 * validator in the OpenAPI 3.1 dialect; an {@code application/x-ndjson} body line by line against
 * the media type's schema. WebTestClient and WebClient get {@link #filter()}, {@link RawHttp}
 * calls {@link #check} itself. Each instance remembers which declared responses it has seen.
 */
public final class OpenApiContract {
    /** The document, from the service module's directory (where Maven runs the tests). */
    static final Path DOCUMENT = Path.of("..", "api-spec", "openapi.yaml").toAbsolutePath().normalize();

    /**
     * Paths the document leaves out on purpose: the Bazel HTTP cache protocol of the cache front
     * (SPEC "The cache front"), whose paths hold instance names with {@code /} that OpenAPI path
     * templates cannot express.
     */
    static final List<String> UNDESCRIBED_PREFIXES = List.of("/cache/");

    /** Where the document's responses live when no declared operation takes the request. */
    static final String UNROUTED = "x-vouch-unrouted";

    private static final List<String> METHODS = List.of("get", "put", "post", "delete", "options", "head", "patch",
            "trace");
    // the schemas' $refs resolve against this; nothing is fetched from it
    private static final String BASE_IRI = "https://vouch.invalid/api-spec/openapi.json";
    private static final MediaType NDJSON = MediaType.APPLICATION_NDJSON;
    private static volatile OpenApiContract shared;

    // a response with a member twice is a defect of its own, not something a schema sees
    private final JsonMapper json = JsonMapper.builder().enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();
    private final JsonNode document;
    private final SchemaRegistry registry;
    private final Map<String, Schema> schemas = new ConcurrentHashMap<>();
    private final Set<Key> declared;
    private final Set<Key> seen = ConcurrentHashMap.newKeySet();

    /** One declared response: where it applies, its status and its media type ("" without content). */
    public record Key(String operation, String status, String mediaType) implements Comparable<Key> {
        @Override
        public int compareTo(Key other) {
            return toString().compareTo(other.toString());
        }

        @Override
        public String toString() {
            return operation + " -> " + status + (mediaType.isEmpty() ? "" : " " + mediaType);
        }
    }

    /** A response as seen by a client, with the request it answers. */
    public record Exchange(String method, String target, int status, Map<String, List<String>> headers, byte[] body) {
        String header(String name) {
            for (Map.Entry<String, List<String>> header : headers.entrySet()) {
                if (header.getKey().equalsIgnoreCase(name) && !header.getValue().isEmpty()) {
                    return header.getValue().get(0);
                }
            }
            return null;
        }

        @Override
        public String toString() {
            String text = new String(body, StandardCharsets.UTF_8);
            return method + " " + abbreviate(target, 120) + " -> " + status + " " + headers + " " + abbreviate(text, 600);
        }
    }

    /** A response that is not what the document declares. */
    public static final class Violation extends AssertionError {
        Violation(String message) {
            super(message);
        }
    }

    private OpenApiContract(JsonNode document) {
        this.document = document;
        Map<String, String> documents = Map.of(BASE_IRI, document.toString());
        this.registry = SchemaRegistry.withDefaultDialect(Dialects.getOpenApi31(), builder -> builder
                .schemas(documents)
                .schemaRegistryConfig(SchemaRegistryConfig.builder()
                        .formatAssertionsEnabled(true)
                        .pathType(PathType.JSON_PATH)
                        .build()));
        this.declared = Collections.unmodifiableSet(collectDeclared());
        warmUpMessages(registry);
    }

    /**
     * The validator reads its message texts from a resource bundle the first time a response
     * fails; done here, on the test's thread, so that a violation found on an event loop is
     * reported as itself and not as BlockHound's "blocking call" from the bundle's file lookup.
     */
    private static void warmUpMessages(SchemaRegistry registry) {
        Schema probe = registry.getSchema(SchemaLocation.of(BASE_IRI + "#/components/schemas/Problem"));
        for (Error error : probe.validate(JsonNodeFactory.instance.numberNode(1))) {
            describe(error); // the text is looked up when first asked for
        }
    }

    /** The document, read once for the whole test JVM; what it has seen covers every test. */
    public static OpenApiContract shared() {
        OpenApiContract contract = shared;
        if (contract == null) {
            synchronized (OpenApiContract.class) {
                if (shared == null) {
                    shared = load();
                }
                contract = shared;
            }
        }
        return contract;
    }

    /** A fresh reading of the document, with nothing seen yet. */
    public static OpenApiContract load() {
        try {
            return of(Files.readString(DOCUMENT));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + DOCUMENT, e);
        }
    }

    /** A contract from a document's YAML text (tests of the contract itself use doctored copies). */
    static OpenApiContract of(String yaml) {
        return new OpenApiContract(YAMLMapper.builder().build().readTree(yaml));
    }

    JsonNode document() {
        return document;
    }

    /** Every response the document declares. */
    public Set<Key> declared() {
        return declared;
    }

    /** The declared responses this contract has checked at least once. */
    public Set<Key> seen() {
        return Collections.unmodifiableSet(new TreeSet<>(seen));
    }

    /** Throws a {@link Violation} naming every way the response differs from the document. */
    public void check(Exchange exchange) {
        List<String> violations = violations(exchange);
        if (!violations.isEmpty()) {
            throw violation(exchange, violations);
        }
    }

    /** Every way the response differs from the document; empty when it conforms. */
    public List<String> violations(Exchange exchange) {
        List<String> violations = new ArrayList<>();
        Declared response = locate(exchange, violations);
        if (response == null) {
            return violations;
        }
        String media = mediaType(response, exchange, violations);
        if (media == null) {
            return violations;
        }
        seen.add(new Key(response.operation(), response.status(), media));
        if (!media.isEmpty()) {
            String schema = response.pointer() + "/content/" + escape(media) + "/schema";
            if (isNdjson(media)) {
                String[] lines = new String(exchange.body(), StandardCharsets.UTF_8).split("\n", -1);
                for (int i = 0; i < lines.length; i++) {
                    violations.addAll(lineViolations(schema, i + 1, lines[i]));
                }
            } else {
                violations.addAll(bodyViolations(schema, media, exchange.body()));
            }
        }
        return violations;
    }

    /**
     * Checks what passes through a WebClient or WebTestClient: a whole body is read and checked
     * before the caller sees the response (so a test that reads only the status is checked too),
     * an NDJSON body line by line as it streams, so a test still sees each line as it comes.
     */
    public ExchangeFilterFunction filter() {
        return (request, next) -> next.exchange(request).flatMap(response -> {
            Exchange head = exchange(request, response, new byte[0]);
            MediaType type = response.headers().contentType().orElse(null);
            if (type != null && NDJSON.isCompatibleWith(type)) {
                List<String> violations = new ArrayList<>();
                Declared declaredResponse = locate(head, violations);
                String media = declaredResponse == null ? null : mediaType(declaredResponse, head, violations);
                if (!violations.isEmpty() || media == null) {
                    return Mono.error(violation(head, violations));
                }
                seen.add(new Key(declaredResponse.operation(), declaredResponse.status(), media));
                String schema = declaredResponse.pointer() + "/content/" + escape(media) + "/schema";
                return Mono.just(response.mutate().body(body -> checkedLines(head, schema, body)).build());
            }
            return DataBufferUtils.join(response.body(BodyExtractors.toDataBuffers()))
                    .map(Buffers::drain)
                    .defaultIfEmpty(new byte[0])
                    .map(body -> {
                        check(exchange(request, response, body));
                        return response.mutate()
                                .body(Flux.just(DefaultDataBufferFactory.sharedInstance.wrap(body)))
                                .build();
                    });
        });
    }

    // ---- locating the declared response -----------------------------------------------------

    /** A response object of the document: where it applies, its status key and its JSON pointer. */
    private record Declared(String operation, String status, String pointer, JsonNode node) {
    }

    private Declared locate(Exchange exchange, List<String> violations) {
        String path = exchange.target();
        int query = path.indexOf('?');
        if (query >= 0) {
            path = path.substring(0, query);
        }
        for (String prefix : UNDESCRIBED_PREFIXES) {
            if (path.startsWith(prefix)) {
                return null;
            }
        }
        String method = exchange.method().toLowerCase(Locale.ROOT);
        String template = template(path);
        String operation;
        String responsesPointer;
        if (template != null && document.path("paths").path(template).has(method)) {
            operation = method.toUpperCase(Locale.ROOT) + " " + template;
            responsesPointer = "/paths/" + escape(template) + "/" + method + "/responses";
        } else {
            operation = UNROUTED;
            responsesPointer = "/" + UNROUTED + "/responses";
        }
        JsonNode responses = document.at(responsesPointer);
        String status = String.valueOf(exchange.status());
        for (String key : List.of(status, status.charAt(0) + "XX", "default")) {
            if (responses.has(key)) {
                String pointer = resolve(responsesPointer + "/" + key);
                return new Declared(operation, key, pointer, document.at(pointer));
            }
        }
        violations.add("status " + status + " is not declared for " + operation + " (declared: "
                + String.join(", ", responses.propertyNames()) + ")");
        return null;
    }

    /** The path template that matches a request path, a template with more fixed segments first. */
    private String template(String path) {
        String[] segments = path.split("/", -1);
        String best = null;
        int bestFixed = -1;
        for (String template : document.path("paths").propertyNames()) {
            String[] parts = template.split("/", -1);
            if (parts.length != segments.length) {
                continue;
            }
            int fixed = 0;
            boolean matches = true;
            for (int i = 0; i < parts.length && matches; i++) {
                if (parts[i].startsWith("{") && parts[i].endsWith("}")) {
                    matches = !segments[i].isEmpty();
                } else {
                    matches = parts[i].equals(segments[i]);
                    fixed++;
                }
            }
            if (matches && fixed > bestFixed) {
                best = template;
                bestFixed = fixed;
            }
        }
        return best;
    }

    /** Follows a chain of Reference Objects ({@code $ref: '#/components/...'}) to the object itself. */
    private String resolve(String pointer) {
        JsonNode node = document.at(pointer);
        for (int hops = 0; node.has("$ref"); hops++) {
            String ref = node.get("$ref").asString();
            if (!ref.startsWith("#") || hops > 10) {
                throw new IllegalStateException(pointer + ": only local references are supported, got " + ref);
            }
            pointer = ref.substring(1);
            node = document.at(pointer);
            if (node.isMissingNode()) {
                throw new IllegalStateException("unresolved reference " + ref);
            }
        }
        return pointer;
    }

    // ---- headers and media type ---------------------------------------------------------------

    /** The declared media type the response has ("" when nothing is declared and nothing sent), else null. */
    private String mediaType(Declared response, Exchange exchange, List<String> violations) {
        headerViolations(response, exchange, violations);
        JsonNode content = response.node().path("content");
        String header = exchange.header("Content-Type");
        if (content.isEmpty()) {
            if (exchange.body().length > 0) {
                violations.add(response.operation() + " " + response.status() + " declares no content, got "
                        + exchange.body().length + " bytes of " + header);
                return null;
            }
            return "";
        }
        if (header == null) {
            violations.add(response.operation() + " " + response.status() + " declares " + names(content)
                    + ", the response has no Content-Type");
            return null;
        }
        MediaType actual;
        try {
            actual = MediaType.parseMediaType(header);
        } catch (InvalidMediaTypeException e) {
            violations.add("Content-Type \"" + header + "\" is not a media type: " + e.getMessage());
            return null;
        }
        for (String declaredType : content.propertyNames()) {
            if (MediaType.parseMediaType(declaredType).equalsTypeAndSubtype(actual)) {
                return declaredType;
            }
        }
        violations.add(response.operation() + " " + response.status() + " declares " + names(content)
                + ", got Content-Type " + header);
        return null;
    }

    private void headerViolations(Declared response, Exchange exchange, List<String> violations) {
        JsonNode headers = response.node().path("headers");
        for (String name : headers.propertyNames()) {
            // OpenAPI: a response header named Content-Type is ignored (the content map says it)
            if (name.equalsIgnoreCase("Content-Type")) {
                continue;
            }
            String pointer = resolve(response.pointer() + "/headers/" + escape(name));
            JsonNode header = document.at(pointer);
            String value = exchange.header(name);
            if (value == null) {
                if (header.path("required").asBoolean(false)) {
                    violations.add(response.operation() + " " + response.status() + " requires header " + name
                            + ", the response has none");
                }
                continue;
            }
            for (Error error : schema(pointer + "/schema").validate(headerValue(header.path("schema"), value))) {
                violations.add("header " + name + ": \"" + value + "\": " + describe(error));
            }
        }
    }

    /** A header's text as the JSON value its schema describes (headers are text on the wire). */
    private static JsonNode headerValue(JsonNode schema, String value) {
        String type = schema.path("type").asString("");
        if (type.equals("integer") || type.equals("number")) {
            try {
                return type.equals("integer") ? JsonNodeFactory.instance.numberNode(Long.parseLong(value.trim()))
                        : JsonNodeFactory.instance.numberNode(Double.parseDouble(value.trim()));
            } catch (NumberFormatException e) {
                // left as text, so the schema's type check names the problem
            }
        }
        return JsonNodeFactory.instance.stringNode(value);
    }

    // ---- bodies -------------------------------------------------------------------------------

    private List<String> bodyViolations(String schemaPointer, String media, byte[] body) {
        MediaType type = MediaType.parseMediaType(media);
        boolean isJson = type.getSubtype().equals("json") || "json".equals(type.getSubtypeSuffix());
        if (!isJson) {
            // text/plain and the like: a string schema says nothing a byte sequence could break
            return schema(schemaPointer).validate(JsonNodeFactory.instance.stringNode(
                    new String(body, StandardCharsets.UTF_8))).stream().map(OpenApiContract::describe).toList();
        }
        if (body.length == 0) {
            return List.of("the body is empty, " + media + " is declared");
        }
        JsonNode value;
        try {
            value = json.readTree(body);
        } catch (JacksonException e) {
            return List.of("the body is not JSON: " + e.getOriginalMessage());
        }
        return schema(schemaPointer).validate(value).stream().map(OpenApiContract::describe).toList();
    }

    private List<String> lineViolations(String schemaPointer, int lineNumber, String line) {
        if (line.isBlank()) {
            return List.of();
        }
        try {
            return schema(schemaPointer).validate(json.readTree(line)).stream()
                    .map(error -> "line " + lineNumber + ": " + describe(error))
                    .toList();
        } catch (JacksonException e) {
            return List.of("line " + lineNumber + " is not JSON: " + e.getOriginalMessage());
        }
    }

    private Flux<DataBuffer> checkedLines(Exchange head, String schemaPointer, Flux<DataBuffer> body) {
        StringBuilder pending = new StringBuilder();
        int[] lineNumber = {0};
        Flux<DataBuffer> lines = body.map(buffer -> {
            byte[] bytes = Buffers.drain(buffer);
            pending.append(new String(bytes, StandardCharsets.UTF_8));
            List<String> violations = new ArrayList<>();
            for (int end = pending.indexOf("\n"); end >= 0; end = pending.indexOf("\n")) {
                violations.addAll(lineViolations(schemaPointer, ++lineNumber[0], pending.substring(0, end)));
                pending.delete(0, end + 1);
            }
            if (!violations.isEmpty()) {
                throw violation(head, violations);
            }
            return DefaultDataBufferFactory.sharedInstance.wrap(bytes);
        });
        return lines.concatWith(Mono.defer(() -> {
            List<String> violations = lineViolations(schemaPointer, ++lineNumber[0], pending.toString());
            return violations.isEmpty() ? Mono.empty() : Mono.error(violation(head, violations));
        }));
    }

    /** How a value differs from the schema at a JSON pointer into the document (e.g. {@code /components/schemas/Result}). */
    List<String> schemaViolations(String pointer, JsonNode value) {
        return schema(pointer).validate(value).stream().map(OpenApiContract::describe).toList();
    }

    private Schema schema(String pointer) {
        return schemas.computeIfAbsent(pointer, p -> registry.getSchema(SchemaLocation.of(BASE_IRI + "#" + p)));
    }

    // ---- what the document declares ----------------------------------------------------------

    private Set<Key> collectDeclared() {
        Set<Key> keys = new LinkedHashSet<>();
        for (String template : document.path("paths").propertyNames()) {
            for (String method : METHODS) {
                if (document.path("paths").path(template).has(method)) {
                    addDeclared(keys, method.toUpperCase(Locale.ROOT) + " " + template,
                            "/paths/" + escape(template) + "/" + method + "/responses");
                }
            }
        }
        addDeclared(keys, UNROUTED, "/" + UNROUTED + "/responses");
        return keys;
    }

    private void addDeclared(Set<Key> keys, String operation, String responsesPointer) {
        for (String status : document.at(responsesPointer).propertyNames()) {
            JsonNode response = document.at(resolve(responsesPointer + "/" + status));
            if (response.path("content").isEmpty()) {
                keys.add(new Key(operation, status, ""));
            }
            for (String media : response.path("content").propertyNames()) {
                keys.add(new Key(operation, status, media));
            }
        }
    }

    // ---- helpers ------------------------------------------------------------------------------

    private static Exchange exchange(ClientRequest request, ClientResponse response, byte[] body) {
        String target = request.url().getRawPath()
                + (request.url().getRawQuery() == null ? "" : "?" + request.url().getRawQuery());
        Map<String, List<String>> headers = new LinkedHashMap<>();
        response.headers().asHttpHeaders().forEach(headers::put);
        return new Exchange(request.method().name(), target, response.statusCode().value(), headers, body);
    }

    private Violation violation(Exchange exchange, List<String> violations) {
        return new Violation("response differs from " + DOCUMENT.getFileName() + ": " + String.join("; ", violations)
                + "\n  response: " + exchange);
    }

    private static String describe(Error error) {
        return error.getInstanceLocation() + ": " + error.getMessage() + " (schema " + error.getSchemaLocation()
                .toString().replace(BASE_IRI, "") + ")";
    }

    private static boolean isNdjson(String media) {
        return NDJSON.equalsTypeAndSubtype(MediaType.parseMediaType(media));
    }

    private static String names(JsonNode object) {
        return String.valueOf(new ArrayList<>(object.propertyNames()));
    }

    /** A JSON pointer's escaping of one reference token (RFC 6901). */
    private static String escape(String token) {
        return token.replace("~", "~0").replace("/", "~1");
    }

    private static String abbreviate(String text, int max) {
        return text.length() <= max ? text : text.substring(0, max) + "...(" + text.length() + " chars)";
    }
}
