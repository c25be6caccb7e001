package dev.vouch.api.http;

/**
 * One reason a request was refused, tied to the field that caused it.
 *
 * @param field the field's path in the request, e.g. {@code actions[3].hash}; null for the body as a whole
 * @param detail a sentence that names the field and says what is wrong
 */
public record FieldProblem(String field, String detail) {
}
