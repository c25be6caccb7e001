package dev.vouch.api.http;

import dev.vouch.api.RequestChecks;
import dev.vouch.backend.Scope;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.validation.Mode;
import dev.vouch.validation.ValidationRequest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;
import java.util.stream.Collectors;
import tools.jackson.databind.JsonNode;

/**
 * Turns request JSON and URL parameters into a {@link ValidationRequest}, checking every field by
 * hand so that each refusal names the field it is about (SPEC "REST API v1": bad input never
 * reaches a backend).
 */
final class ValidationRequestParser {
    /** Enough to show a pattern in a bad batch without echoing a thousand lines back. */
    private static final int MAX_REPORTED_PROBLEMS = 100;

    private final int maxActions;
    // whether vouch.front.repair-from is set, so that "repair" means something
    private final boolean repairAvailable;

    ValidationRequestParser(int maxActions) {
        this(maxActions, false);
    }

    ValidationRequestParser(int maxActions, boolean repairAvailable) {
        this.maxActions = maxActions;
        this.repairAvailable = repairAvailable;
    }

    /** The body of {@code POST /v1/validate}; unknown top-level fields are ignored. */
    ValidationRequest parseBatch(JsonNode body) {
        if (body == null || body.isMissingNode()) {
            throw ApiProblemException.invalid(null, "request body is empty; expected a JSON object with \"actions\"");
        }
        if (!body.isObject()) {
            throw ApiProblemException.invalid(null, "request body must be a JSON object, got " + describe(body));
        }
        List<FieldProblem> problems = new ArrayList<>();
        String instanceName = optionalString(body, "instanceName", problems);
        DigestFunction function = optionalEnum(body, "digestFunction", DigestFunction.SHA256, DigestFunction.values(),
                DigestFunction::byName, problems);
        Mode mode = optionalEnum(body, "mode", Mode.EXISTENCE, Mode.values(), ValidationRequestParser::modeByName,
                problems);
        boolean includeActionResult = optionalBoolean(body, "includeActionResult", problems);
        boolean repair = optionalBoolean(body, "repair", problems);
        if (repair && !repairAvailable) {
            problems.add(new FieldProblem("repair", "repair needs vouch.front.repair-from, which is not set"));
        }
        List<Digest> actions = actions(body.get("actions"), function, problems);
        if (!problems.isEmpty()) {
            throw new ApiProblemException(problems.subList(0, Math.min(problems.size(), MAX_REPORTED_PROBLEMS)));
        }
        return new ValidationRequest(new Scope(instanceName, function), mode, actions, includeActionResult, repair);
    }

    /** The path and query parameters of {@code GET /v1/actions/{hash}/{sizeBytes}}. */
    ValidationRequest parseSingle(String hash, String sizeBytes, Optional<String> instanceName, Optional<String> mode,
            Optional<String> digestFunction, Optional<String> includeActionResult) {
        List<FieldProblem> problems = new ArrayList<>();
        // null after a refused value, so the hash length is not also judged against a guess
        DigestFunction function = digestFunction.isEmpty() ? DigestFunction.SHA256
                : enumValue("digestFunction", digestFunction.get(), DigestFunction.values(), DigestFunction::byName,
                        problems);
        Mode parsedMode = mode.isEmpty() ? Mode.EXISTENCE
                : enumValue("mode", mode.get(), Mode.values(), ValidationRequestParser::modeByName, problems);
        boolean include = false;
        if (includeActionResult.isPresent()) {
            String text = includeActionResult.get();
            if (text.equals("true") || text.equals("false")) {
                include = Boolean.parseBoolean(text);
            } else {
                problems.add(new FieldProblem("includeActionResult",
                        "includeActionResult must be true or false, got \"" + text + "\""));
            }
        }
        String checkedHash = checkHash("hash", hash, function, problems);
        long size = parseSize("sizeBytes", sizeBytes, problems);
        if (!problems.isEmpty()) {
            throw new ApiProblemException(problems);
        }
        return new ValidationRequest(new Scope(instanceName.orElse(""), function), parsedMode,
                List.of(new Digest(checkedHash, size)), include, false);
    }

    private List<Digest> actions(JsonNode actions, DigestFunction function, List<FieldProblem> problems) {
        if (actions == null || actions.isNull()) {
            problems.add(new FieldProblem("actions", "actions is required: a non-empty array of action digests"));
            return List.of();
        }
        if (!actions.isArray()) {
            problems.add(new FieldProblem("actions", "actions must be an array, got " + describe(actions)));
            return List.of();
        }
        Optional<String> countProblem = RequestChecks.actionCountProblem("actions", actions.size(), maxActions);
        if (countProblem.isPresent()) {
            problems.add(new FieldProblem("actions", countProblem.get()));
            return List.of();
        }
        List<Digest> digests = new ArrayList<>(actions.size());
        for (int i = 0; i < actions.size(); i++) {
            Digest digest = action(actions.get(i), "actions[" + i + "]", function, problems);
            if (digest != null) {
                digests.add(digest);
            }
        }
        return digests;
    }

    /** An action is {@code {"hash": ..., "sizeBytes": ...}} or the shorthand {@code "<hash>/<sizeBytes>"}. */
    private static Digest action(JsonNode node, String field, DigestFunction function, List<FieldProblem> problems) {
        if (node.isString()) {
            return shorthand(node.stringValue(), field, function, problems);
        }
        if (!node.isObject()) {
            problems.add(new FieldProblem(field, field + " must be an object {\"hash\", \"sizeBytes\"} or a string "
                    + "\"<hash>/<sizeBytes>\", got " + describe(node)));
            return null;
        }
        int before = problems.size();
        String hash = null;
        JsonNode hashNode = node.get("hash");
        if (hashNode == null || hashNode.isNull()) {
            problems.add(new FieldProblem(field + ".hash", field + ".hash is required"));
        } else if (!hashNode.isString()) {
            problems.add(new FieldProblem(field + ".hash",
                    field + ".hash must be a string, got " + describe(hashNode)));
        } else {
            hash = checkHash(field + ".hash", hashNode.stringValue(), function, problems);
        }
        long size = -1;
        JsonNode sizeNode = node.get("sizeBytes");
        String sizeField = field + ".sizeBytes";
        if (sizeNode == null || sizeNode.isNull()) {
            problems.add(new FieldProblem(sizeField, sizeField + " is required"));
        } else if (!sizeNode.isIntegralNumber() || !sizeNode.canConvertToLong()) {
            problems.add(new FieldProblem(sizeField, sizeField + " must be a non-negative integer, got "
                    + describe(sizeNode)));
        } else if (sizeNode.longValue() < 0) {
            problems.add(new FieldProblem(sizeField, RequestChecks.sizeProblem(sizeField, sizeNode.longValue()).get()));
        } else {
            size = sizeNode.longValue();
        }
        return problems.size() == before ? new Digest(hash, size) : null;
    }

    private static Digest shorthand(String text, String field, DigestFunction function, List<FieldProblem> problems) {
        int slash = text.indexOf('/');
        if (slash < 0 || slash != text.lastIndexOf('/')) {
            problems.add(new FieldProblem(field, field + " must be \"<hash>/<sizeBytes>\", got \"" + abbreviate(text)
                    + "\""));
            return null;
        }
        int before = problems.size();
        String hash = checkHash(field, text.substring(0, slash), function, problems);
        long size = parseSize(field, text.substring(slash + 1), problems);
        return problems.size() == before ? new Digest(hash, size) : null;
    }

    /** Lowercase hex of the right length, or a problem; {@code function} is null when it is itself invalid. */
    private static String checkHash(String field, String hash, DigestFunction function, List<FieldProblem> problems) {
        Optional<String> problem = RequestChecks.hashProblem(field, hash, function);
        problem.ifPresent(detail -> problems.add(new FieldProblem(field, detail)));
        return problem.isEmpty() ? hash : null;
    }

    private static long parseSize(String field, String text, List<FieldProblem> problems) {
        String subject = field.endsWith("sizeBytes") ? field : field + " sizeBytes";
        long size;
        try {
            size = Long.parseLong(text);
        } catch (NumberFormatException e) {
            problems.add(new FieldProblem(field, subject + " must be a non-negative integer, got \""
                    + abbreviate(text) + "\""));
            return -1;
        }
        RequestChecks.sizeProblem(subject, size).ifPresent(detail -> problems.add(new FieldProblem(field, detail)));
        return size;
    }

    private static String optionalString(JsonNode body, String field, List<FieldProblem> problems) {
        JsonNode node = body.get(field);
        if (node == null || node.isNull()) {
            return "";
        }
        if (!node.isString()) {
            problems.add(new FieldProblem(field, field + " must be a string, got " + describe(node)));
            return "";
        }
        return node.stringValue();
    }

    private static boolean optionalBoolean(JsonNode body, String field, List<FieldProblem> problems) {
        JsonNode node = body.get(field);
        if (node == null || node.isNull()) {
            return false;
        }
        if (!node.isBoolean()) {
            problems.add(new FieldProblem(field, field + " must be true or false, got " + describe(node)));
            return false;
        }
        return node.booleanValue();
    }

    /** Returns null (with a problem recorded) for an invalid value, so later checks know to skip it. */
    private static <E extends Enum<E>> E optionalEnum(JsonNode body, String field, E fallback, E[] accepted,
            Function<String, Optional<E>> lookup, List<FieldProblem> problems) {
        JsonNode node = body.get(field);
        if (node == null || node.isNull()) {
            return fallback;
        }
        if (!node.isString()) {
            problems.add(new FieldProblem(field, field + " must be one of " + names(accepted) + ", got "
                    + describe(node)));
            return null;
        }
        return enumValue(field, node.stringValue(), accepted, lookup, problems);
    }

    private static <E extends Enum<E>> E enumValue(String field, String value, E[] accepted,
            Function<String, Optional<E>> lookup, List<FieldProblem> problems) {
        Optional<E> found = lookup.apply(value);
        if (found.isEmpty()) {
            problems.add(new FieldProblem(field, field + " must be one of " + names(accepted) + ", got \""
                    + abbreviate(value) + "\""));
            return null;
        }
        return found.get();
    }

    private static Optional<Mode> modeByName(String name) {
        return Arrays.stream(Mode.values()).filter(m -> m.name().equals(name)).findFirst();
    }

    private static String names(Enum<?>[] values) {
        return Arrays.stream(values).map(Enum::name).collect(Collectors.joining(", "));
    }

    private static String describe(JsonNode node) {
        return switch (node.getNodeType()) {
            case ARRAY -> "an array";
            case OBJECT -> "an object";
            case STRING -> "the string \"" + abbreviate(node.stringValue()) + "\"";
            case NUMBER -> "the number " + abbreviate(node.asString());
            case BOOLEAN -> node.booleanValue() ? "true" : "false";
            case NULL -> "null";
            default -> node.getNodeType().name().toLowerCase(java.util.Locale.ROOT);
        };
    }

    /** Echoed values are cut short: a problem detail is no place for a megabyte of input. */
    private static String abbreviate(String text) {
        return text.length() <= 140 ? text : text.substring(0, 140) + "...";
    }
}
