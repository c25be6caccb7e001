package dev.vouch.jmh;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import org.slf4j.LoggerFactory;

/**
 * Logging at the level Vouch runs at (root INFO, as logback-spring.xml sets it). A benchmark JVM
 * has no logback configuration, and logback's default is DEBUG: the engine's debug lines would be
 * formatted, printed and measured. Only for benchmark JVMs (a separate {@code @Setup} that tests do
 * not call), since tests of the engine's logging need DEBUG.
 */
public final class ProductionLogging {
    private ProductionLogging() {
    }

    public static void apply() {
        ((Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME)).setLevel(Level.INFO);
    }
}
