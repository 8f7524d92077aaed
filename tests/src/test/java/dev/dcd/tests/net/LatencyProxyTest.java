package dev.dcd.tests.net;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The proxy the latency benchmarks and tests rely on: requests really wait, bytes arrive intact, the bandwidth cap
 * holds and a close on either side reaches the other. Lower bounds on elapsed time are safe on a loaded machine (a
 * delay can only be stretched, never shortened); upper bounds are only generous "not hung" deadlines.
 */
class LatencyProxyTest {
    private static final Duration NOT_HUNG = Duration.ofSeconds(60);

    private ServerSocket server;
    private LatencyProxy proxy;

    @AfterEach
    void tearDown() throws IOException {
        if (proxy != null) {
            proxy.close();
        }
        if (server != null) {
            server.close();
        }
    }

    /** A server that answers each 4-byte length-prefixed request with the same bytes (one connection at a time). */
    private int startEchoServer() throws IOException {
        server = new ServerSocket(0, 16, InetAddress.getLoopbackAddress());
        Thread thread = new Thread(() -> {
            while (!server.isClosed()) {
                try (Socket socket = server.accept()) {
                    DataInputStream in = new DataInputStream(socket.getInputStream());
                    DataOutputStream out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream()));
                    while (true) {
                        int length;
                        try {
                            length = in.readInt();
                        } catch (IOException eof) {
                            break;
                        }
                        byte[] body = in.readNBytes(length);
                        out.writeInt(body.length);
                        out.write(body);
                        out.flush();
                    }
                } catch (IOException e) {
                    // next connection
                }
            }
        }, "echo-server");
        thread.setDaemon(true);
        thread.start();
        return server.getLocalPort();
    }

    private static byte[] roundTrip(DataInputStream in, DataOutputStream out, byte[] request) throws IOException {
        out.writeInt(request.length);
        out.write(request);
        out.flush();
        return in.readNBytes(in.readInt());
    }

    @Test
    void eachRequestOfAConversationWaitsTheConfiguredDelay() throws Exception {
        proxy = LatencyProxy.builder().target(startEchoServer()).delay(Duration.ofMillis(40)).start();
        int requests = 10;
        assertTimeoutPreemptively(NOT_HUNG, () -> {
            try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), proxy.port())) {
                DataInputStream in = new DataInputStream(socket.getInputStream());
                DataOutputStream out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream()));
                long start = System.nanoTime();
                for (int i = 0; i < requests; i++) {
                    assertArrayEquals(new byte[] {(byte) i, 2, 3}, roundTrip(in, out, new byte[] {(byte) i, 2, 3}));
                }
                long elapsedMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
                assertTrue(elapsedMillis >= requests * 40L,
                        requests + " requests at 40 ms each took only " + elapsedMillis + " ms");
            }
        });
        assertEquals(requests, proxy.requests(), "one delay per request, not per packet");
        assertEquals(1, proxy.connections());
    }

    @Test
    void requestsPipelinedOnOneConnectionAreDelayedTogetherNotOneAfterAnother() throws Exception {
        // A client that sends its next request while answers to the earlier ones are flowing back (NBD, NFS): on a
        // real link each request arrives one delay after it was sent, so twenty requests sent over ~0.2 s are all
        // answered about one delay later, far sooner than twenty delays in series.
        int delayMillis = 100;
        int requests = 20;
        proxy = LatencyProxy.builder().target(startEchoServer()).delay(Duration.ofMillis(delayMillis)).start();
        assertTimeoutPreemptively(NOT_HUNG, () -> {
            try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), proxy.port())) {
                DataInputStream in = new DataInputStream(socket.getInputStream());
                DataOutputStream out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream()));
                long start = System.nanoTime();
                Thread sender = new Thread(() -> {
                    try {
                        for (int i = 0; i < requests; i++) {
                            out.writeInt(1);
                            out.write(i);
                            out.flush();
                            // Spread the requests out (load shaping, not synchronisation), so answers flow between them.
                            java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10));
                        }
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                });
                sender.start();
                for (int i = 0; i < requests; i++) {
                    assertArrayEquals(new byte[] {(byte) i}, in.readNBytes(in.readInt()), "answer " + i + " in order");
                }
                sender.join();
                long elapsedMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
                assertTrue(elapsedMillis >= delayMillis, "at least one delay: " + elapsedMillis + " ms");
                assertTrue(elapsedMillis < (long) requests * delayMillis,
                        requests + " pipelined requests took " + elapsedMillis + " ms: delayed one after another");
            }
        });
    }

    @Test
    void aRequestBodyWrittenInPiecesIsDelayedOnce() throws Exception {
        // A quiet gap of a second: a loaded machine may stall the writer between two pieces for longer than the
        // default 50 ms, which would rightly count as a new request.
        proxy = LatencyProxy.builder().target(startEchoServer()).delay(Duration.ofMillis(20))
                .quietGap(Duration.ofSeconds(1)).start();
        assertTimeoutPreemptively(NOT_HUNG, () -> {
            try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), proxy.port())) {
                DataInputStream in = new DataInputStream(socket.getInputStream());
                DataOutputStream out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream()));
                byte[] body = new byte[256 * 1024];
                new Random(3).nextBytes(body);
                out.writeInt(body.length);
                for (int offset = 0; offset < body.length; offset += 4096) {
                    out.write(body, offset, 4096);
                    out.flush();
                }
                assertArrayEquals(body, in.readNBytes(in.readInt()));
            }
        });
        assertEquals(1, proxy.requests());
    }

    @Test
    void bytesArriveIntactBothWays() throws Exception {
        proxy = LatencyProxy.builder().target(startEchoServer()).delay(Duration.ofMillis(2)).start();
        Random random = new Random(19);
        assertTimeoutPreemptively(NOT_HUNG, () -> {
            try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), proxy.port())) {
                DataInputStream in = new DataInputStream(socket.getInputStream());
                DataOutputStream out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream()));
                MessageDigest sent = MessageDigest.getInstance("SHA-256");
                MessageDigest received = MessageDigest.getInstance("SHA-256");
                for (int size : new int[] {1, 65_535, 65_536, 65_537, 3 * 1024 * 1024 + 7, 0, 200_000}) {
                    byte[] request = new byte[size];
                    random.nextBytes(request);
                    sent.update(request);
                    byte[] answer = roundTrip(in, out, request);
                    received.update(answer);
                    assertEquals(size, answer.length);
                }
                assertArrayEquals(sent.digest(), received.digest());
            }
        });
        assertEquals(4 * 7 + 65_535 + 65_536 + 65_537 + 3 * 1024 * 1024 + 7 + 200_000 + 1, proxy.bytesToServer());
        assertEquals(proxy.bytesToServer(), proxy.bytesToClient());
    }

    @Test
    void theBandwidthCapHoldsPerConnection() throws Exception {
        long cap = 1024 * 1024; // 1 MiB/s
        proxy = LatencyProxy.builder().target(startEchoServer()).bandwidth(cap).start();
        byte[] body = new byte[768 * 1024];
        new Random(5).nextBytes(body);
        assertTimeoutPreemptively(NOT_HUNG, () -> {
            try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), proxy.port())) {
                DataInputStream in = new DataInputStream(socket.getInputStream());
                DataOutputStream out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream()));
                long start = System.nanoTime();
                assertArrayEquals(body, roundTrip(in, out, body));
                long elapsedMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
                // 768 KiB up and 768 KiB back, each paced to 1 MiB/s: 750 ms each way less a 10 ms burst.
                assertTrue(elapsedMillis >= 2 * 700,
                        "768 KiB each way at 1 MiB/s took only " + elapsedMillis + " ms");
            }
        });
    }

    @Test
    void withoutDelayOrCapTheProxyIsTransparentAndQuick() throws Exception {
        proxy = LatencyProxy.builder().target(startEchoServer()).start();
        assertTimeoutPreemptively(NOT_HUNG, () -> {
            try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), proxy.port())) {
                DataInputStream in = new DataInputStream(socket.getInputStream());
                DataOutputStream out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream()));
                for (int i = 0; i < 200; i++) {
                    assertArrayEquals(new byte[] {7}, roundTrip(in, out, new byte[] {7}));
                }
            }
        });
        assertEquals(200, proxy.requests());
    }

    @Test
    void aServerCloseReachesTheClientAndAClientCloseReachesTheServer() throws Exception {
        server = new ServerSocket(0, 16, InetAddress.getLoopbackAddress());
        proxy = LatencyProxy.builder().target(server.getLocalPort()).delay(Duration.ofMillis(5)).start();
        assertTimeoutPreemptively(NOT_HUNG, () -> {
            // Client half-closes: the server reads the bytes, then end of stream, and can still answer.
            try (Socket client = new Socket(InetAddress.getLoopbackAddress(), proxy.port());
                 Socket accepted = server.accept()) {
                OutputStream out = client.getOutputStream();
                out.write(new byte[] {1, 2, 3});
                client.shutdownOutput();
                InputStream serverIn = accepted.getInputStream();
                assertArrayEquals(new byte[] {1, 2, 3}, serverIn.readAllBytes(), "bytes, then end of stream");
                accepted.getOutputStream().write(new byte[] {9});
                accepted.close();
                assertArrayEquals(new byte[] {9}, client.getInputStream().readAllBytes(), "answer, then end of stream");
            }
            // Server closes first: the client sees end of stream.
            try (Socket client = new Socket(InetAddress.getLoopbackAddress(), proxy.port());
                 Socket accepted = server.accept()) {
                accepted.close();
                assertEquals(-1, client.getInputStream().read());
            }
        });
    }

    @Test
    void closingTheProxyEndsItsConnections() throws Exception {
        proxy = LatencyProxy.builder().target(startEchoServer()).start();
        assertTimeoutPreemptively(NOT_HUNG, () -> {
            try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), proxy.port())) {
                DataInputStream in = new DataInputStream(socket.getInputStream());
                DataOutputStream out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream()));
                assertArrayEquals(new byte[] {1}, roundTrip(in, out, new byte[] {1}));
                CompletableFuture<Integer> read = CompletableFuture.supplyAsync(() -> {
                    try {
                        return socket.getInputStream().read();
                    } catch (IOException e) {
                        return -1; // a reset is an end too
                    }
                });
                proxy.close();
                assertEquals(-1, read.get());
            }
        });
        // And nobody can connect any more.
        int port = proxy.port();
        assertTrue(refused(port), "the proxy's port still accepts after close");
    }

    private static boolean refused(int port) {
        try (Socket ignored = new Socket(InetAddress.getLoopbackAddress(), port)) {
            return false;
        } catch (IOException e) {
            return true;
        }
    }
}
