package dev.vouch.logging;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.LoggingEvent;
import org.junit.jupiter.api.Test;

class LogSafeTest {

    @Test
    void quoteEscapesLineBreaksControlsQuotesAndInvisibleCharacters() {
        assertThat(LogSafe.quote("ci/linux")).isEqualTo("\"ci/linux\"");
        assertThat(LogSafe.quote("a\nb\rc\td")).isEqualTo("\"a\\nb\\rc\\td\"");
        assertThat(LogSafe.quote("say \"hi\" \\o/")).isEqualTo("\"say \\\"hi\\\" \\\\o/\"");
        assertThat(LogSafe.quote("nul\u0000 esc\u001b del\u007f nel\u0085")).isEqualTo(
                "\"nul\\u0000 esc\\u001b del\\u007f nel\\u0085\"");
        // line and paragraph separators, a bidi override, a zero-width space, a lone surrogate
        assertThat(LogSafe.quote("\u2028\u2029\u202e\u200b\ud800")).isEqualTo(
                "\"\\u2028\\u2029\\u202e\\u200b\\ud800\"");
        // printable text of any script stays readable
        assertThat(LogSafe.quote("équipe/日本/\ud83d\ude80")).isEqualTo("\"équipe/日本/\ud83d\ude80\"");
        assertThat(LogSafe.quote(null)).isEqualTo("null");
    }

    @Test
    void quoteCutsLongValues() {
        String megabyte = "x".repeat(1 << 20);
        assertThat(LogSafe.quote(megabyte)).isEqualTo("\"" + "x".repeat(200) + "\"...(" + ((1 << 20) - 200) + " more)");
        assertThat(LogSafe.quote("y".repeat(200))).isEqualTo("\"" + "y".repeat(200) + "\"");
        // a surrogate pair across the cut is left out whole rather than split
        String pairAtCut = "z".repeat(199) + "\ud83d\ude80";
        assertThat(LogSafe.quote(pairAtCut)).isEqualTo("\"" + "z".repeat(199) + "\"...(2 more)");
    }

    @Test
    void escapeKeepsQuotesAndReturnsCleanTextItself() {
        String clean = "resource_name \"blobs/x/1\": expected {hash}/{size}";
        assertThat(LogSafe.escape(clean)).isSameAs(clean);
        assertThat(LogSafe.escape("status \"a\nb\"")).isEqualTo("status \"a\\nb\"");
        assertThat(LogSafe.escape("e".repeat(1005))).isEqualTo("e".repeat(1000) + "...(5 more)");
        assertThat(LogSafe.escape(null)).isNull();
    }

    @Test
    void converterEscapesArgumentsAndKeepsTheTemplate() {
        EscapedArgumentsConverter converter = new EscapedArgumentsConverter();
        LoggerContext context = new LoggerContext();
        LoggingEvent event = new LoggingEvent("test", context.getLogger("test"), Level.WARN,
                "first line\nsecond line: {} and {}", null, new Object[] {"x\nERROR forged", 42});

        assertThat(converter.convert(event)).isEqualTo("first line\nsecond line: x\\nERROR forged and 42");
        assertThat(converter.convert(new LoggingEvent("test", context.getLogger("test"), Level.INFO,
                "no arguments\nat all", null, null))).isEqualTo("no arguments\nat all");
    }
}
