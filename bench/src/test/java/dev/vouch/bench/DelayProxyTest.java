package dev.vouch.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class DelayProxyTest {

    /** An echo server on port 0: every byte it reads it writes back. */
    private static ServerSocket echoServer() throws IOException {
        ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread t = new Thread(() -> {
            while (!server.isClosed()) {
                try {
                    Socket s = server.accept();
                    Thread echo = new Thread(() -> {
                        try (s; InputStream in = s.getInputStream(); OutputStream out = s.getOutputStream()) {
                            in.transferTo(out);
                        } catch (IOException e) {
                            // client gone
                        }
                    });
                    echo.setDaemon(true);
                    echo.start();
                } catch (IOException e) {
                    return;
                }
            }
        });
        t.setDaemon(true);
        t.start();
        return server;
    }

    @Test
    void forwardsBytesInOrderAndUnchanged() throws Exception {
        byte[] data = new byte[3_000_000];
        new SplittableRandom(7).nextBytes(data);
        try (ServerSocket echo = echoServer();
                DelayProxy proxy = new DelayProxy(new InetSocketAddress("127.0.0.1", echo.getLocalPort()), 2);
                Socket client = new Socket("127.0.0.1", proxy.port())) {
            client.setSoTimeout(30_000);
            Thread writer = new Thread(() -> {
                try {
                    OutputStream out = client.getOutputStream();
                    // many small and large writes, so chunks of every size pass through the delay queue
                    int off = 0;
                    int step = 1;
                    while (off < data.length) {
                        int n = Math.min(step, data.length - off);
                        out.write(data, off, n);
                        off += n;
                        step = step * 3 % 100_003 + 1;
                    }
                    out.flush();
                    client.shutdownOutput();
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            });
            writer.start();
            byte[] back = new byte[data.length];
            new DataInputStream(client.getInputStream()).readFully(back);
            writer.join();
            assertThat(back).isEqualTo(data);
            // and the echo closed its side once ours was closed: the EOF passed through too
            assertThat(client.getInputStream().read()).isEqualTo(-1);
        }
    }

    @Test
    void severalConnectionsAtOnceStayApart() throws Exception {
        try (ServerSocket echo = echoServer();
                DelayProxy proxy = new DelayProxy(new InetSocketAddress("127.0.0.1", echo.getLocalPort()), 0)) {
            Socket a = new Socket("127.0.0.1", proxy.port());
            Socket b = new Socket("127.0.0.1", proxy.port());
            a.setSoTimeout(30_000);
            b.setSoTimeout(30_000);
            a.getOutputStream().write("first connection".getBytes());
            b.getOutputStream().write("second".getBytes());
            byte[] fromB = new DataInputStream(b.getInputStream()).readNBytes(6);
            byte[] fromA = new DataInputStream(a.getInputStream()).readNBytes(16);
            assertThat(new String(fromA)).isEqualTo("first connection");
            assertThat(new String(fromB)).isEqualTo("second");
            a.close();
            b.close();
        }
    }
}
