package dev.vouch.logging;

/**
 * Makes strings that come from outside (instance names, resource names, raw hashes, paths, header
 * and field values, remote error messages) safe to put in a log line: line breaks and other
 * characters that are not printable come out as escapes ({@code \n}, {@code \r}, {@code \t},
 * {@code \u0000}), so such a string can never start a line of its own or hide text, and long
 * strings are cut, so one request cannot write megabytes of log.
 */
public final class LogSafe {
    /** Characters of a {@link #quote quoted} value kept before it is cut. */
    public static final int MAX_QUOTED = 200;
    /** Characters of an {@link #escape escaped} message kept before it is cut. */
    public static final int MAX_ESCAPED = 1000;
    private static final char[] HEX = "0123456789abcdef".toCharArray();

    private LogSafe() {
    }

    /**
     * A client value for a log line, in double quotes: {@code "ci/linux"}. Quotes and backslashes
     * are escaped too, so the quoted text is unambiguous; past {@value #MAX_QUOTED} characters the
     * rest is replaced by {@code ...(N more)}. {@code null} prints as {@code null}, unquoted.
     */
    public static String quote(String value) {
        if (value == null) {
            return "null";
        }
        StringBuilder out = new StringBuilder(Math.min(value.length(), MAX_QUOTED) + 16).append('"');
        int end = append(out, value, MAX_QUOTED, true);
        out.append('"');
        return end < value.length() ? out.append("...(").append(value.length() - end).append(" more)").toString()
                : out.toString();
    }

    /**
     * Text that may carry client strings inside it (an exception's message, a status description),
     * on one line: characters that are not printable escaped, quotes and backslashes left as they
     * are (the text is read, not parsed); past {@value #MAX_ESCAPED} characters cut as by
     * {@link #quote}. Returns {@code text} itself when there is nothing to change.
     */
    public static String escape(String text) {
        if (text == null) {
            return null;
        }
        if (text.length() <= MAX_ESCAPED && isClean(text)) {
            return text;
        }
        StringBuilder out = new StringBuilder(Math.min(text.length(), MAX_ESCAPED) + 16);
        int end = append(out, text, MAX_ESCAPED, false);
        return end < text.length() ? out.append("...(").append(text.length() - end).append(" more)").toString()
                : out.toString();
    }

    private static boolean isClean(String text) {
        for (int i = 0; i < text.length(); ) {
            int c = text.codePointAt(i);
            if (!printable(c)) {
                return false;
            }
            i += Character.charCount(c);
        }
        return true;
    }

    /** Appends {@code text} escaped, up to {@code max} of its characters; returns how many it took. */
    private static int append(StringBuilder out, String text, int max, boolean quoting) {
        int i = 0;
        while (i < text.length()) {
            int c = text.codePointAt(i);
            int width = Character.charCount(c);
            // a surrogate pair is never split by the cut
            if (i + width > max) {
                break;
            }
            switch (c) {
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '"', '\\' -> {
                    if (quoting) {
                        out.append('\\');
                    }
                    out.append((char) c);
                }
                default -> {
                    if (printable(c)) {
                        out.appendCodePoint(c);
                    } else {
                        for (int unit = i; unit < i + width; unit++) {
                            unicodeEscape(out, text.charAt(unit));
                        }
                    }
                }
            }
            i += width;
        }
        return i;
    }

    private static void unicodeEscape(StringBuilder out, char unit) {
        out.append("\\u").append(HEX[unit >> 12 & 0xf]).append(HEX[unit >> 8 & 0xf])
                .append(HEX[unit >> 4 & 0xf]).append(HEX[unit & 0xf]);
    }

    /**
     * Letters, digits, punctuation, symbols and spaces of any script; not control characters (C0,
     * DEL, C1 with NEL), line and paragraph separators, invisible format characters (bidi
     * overrides, zero-width ones), lone surrogates, private-use or unassigned code points.
     */
    private static boolean printable(int c) {
        if (c >= 0x20 && c < 0x7f) {
            return true;
        }
        if (Character.isISOControl(c)) {
            return false;
        }
        return switch (Character.getType(c)) {
            case Character.FORMAT, Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR, Character.SURROGATE,
                    Character.PRIVATE_USE, Character.UNASSIGNED -> false;
            default -> true;
        };
    }
}
