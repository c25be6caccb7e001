package dev.vouch.api.http;

import dev.vouch.digest.Digest;
import dev.vouch.validation.ActionVerdict;
import dev.vouch.validation.CacheValidator;
import dev.vouch.validation.ValidationRequest;
import dev.vouch.validation.Verdict;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.stream.IntStream;
import reactor.core.publisher.Flux;

/** A CacheValidator whose answers a test scripts, counting how often it is asked. */
final class ScriptedValidator implements CacheValidator {
    private final AtomicInteger calls = new AtomicInteger();
    private volatile ValidationRequest lastRequest;
    private volatile Function<ValidationRequest, Flux<ActionVerdict>> script = ScriptedValidator::allHitsReversed;

    @Override
    public Flux<ActionVerdict> validate(ValidationRequest request) {
        calls.incrementAndGet();
        lastRequest = request;
        return script.apply(request);
    }

    void answer(Function<ValidationRequest, Flux<ActionVerdict>> newScript) {
        script = newScript;
    }

    int calls() {
        return calls.get();
    }

    ValidationRequest lastRequest() {
        return lastRequest;
    }

    void reset() {
        calls.set(0);
        lastRequest = null;
        script = ScriptedValidator::allHitsReversed;
    }

    /** Every action a HIT, emitted last-first, as a validator finishing out of order would. */
    static Flux<ActionVerdict> allHitsReversed(ValidationRequest request) {
        List<Digest> actions = request.actions();
        return Flux.fromStream(IntStream.range(0, actions.size()).map(i -> actions.size() - 1 - i).boxed())
                .map(i -> verdict(i, actions.get(i), Verdict.HIT));
    }

    static ActionVerdict verdict(int index, Digest action, Verdict verdict) {
        return new ActionVerdict(index, action, verdict, "embedded", 2, 30, List.of(), List.of(),
                verdict == Verdict.UNKNOWN ? "backend unavailable" : null, 1.25, null);
    }
}
