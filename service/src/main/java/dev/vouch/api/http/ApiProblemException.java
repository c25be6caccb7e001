package dev.vouch.api.http;

import java.util.List;

/** A request refused before it reaches the validator; rendered as a problem detail. */
class ApiProblemException extends RuntimeException {
    private final ProblemType type;
    private final List<FieldProblem> problems;

    ApiProblemException(ProblemType type, String detail) {
        super(detail);
        this.type = type;
        this.problems = List.of();
    }

    /** A 400 listing every field problem found; the detail is the first one's. */
    ApiProblemException(List<FieldProblem> problems) {
        super(summarize(problems));
        this.type = ProblemType.INVALID_REQUEST;
        this.problems = List.copyOf(problems);
    }

    static ApiProblemException invalid(String field, String detail) {
        return new ApiProblemException(List.of(new FieldProblem(field, detail)));
    }

    ProblemType type() {
        return type;
    }

    List<FieldProblem> problems() {
        return problems;
    }

    private static String summarize(List<FieldProblem> problems) {
        if (problems.isEmpty()) {
            throw new IllegalArgumentException("no problems to report");
        }
        String first = problems.get(0).detail();
        return problems.size() == 1 ? first : first + " (and " + (problems.size() - 1) + " more, see errors)";
    }
}
