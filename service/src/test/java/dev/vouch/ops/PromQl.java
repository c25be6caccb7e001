package dev.vouch.ops;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * What a PromQL expression asks of the scraped data: its vector selectors (metric name and
 * matchers, as text Prometheus can query on its own) and every label name it relies on (in
 * matchers, in {@code by}/{@code without}/{@code on}/{@code ignoring}/{@code group_left}/
 * {@code group_right} lists, and as the source of {@code label_replace}/{@code label_join}).
 * Prometheus parses the expression itself when the tests query it; this only finds the names, for
 * which no Java PromQL parser exists, and Prometheus 2.42 has no parse API.
 */
record PromQl(List<String> selectors, Set<String> labels, Set<String> createdLabels) {
    private static final Set<String> GROUPING = Set.of("by", "without", "on", "ignoring", "group_left", "group_right");
    private static final Set<String> AGGREGATIONS = Set.of("sum", "min", "max", "avg", "group", "stddev", "stdvar",
            "count", "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio");
    private static final Set<String> KEYWORDS = Set.of("and", "or", "unless", "bool", "offset", "atan2", "inf", "nan");

    private enum Type { IDENT, STRING, NUMBER, PUNCT }

    private record Token(Type type, String text, int start, int end) {
        boolean is(String punct) {
            return type == Type.PUNCT && text.equals(punct);
        }
    }

    static PromQl of(String expr) {
        List<Token> tokens = tokenize(expr);
        List<String> selectors = new ArrayList<>();
        Set<String> labels = new LinkedHashSet<>();
        Set<String> created = new LinkedHashSet<>();
        for (int i = 0; i < tokens.size(); i++) {
            Token t = tokens.get(i);
            boolean callFollows = i + 1 < tokens.size() && tokens.get(i + 1).is("(");
            if (t.is("[")) {
                // a range or subquery: durations only
                while (i < tokens.size() && !tokens.get(i).is("]")) {
                    i++;
                }
            } else if (t.type() == Type.IDENT && GROUPING.contains(t.text())) {
                if (callFollows) {
                    i = labelList(tokens, i + 1, labels);
                }
            } else if (t.type() == Type.IDENT && (KEYWORDS.contains(t.text()) || AGGREGATIONS.contains(t.text()))) {
                continue;
            } else if (t.type() == Type.IDENT && callFollows) {
                if (t.text().equals("label_replace") || t.text().equals("label_join")) {
                    labelFunction(tokens, i + 1, t.text(), labels, created);
                }
            } else if (t.type() == Type.IDENT || t.is("{")) {
                int end = t.is("{") ? i : i + 1;
                if (end < tokens.size() && tokens.get(end).is("{")) {
                    end = matchers(tokens, end, labels);
                } else {
                    end = i;
                }
                selectors.add(expr.substring(t.start(), tokens.get(end).end()));
                i = end;
            }
        }
        return new PromQl(List.copyOf(selectors), Set.copyOf(labels), Set.copyOf(created));
    }

    /** The labels the expression needs from the data: all it names, less those it makes itself. */
    Set<String> requiredLabels() {
        Set<String> required = new LinkedHashSet<>(labels);
        required.removeAll(createdLabels);
        required.remove("__name__");
        return required;
    }

    /** Reads {@code ( a, b )} starting at the parenthesis; returns the index of the closing one. */
    private static int labelList(List<Token> tokens, int open, Set<String> labels) {
        int i = open + 1;
        for (; i < tokens.size() && !tokens.get(i).is(")"); i++) {
            if (tokens.get(i).type() == Type.IDENT) {
                labels.add(tokens.get(i).text());
            }
        }
        return i;
    }

    /** Reads {@code { name op "value", ... }} starting at the brace; returns the index of the closing one. */
    private static int matchers(List<Token> tokens, int open, Set<String> labels) {
        int i = open + 1;
        for (; i < tokens.size() && !tokens.get(i).is("}"); i++) {
            Token t = tokens.get(i);
            if (t.type() == Type.IDENT && i + 1 < tokens.size() && tokens.get(i + 1).type() == Type.PUNCT) {
                labels.add(t.text());
            }
        }
        if (i == tokens.size()) {
            throw new IllegalArgumentException("unclosed { in selector");
        }
        return i;
    }

    /**
     * label_replace(v, dst, replacement, src, regex) and label_join(v, dst, separator, src...): the
     * string arguments at the call's own depth.
     */
    private static void labelFunction(List<Token> tokens, int open, String function, Set<String> labels,
            Set<String> created) {
        List<String> strings = new ArrayList<>();
        int depth = 0;
        for (int i = open; i < tokens.size(); i++) {
            Token t = tokens.get(i);
            if (t.is("(") || t.is("{") || t.is("[")) {
                depth++;
            } else if (t.is(")") || t.is("}") || t.is("]")) {
                if (--depth == 0) {
                    break;
                }
            } else if (depth == 1 && t.type() == Type.STRING) {
                strings.add(t.text());
            }
        }
        if (strings.size() < 3) {
            throw new IllegalArgumentException(function + " needs string arguments, found " + strings);
        }
        created.add(strings.get(0));
        labels.addAll(strings.subList(2, function.equals("label_replace") ? 3 : strings.size()));
    }

    private static List<Token> tokenize(String expr) {
        List<Token> tokens = new ArrayList<>();
        int i = 0;
        while (i < expr.length()) {
            char c = expr.charAt(i);
            int start = i;
            if (Character.isWhitespace(c)) {
                i++;
            } else if (c == '#') {
                while (i < expr.length() && expr.charAt(i) != '\n') {
                    i++;
                }
            } else if (c == '"' || c == '\'' || c == '`') {
                StringBuilder value = new StringBuilder();
                i++;
                while (i < expr.length() && expr.charAt(i) != c) {
                    if (expr.charAt(i) == '\\' && c != '`' && i + 1 < expr.length()) {
                        i++;
                    }
                    value.append(expr.charAt(i++));
                }
                if (i == expr.length()) {
                    throw new IllegalArgumentException("unclosed string at " + start + " in " + expr);
                }
                i++;
                tokens.add(new Token(Type.STRING, value.toString(), start, i));
            } else if (Character.isLetter(c) || c == '_' || c == ':') {
                while (i < expr.length() && (Character.isLetterOrDigit(expr.charAt(i)) || expr.charAt(i) == '_'
                        || expr.charAt(i) == ':')) {
                    i++;
                }
                tokens.add(new Token(Type.IDENT, expr.substring(start, i), start, i));
            } else if (Character.isDigit(c) || c == '.') {
                // numbers, and durations such as 5m or 1h30m
                while (i < expr.length() && (Character.isLetterOrDigit(expr.charAt(i)) || expr.charAt(i) == '.')) {
                    i++;
                }
                tokens.add(new Token(Type.NUMBER, expr.substring(start, i), start, i));
            } else if (c == '$') {
                throw new IllegalArgumentException("unsubstituted variable at " + start + " in " + expr);
            } else {
                String two = i + 1 < expr.length() ? expr.substring(i, i + 2) : "";
                int length = Set.of("=~", "!~", "!=", "==", ">=", "<=").contains(two) ? 2 : 1;
                i += length;
                tokens.add(new Token(Type.PUNCT, expr.substring(start, i), start, i));
            }
        }
        return tokens;
    }
}
