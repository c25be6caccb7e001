package dev.vouch.api.http;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * An HTTP/1.1 client over a plain {@link Socket}, for what a well-behaved client library hides:
 * half-sent requests, bodies written before anything is read, malformed request lines, and
 * whether the server closed the connection. Parses responses with a Content-Length or chunked body.
 * <p>
 * Every response read is checked against the OpenAPI document ({@link OpenApiContract}) as the
 * answer to the oldest request sent on the connection and not yet answered: the requests are found
 * in what is sent (request line and headers up to the blank line, then Content-Length bytes of body).
 */
public final class RawHttp implements AutoCloseable {
    private final Socket socket;
    private final InputStream in;
    private final OutputStream out;
    private final OpenApiContract contract;
    private final Deque<Sent> unanswered = new ArrayDeque<>();
    // the request being sent: its head so far (until the blank line), then how much of its body is still to come
    private final ByteArrayOutputStream head = new ByteArrayOutputStream();
    private int lastFour;
    private long bodyLeft;

    private record Sent(String method, String target) {
    }

    private RawHttp(Socket socket, OpenApiContract contract) throws IOException {
        this.socket = socket;
        // buffered: the header parser reads byte by byte
        this.in = new BufferedInputStream(socket.getInputStream());
        this.out = socket.getOutputStream();
        this.contract = contract;
    }

    /** A connection whose reads give up after {@code readTimeout} with a {@link SocketTimeoutException}. */
    public static RawHttp connect(int port, Duration readTimeout) throws IOException {
        return connect(port, readTimeout, OpenApiContract.shared());
    }

    /** As {@link #connect(int, Duration)}, with responses checked against {@code contract}. */
    public static RawHttp connect(int port, Duration readTimeout, OpenApiContract contract) throws IOException {
        Socket socket = new Socket();
        socket.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
        socket.setSoTimeout(Math.toIntExact(readTimeout.toMillis()));
        socket.setTcpNoDelay(true);
        return new RawHttp(socket, contract);
    }

    public static String get(String path) {
        return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    }

    public RawHttp send(String text) throws IOException {
        return send(text.getBytes(StandardCharsets.ISO_8859_1));
    }

    public RawHttp send(byte[] bytes) throws IOException {
        track(bytes);
        out.write(bytes);
        out.flush();
        return this;
    }

    /** One response; an {@link IOException} (EOF, reset, time-out) when none comes. */
    public Response read() throws IOException {
        String statusLine = line();
        if (statusLine == null) {
            throw new IOException("connection closed before a response arrived");
        }
        String[] parts = statusLine.split(" ", 3);
        int status = Integer.parseInt(parts[1]);
        Map<String, String> headers = new LinkedHashMap<>();
        for (String header = line(); header != null && !header.isEmpty(); header = line()) {
            int colon = header.indexOf(':');
            headers.put(header.substring(0, colon).trim().toLowerCase(Locale.ROOT), header.substring(colon + 1).trim());
        }
        byte[] body;
        if (headers.containsKey("content-length")) {
            body = in.readNBytes(Integer.parseInt(headers.get("content-length")));
        } else if ("chunked".equalsIgnoreCase(headers.get("transfer-encoding"))) {
            body = chunked();
        } else {
            body = new byte[0];
        }
        Sent request = unanswered.poll();
        if (request != null && contract != null) {
            Map<String, List<String>> listed = new LinkedHashMap<>();
            headers.forEach((name, value) -> listed.put(name, List.of(value)));
            contract.check(new OpenApiContract.Exchange(request.method(), request.target(), status, listed, body));
        }
        return new Response(status, headers, new String(body, StandardCharsets.UTF_8));
    }

    /**
     * Waits until the server closes the connection (EOF or reset) and says so; false if it is
     * still open when the read times out. Bytes that arrive meanwhile are skipped.
     */
    public boolean closedByServer() throws IOException {
        byte[] sink = new byte[8192];
        try {
            while (true) {
                if (in.read(sink) < 0) {
                    return true;
                }
            }
        } catch (SocketTimeoutException e) {
            return false;
        } catch (SocketException e) {
            return true;
        }
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }

    /** Finds the requests in what is sent, so that each response can be matched with its request. */
    private void track(byte[] bytes) {
        int i = 0;
        while (i < bytes.length) {
            if (bodyLeft > 0) {
                int skipped = (int) Math.min(bodyLeft, bytes.length - i);
                bodyLeft -= skipped;
                i += skipped;
                continue;
            }
            byte b = bytes[i++];
            head.write(b);
            lastFour = (lastFour << 8) | (b & 0xff);
            if (lastFour == 0x0d0a0d0a) {
                String[] lines = head.toString(StandardCharsets.ISO_8859_1).split("\r\n");
                String[] requestLine = lines[0].split(" ");
                if (requestLine.length == 3) {
                    unanswered.add(new Sent(requestLine[0], requestLine[1]));
                }
                for (String line : lines) {
                    if (line.toLowerCase(Locale.ROOT).startsWith("content-length:")) {
                        bodyLeft = Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
                    }
                }
                head.reset();
                lastFour = 0;
            }
        }
    }

    private byte[] chunked() throws IOException {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        while (true) {
            String size = line();
            int length = Integer.parseInt(size.split(";")[0].trim(), 16);
            if (length == 0) {
                line();
                return body.toByteArray();
            }
            body.write(in.readNBytes(length));
            line();
        }
    }

    private String line() throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        int b;
        while ((b = in.read()) >= 0) {
            if (b == '\n') {
                String text = bytes.toString(StandardCharsets.ISO_8859_1);
                return text.endsWith("\r") ? text.substring(0, text.length() - 1) : text;
            }
            bytes.write(b);
        }
        return bytes.size() == 0 ? null : bytes.toString(StandardCharsets.ISO_8859_1);
    }

    public record Response(int status, Map<String, String> headers, String body) {
        public String header(String name) {
            return headers.get(name.toLowerCase(Locale.ROOT));
        }
    }
}
