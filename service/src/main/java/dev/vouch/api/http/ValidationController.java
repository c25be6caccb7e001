package dev.vouch.api.http;

import dev.vouch.api.InFlightValidations;
import dev.vouch.auth.AuthWebFilter;
import dev.vouch.auth.Authorizer;
import dev.vouch.auth.Right;
import dev.vouch.backend.Deadline;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.validation.ActionVerdict;
import dev.vouch.validation.CacheValidator;
import dev.vouch.validation.ValidationRequest;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.Optional;
import java.util.stream.IntStream;
import org.springframework.http.HttpHeaders;
import org.springframework.http.InvalidMediaTypeException;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.http.server.reactive.ServerHttpRequest;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.server.ServerWebExchange;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import tools.jackson.core.JacksonException;
import tools.jackson.core.TokenStreamLocation;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectWriter;
import tools.jackson.databind.json.JsonMapper;

/** REST API v1 (SPEC "REST API v1"): validate a batch, or one action. */
@RestController
@RequestMapping("/v1")
public class ValidationController {
    private final CacheValidator validator;
    private final JsonMapper jsonMapper;
    private final BoundedBodyReader bodyReader;
    private final ValidationRequestParser parser;
    private final RequestDeadlines deadlines;
    private final InFlightValidations inFlight;
    private final Authorizer authorizer;
    /**
     * Writers made once: the JSON answers are written to bytes here, with the application's mapper,
     * rather than by the codec, which built a writer and a generator per response (a tenth of a
     * single GET's CPU).
     */
    private final ObjectWriter resultWriter;
    private final ObjectWriter batchWriter;

    public ValidationController(CacheValidator validator, JsonMapper jsonMapper, VouchProperties properties,
            InFlightValidations inFlight, Authorizer authorizer) {
        this.validator = validator;
        this.jsonMapper = jsonMapper;
        this.bodyReader = new BoundedBodyReader(properties.limits().maxRequestBytes());
        this.parser = new ValidationRequestParser(properties.limits().maxActions(), properties.front().repairFrom() != null
                && !properties.front().repairFrom().isBlank());
        this.deadlines = new RequestDeadlines(properties.limits());
        this.inFlight = inFlight;
        this.authorizer = authorizer;
        this.resultWriter = jsonMapper.writerFor(ResultJson.class);
        this.batchWriter = jsonMapper.writerFor(BatchResponseJson.class);
    }

    /**
     * The body is read as bytes and checked by hand rather than bound to a DTO, so that every
     * refusal can name its field and nothing invalid reaches the validator. The in-flight permit
     * is taken before the body is read, so the bound also caps the memory of bodies being read.
     */
    // what the answer may be, declared: the answers are bytes already, which the codecs would send whatever was asked for
    @PostMapping(path = "/validate", produces = {MediaType.APPLICATION_JSON_VALUE, MediaType.APPLICATION_NDJSON_VALUE})
    public Mono<ResponseEntity<Object>> validate(ServerHttpRequest request, ServerWebExchange exchange) {
        boolean ndjson = acceptsNdjson(request);
        return Mono.defer(() -> {
            Deadline deadline = deadlines.of(request.getHeaders());
            InFlightValidations.Permit permit = inFlight.acquire();
            return bodyReader.read(request)
                    .map(this::parseJson)
                    .map(parser::parseBatch)
                    // the instance name is in the body: the identity is checked once it is read, before any backend
                    .map(validation -> authorized(exchange, validation))
                    .flatMap(validation -> ndjson
                            ? Mono.just(streamed(validation, deadline, permit))
                            : collected(validation, deadline).doFinally(signal -> permit.release()))
                    // a streamed answer keeps its permit until its last line; these cover the way there
                    .doOnError(e -> permit.release())
                    .doOnCancel(permit::release);
        });
    }

    @GetMapping(path = "/actions/{hash}/{sizeBytes}", produces = MediaType.APPLICATION_JSON_VALUE)
    public Mono<ResponseEntity<Object>> action(@PathVariable String hash, @PathVariable String sizeBytes,
            @RequestParam Optional<String> instanceName, @RequestParam Optional<String> mode,
            @RequestParam Optional<String> digestFunction, @RequestParam Optional<String> includeActionResult,
            @RequestHeader HttpHeaders headers, ServerWebExchange exchange) {
        return Mono.defer(() -> {
            Deadline deadline = deadlines.of(headers);
            ValidationRequest validation = parser.parseSingle(hash, sizeBytes, instanceName, mode, digestFunction,
                    includeActionResult);
            authorized(exchange, validation);
            Digest action = validation.actions().get(0);
            InFlightValidations.Permit permit = inFlight.acquire();
            return validator.validate(validation)
                    .contextWrite(deadline::addTo)
                    .next()
                    .map(ResultJsonMapper::toJson)
                    .switchIfEmpty(Mono.fromSupplier(() -> ResultJsonMapper.undecided(action)))
                    .map(result -> json(resultWriter, result))
                    .doFinally(signal -> permit.release());
        });
    }

    private ValidationRequest authorized(ServerWebExchange exchange, ValidationRequest validation) {
        authorizer.check(AuthWebFilter.identity(exchange), validation.scope().instanceName(), Right.VALIDATE);
        return validation;
    }

    private Mono<ResponseEntity<Object>> collected(ValidationRequest validation, Deadline deadline) {
        return validator.validate(validation)
                .contextWrite(deadline::addTo)
                .collectList()
                .map(verdicts -> json(batchWriter, BatchResponseJson.of(inRequestOrder(validation.actions(), verdicts))));
    }

    private static ResponseEntity<Object> json(ObjectWriter writer, Object value) {
        return ResponseEntity.ok().contentType(MediaType.APPLICATION_JSON).body(writer.writeValueAsBytes(value));
    }

    /** One line per action as soon as it is decided; the line's {@code index} says where it belongs. */
    private ResponseEntity<Object> streamed(ValidationRequest validation, Deadline deadline,
            InFlightValidations.Permit permit) {
        List<Digest> actions = validation.actions();
        Flux<ResultJson> lines = Flux.defer(() -> {
            BitSet sent = new BitSet(actions.size());
            return validator.validate(validation)
                    .contextWrite(deadline::addTo)
                    .filter(v -> inRange(v, actions.size()) && !sent.get(v.index()))
                    .doOnNext(v -> sent.set(v.index()))
                    .map(v -> ResultJsonMapper.toJson(v).withIndex(v.index()))
                    .concatWith(Flux.defer(() -> Flux.fromStream(IntStream.range(0, actions.size())
                            .filter(i -> !sent.get(i))
                            .mapToObj(i -> ResultJsonMapper.undecided(actions.get(i)).withIndex(i)))));
        }).doFinally(signal -> permit.release());
        return ResponseEntity.ok().contentType(MediaType.APPLICATION_NDJSON).body(lines);
    }

    /**
     * The validator emits in decision order; the JSON answer is in request order. A slot the
     * validator left empty becomes UNKNOWN, so a defect there can never look like a hit.
     */
    static List<ResultJson> inRequestOrder(List<Digest> actions, List<ActionVerdict> verdicts) {
        ResultJson[] slots = new ResultJson[actions.size()];
        for (ActionVerdict verdict : verdicts) {
            if (inRange(verdict, slots.length) && slots[verdict.index()] == null) {
                slots[verdict.index()] = ResultJsonMapper.toJson(verdict);
            }
        }
        for (int i = 0; i < slots.length; i++) {
            if (slots[i] == null) {
                slots[i] = ResultJsonMapper.undecided(actions.get(i));
            }
        }
        return Arrays.asList(slots);
    }

    private static boolean inRange(ActionVerdict verdict, int size) {
        return verdict.index() >= 0 && verdict.index() < size;
    }

    private JsonNode parseJson(byte[] body) {
        try {
            return jsonMapper.readTree(body);
        } catch (JacksonException e) {
            TokenStreamLocation at = e.getLocation();
            String where = at != null && at.getLineNr() > 0
                    ? " at line " + at.getLineNr() + ", column " + at.getColumnNr()
                    : "";
            throw new ApiProblemException(ProblemType.MALFORMED_JSON,
                    "request body is not valid JSON" + where + ": " + e.getOriginalMessage());
        }
    }

    private static boolean acceptsNdjson(ServerHttpRequest request) {
        try {
            return request.getHeaders().getAccept().stream()
                    .anyMatch(type -> type.equalsTypeAndSubtype(MediaType.APPLICATION_NDJSON)
                            && type.getQualityValue() > 0);
        } catch (InvalidMediaTypeException e) {
            return false;
        }
    }
}
