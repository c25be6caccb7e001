package dev.vouch.auth;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.context.properties.bind.Bindable;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.ConfigurationPropertySources;
import org.springframework.boot.env.YamlPropertySourceLoader;
import org.springframework.core.env.PropertySource;
import org.springframework.core.io.ByteArrayResource;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.scheduler.Scheduler;

/**
 * The static bearer tokens: those of {@code vouch.auth.tokens} and of {@code vouch.auth.tokens-file},
 * which is looked at every {@code tokens-file-check-interval} on the bounded I/O scheduler and
 * re-read when its content changed, so a Kubernetes Secret update takes effect without a restart.
 * A file that no longer parses keeps the previous tokens (and says so in the log); at start-up it
 * stops Vouch. Only SHA-256 hashes are held; a presented token is hashed and compared with every
 * entry in constant time, so neither the match nor its position leaks through timing.
 */
final class StaticTokens implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(StaticTokens.class);

    private record Entry(byte[] sha256, Identity identity) {
    }

    private final List<Entry> configured;
    private final Path file;
    private volatile List<Entry> fromFile = List.of();
    private volatile byte[] fileDigest;
    // what the last failed re-read found, so a broken file is reported once, not at every check
    private volatile String lastProblem;
    private final Disposable polling;

    StaticTokens(AuthProperties properties, Scheduler io) {
        this.configured = entries(properties.tokens());
        this.file = properties.tokensFile();
        if (file == null) {
            polling = null;
            return;
        }
        try {
            load(Files.readAllBytes(file));
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException("vouch.auth.tokens-file " + file + " does not exist");
        } catch (IOException e) {
            throw new IllegalArgumentException("vouch.auth.tokens-file " + file + " cannot be read: " + e);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("vouch.auth.tokens-file " + file + ": " + e.getMessage(), e);
        }
        Duration every = properties.tokensFileCheckInterval();
        polling = Flux.interval(every, every, io)
                .onBackpressureDrop()
                .subscribe(tick -> reloadIfChanged());
    }

    /** The identity whose token this is, or null. */
    Identity match(String token) {
        byte[] presented = sha256(token.getBytes(StandardCharsets.UTF_8));
        Identity found = null;
        // every entry is compared, a match or not, so the time taken does not say which one matched
        for (List<Entry> entries : List.of(configured, fromFile)) {
            for (Entry entry : entries) {
                if (MessageDigest.isEqual(entry.sha256(), presented) && found == null) {
                    found = entry.identity();
                }
            }
        }
        return found;
    }

    int size() {
        return configured.size() + fromFile.size();
    }

    private void reloadIfChanged() {
        byte[] content;
        try {
            content = Files.readAllBytes(file);
        } catch (IOException | RuntimeException e) {
            // a Secret being swapped can be briefly absent; the next check tries again
            problem("cannot be read: " + e);
            return;
        }
        byte[] digest = sha256(content);
        if (MessageDigest.isEqual(digest, fileDigest)) {
            lastProblem = null;
            return;
        }
        try {
            load(content);
            lastProblem = null;
            log.info("vouch.auth.tokens-file {} re-read: {} tokens", file, fromFile.size());
        } catch (IOException | RuntimeException e) {
            // half-written or wrong: keep what works, say so once per content
            problem(HexFormat.of().formatHex(digest) + " " + e.getMessage());
        }
    }

    private void problem(String what) {
        if (!what.equals(lastProblem)) {
            lastProblem = what;
            log.warn("vouch.auth.tokens-file {} could not be re-read, keeping its previous {} tokens: {}", file,
                    fromFile.size(), what.replaceFirst("^[0-9a-f]{64} ", ""));
        }
    }

    private void load(byte[] content) throws IOException {
        List<AuthProperties.Token> tokens = parse(content);
        AuthProperties.checkTokens(tokens, "tokens");
        Set<String> clash = tokens.stream().map(AuthProperties.Token::name)
                .filter(n -> configured.stream().anyMatch(e -> e.identity().name().equals(n)))
                .collect(Collectors.toSet());
        if (!clash.isEmpty()) {
            throw new IllegalArgumentException("tokens named " + clash + " are also in vouch.auth.tokens");
        }
        fromFile = entries(tokens);
        fileDigest = sha256(content);
    }

    private static List<AuthProperties.Token> parse(byte[] content) throws IOException {
        List<PropertySource<?>> sources = new YamlPropertySourceLoader()
                .load("vouch.auth.tokens-file", new ByteArrayResource(content));
        if (sources.isEmpty()) {
            return List.of();
        }
        return new Binder(ConfigurationPropertySources.from(sources.get(0)))
                .bind("tokens", Bindable.listOf(AuthProperties.Token.class))
                .orElse(List.of());
    }

    private static List<Entry> entries(List<AuthProperties.Token> tokens) {
        List<Entry> entries = new ArrayList<>(tokens.size());
        for (AuthProperties.Token t : tokens) {
            List<Pattern> patterns = t.instancePatterns().stream().map(Pattern::compile).toList();
            Set<Right> rights = t.rights().stream().map(Right::parse).collect(Collectors.toSet());
            entries.add(new Entry(HexFormat.of().parseHex(t.sha256()), new Identity(t.name(), "token", patterns, rights)));
        }
        return List.copyOf(entries);
    }

    static byte[] sha256(byte[] bytes) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(bytes);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    @Override
    public void close() {
        if (polling != null) {
            polling.dispose();
        }
    }
}
