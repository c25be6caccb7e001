package dev.vouch.api.grpc;

import com.google.protobuf.Any;
import com.google.rpc.Code;
import com.google.rpc.RetryInfo;
import dev.vouch.api.InFlightValidations;
import dev.vouch.auth.AuthException;
import dev.vouch.auth.Authorizer;
import dev.vouch.auth.GrpcAuthInterceptor;
import dev.vouch.auth.Identity;
import dev.vouch.auth.Right;
import dev.vouch.backend.Deadline;
import dev.vouch.config.VouchProperties;
import dev.vouch.digest.Digest;
import dev.vouch.v1.ReactorValidationServiceGrpc;
import dev.vouch.v1.ValidateRequest;
import dev.vouch.v1.ValidateResponse;
import dev.vouch.v1.ValidationResult;
import dev.vouch.validation.ActionVerdict;
import dev.vouch.validation.CacheValidator;
import dev.vouch.validation.ValidationRequest;
import io.grpc.Context;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.stream.IntStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.stereotype.Component;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * {@code vouch.v1.ValidationService} (SPEC "gRPC API"): the REST API's batch validation on the gRPC
 * port, with the same request checks ({@link ValidateRequestParser}), the same engine, deadline
 * policy and in-flight bound. {@link GrpcServer} serves it like every other service bean.
 */
@Component
public class ValidationGrpcService extends ReactorValidationServiceGrpc.ValidationServiceImplBase {
    private static final Logger log = LoggerFactory.getLogger(ValidationGrpcService.class);

    private final CacheValidator validator;
    private final ValidateRequestParser parser;
    private final CallDeadlines deadlines;
    private final InFlightValidations inFlight;
    private final Authorizer authorizer;

    /** With auth off, for tests that build the service by hand. */
    public ValidationGrpcService(CacheValidator validator, VouchProperties properties, InFlightValidations inFlight) {
        this(validator, properties, inFlight, Authorizer.disabled());
    }

    @Autowired
    public ValidationGrpcService(CacheValidator validator, VouchProperties properties, InFlightValidations inFlight,
            Authorizer authorizer) {
        this.validator = validator;
        this.parser = new ValidateRequestParser(properties.limits().maxActions(), properties.front().repairFrom() != null
                && !properties.front().repairFrom().isBlank());
        this.deadlines = new CallDeadlines(properties.limits());
        this.inFlight = inFlight;
        this.authorizer = authorizer;
    }

    /**
     * Every result in request order, with the count of each verdict. A client that cancels (or
     * whose deadline passes) stops the engine: reactor-grpc cancels the subscription when the call ends.
     */
    @Override
    public Mono<ValidateResponse> validate(Mono<ValidateRequest> request) {
        // read on the gRPC thread that calls in: the gRPC Context does not follow Reactor's thread hops
        Context call = Context.current();
        Identity identity = GrpcAuthInterceptor.current();
        var client = ClientHeaders.forValidation();
        return request.flatMap(message -> {
            Admitted admitted = admit(message, call, identity);
            return validator.validate(admitted.validation())
                    .contextWrite(admitted.deadline()::addTo).contextWrite(client)
                    .collectList()
                    .map(verdicts -> responseOf(admitted.validation().actions(), verdicts))
                    .doFinally(signal -> admitted.permit().release());
        }).onErrorMap(this::toStatus);
    }

    /** One message per action as it is decided; cancelling the stream stops the engine. */
    @Override
    public Flux<ValidationResult> validateStream(Mono<ValidateRequest> request) {
        Context call = Context.current();
        Identity identity = GrpcAuthInterceptor.current();
        var client = ClientHeaders.forValidation();
        return request.flatMapMany(message -> {
            Admitted admitted = admit(message, call, identity);
            List<Digest> actions = admitted.validation().actions();
            BitSet sent = new BitSet(actions.size());
            return validator.validate(admitted.validation())
                    .contextWrite(admitted.deadline()::addTo).contextWrite(client)
                    .filter(v -> inRange(v, actions.size()) && !sent.get(v.index()))
                    .doOnNext(v -> sent.set(v.index()))
                    .map(ResultProtos::toProto)
                    // a slot the engine left empty is sent as UNKNOWN, never dropped
                    .concatWith(Flux.defer(() -> Flux.fromStream(IntStream.range(0, actions.size())
                            .filter(i -> !sent.get(i))
                            .mapToObj(i -> ResultProtos.undecided(actions.get(i), i)))))
                    .doFinally(signal -> admitted.permit().release());
        }).onErrorMap(this::toStatus);
    }

    private record Admitted(ValidationRequest validation, Deadline deadline, InFlightValidations.Permit permit) {
    }

    /** Checks come first, so a refused request never takes a place in the in-flight bound. */
    private Admitted admit(ValidateRequest message, Context call, Identity identity) {
        ValidationRequest validation = parser.parse(message);
        try {
            authorizer.check(identity, validation.scope().instanceName(), Right.VALIDATE);
        } catch (AuthException e) {
            throw GrpcAuthInterceptor.status(e).asRuntimeException();
        }
        Deadline deadline = deadlines.of(call.getDeadline());
        try {
            return new Admitted(validation, deadline, inFlight.acquire());
        } catch (InFlightValidations.OverloadedException e) {
            throw overloaded(e);
        }
    }

    static ValidateResponse responseOf(List<Digest> actions, List<ActionVerdict> verdicts) {
        ValidationResult[] slots = new ValidationResult[actions.size()];
        for (ActionVerdict verdict : verdicts) {
            if (inRange(verdict, slots.length) && slots[verdict.index()] == null) {
                slots[verdict.index()] = ResultProtos.toProto(verdict);
            }
        }
        for (int i = 0; i < slots.length; i++) {
            if (slots[i] == null) {
                slots[i] = ResultProtos.undecided(actions.get(i), i);
            }
        }
        List<ValidationResult> results = Arrays.asList(slots);
        return ValidateResponse.newBuilder()
                .addAllResults(results)
                .setSummary(ResultProtos.summary(results))
                .build();
    }

    private static boolean inRange(ActionVerdict verdict, int size) {
        return verdict.index() >= 0 && verdict.index() < size;
    }

    /** RESOURCE_EXHAUSTED with a {@code google.rpc.RetryInfo}, the gRPC form of 429 with Retry-After. */
    private static StatusRuntimeException overloaded(InFlightValidations.OverloadedException e) {
        RetryInfo retry = RetryInfo.newBuilder()
                .setRetryDelay(com.google.protobuf.Duration.newBuilder().setSeconds(e.retryAfterSeconds()))
                .build();
        return StatusProto.toStatusRuntimeException(com.google.rpc.Status.newBuilder()
                .setCode(Code.RESOURCE_EXHAUSTED_VALUE)
                .setMessage(e.getMessage())
                .addDetails(Any.pack(retry))
                .build());
    }

    /** Statuses pass as they are; anything else is a defect, logged here and answered without internals. */
    private Throwable toStatus(Throwable error) {
        if (error instanceof StatusRuntimeException || error instanceof StatusException) {
            return error;
        }
        log.error("vouch.v1 call failed unexpectedly", error);
        return Status.INTERNAL.withDescription("the request could not be completed; the cause is in the service log")
                .asRuntimeException();
    }
}
