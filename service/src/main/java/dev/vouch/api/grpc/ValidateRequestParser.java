package dev.vouch.api.grpc;

import com.google.protobuf.Any;
import com.google.rpc.BadRequest;
import com.google.rpc.Code;
import dev.vouch.api.RequestChecks;
import dev.vouch.backend.Scope;
import dev.vouch.digest.Digest;
import dev.vouch.digest.DigestFunction;
import dev.vouch.v1.ValidateRequest;
import dev.vouch.validation.Mode;
import dev.vouch.validation.ValidationRequest;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * Turns a {@code vouch.v1.ValidateRequest} into a {@link ValidationRequest} by the rules the REST
 * API applies ({@link RequestChecks}); a refused request is INVALID_ARGUMENT whose description names
 * every bad field by its proto path ({@code actions[3].hash}), with the same list as a
 * {@code google.rpc.BadRequest} detail for clients that read details.
 */
final class ValidateRequestParser {
    /**
     * Problems named in one refusal. The description and details travel in trailers, which clients
     * cap at 8 KiB by default; a longer list would turn a clear refusal into a transport error.
     */
    static final int MAX_REPORTED_PROBLEMS = 10;

    private static final String SUPPORTED_FUNCTIONS = Arrays.stream(DigestFunction.values())
            .map(Enum::name).collect(Collectors.joining(", "));

    private final int maxActions;
    // whether vouch.front.repair-from is set, so that repair means something
    private final boolean repairAvailable;

    ValidateRequestParser(int maxActions) {
        this(maxActions, false);
    }

    ValidateRequestParser(int maxActions, boolean repairAvailable) {
        this.maxActions = maxActions;
        this.repairAvailable = repairAvailable;
    }

    ValidationRequest parse(ValidateRequest request) {
        List<BadRequest.FieldViolation> problems = new ArrayList<>();
        DigestFunction function = digestFunction(request, problems);
        Mode mode = mode(request, problems);
        List<Digest> actions = actions(request, function, problems);
        if (request.getRepair() && !repairAvailable) {
            problems.add(violation("repair", "repair needs vouch.front.repair-from, which is not set"));
        }
        if (!problems.isEmpty()) {
            throw invalid(problems);
        }
        return new ValidationRequest(new Scope(request.getInstanceName(), function), mode, actions,
                request.getIncludeActionResult(), request.getRepair());
    }

    /** Null (with a problem recorded) when refused, so hash lengths are not judged against a guess. */
    private static DigestFunction digestFunction(ValidateRequest request, List<BadRequest.FieldViolation> problems) {
        var value = request.getDigestFunction();
        if (value == build.bazel.remote.execution.v2.DigestFunction.Value.UNRECOGNIZED) {
            problems.add(violation("digest_function", "digest_function " + request.getDigestFunctionValue()
                    + " is not a REAPI digest function; use one of " + SUPPORTED_FUNCTIONS + " (unset means SHA256)"));
            return null;
        }
        Optional<DigestFunction> function = DigestFunction.fromProto(value);
        if (function.isEmpty()) {
            problems.add(violation("digest_function", "digest_function " + value
                    + " is not supported; use one of " + SUPPORTED_FUNCTIONS + " (unset means SHA256)"));
            return null;
        }
        return function.get();
    }

    private static Mode mode(ValidateRequest request, List<BadRequest.FieldViolation> problems) {
        return switch (request.getMode()) {
            case MODE_UNSPECIFIED, EXISTENCE -> Mode.EXISTENCE;
            case FETCH -> Mode.FETCH;
            case UNRECOGNIZED -> {
                problems.add(violation("mode", "mode " + request.getModeValue()
                        + " is not one of EXISTENCE, FETCH (unset means EXISTENCE)"));
                yield null;
            }
        };
    }

    private List<Digest> actions(ValidateRequest request, DigestFunction function,
            List<BadRequest.FieldViolation> problems) {
        Optional<String> countProblem = RequestChecks.actionCountProblem("actions", request.getActionsCount(),
                maxActions);
        if (countProblem.isPresent()) {
            problems.add(violation("actions", countProblem.get()));
            return List.of();
        }
        List<Digest> digests = new ArrayList<>(request.getActionsCount());
        for (int i = 0; i < request.getActionsCount(); i++) {
            var action = request.getActions(i);
            String hashField = "actions[" + i + "].hash";
            String sizeField = "actions[" + i + "].size_bytes";
            int before = problems.size();
            RequestChecks.hashProblem(hashField, action.getHash(), function)
                    .ifPresent(detail -> problems.add(violation(hashField, detail)));
            RequestChecks.sizeProblem(sizeField, action.getSizeBytes())
                    .ifPresent(detail -> problems.add(violation(sizeField, detail)));
            if (problems.size() == before) {
                digests.add(new Digest(action.getHash(), action.getSizeBytes()));
            }
        }
        return digests;
    }

    private static StatusRuntimeException invalid(List<BadRequest.FieldViolation> problems) {
        List<BadRequest.FieldViolation> shown = problems.subList(0, Math.min(problems.size(), MAX_REPORTED_PROBLEMS));
        String description = shown.stream().map(BadRequest.FieldViolation::getDescription)
                .collect(Collectors.joining("; "));
        if (problems.size() > shown.size()) {
            description += "; and " + (problems.size() - shown.size()) + " more problems";
        }
        com.google.rpc.Status status = com.google.rpc.Status.newBuilder()
                .setCode(Code.INVALID_ARGUMENT_VALUE)
                .setMessage(description)
                .addDetails(Any.pack(BadRequest.newBuilder().addAllFieldViolations(shown).build()))
                .build();
        return StatusProto.toStatusRuntimeException(status);
    }

    private static BadRequest.FieldViolation violation(String field, String description) {
        return BadRequest.FieldViolation.newBuilder().setField(field).setDescription(description).build();
    }
}
