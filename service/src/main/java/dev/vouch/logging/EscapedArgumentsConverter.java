package dev.vouch.logging;

import ch.qos.logback.classic.pattern.ClassicConverter;
import ch.qos.logback.classic.spi.ILoggingEvent;
import org.slf4j.helpers.MessageFormatter;

/**
 * Logback's {@code %m}, {@code %msg} and {@code %message} as Vouch's log patterns print them (see
 * {@code logback-spring.xml}): the message with each argument passed through
 * {@link LogSafe#escape}. A message template is code and may span lines on purpose; its
 * arguments are data, so a client string that reached a log statement without {@link LogSafe}
 * still cannot start a line of its own. The second line of defence: the call sites escape first.
 */
public final class EscapedArgumentsConverter extends ClassicConverter {

    @Override
    public String convert(ILoggingEvent event) {
        Object[] arguments = event.getArgumentArray();
        if (arguments == null || arguments.length == 0) {
            return event.getFormattedMessage();
        }
        Object[] escaped = new Object[arguments.length];
        for (int i = 0; i < arguments.length; i++) {
            Object argument = arguments[i];
            // arrays keep SLF4J's own rendering; everything else prints as its toString would
            escaped[i] = argument == null || argument.getClass().isArray() ? argument : LogSafe.escape(argument.toString());
        }
        return MessageFormatter.basicArrayFormat(event.getMessage(), escaped);
    }
}
