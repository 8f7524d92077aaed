package dev.dcd.tests.net;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.net.URI;
import java.time.Duration;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * A TCP forwarder on 127.0.0.1 that makes a loopback server look like one across a real network: every request pays
 * a configured delay before its first byte reaches the server, and each connection's bandwidth can be capped.
 *
 * <p>There is no netem in the test kernel and no package for it, so this is how tests and benchmarks put S3Proxy or
 * ganesha "20 ms away". (For NBD, nbdkit's {@code --filter=delay} does the same job inside the server.)
 *
 * <p><b>The delay is a delay line.</b> Every client-to-server byte reaches the server the configured delay after the
 * proxy read it from the client, a one-way latency standing for the round trip's worth of waiting a remote server
 * costs; the server's answers flow back at once. Bytes keep their order and their rate: a request body streams on
 * behind its first byte, and requests a client pipelines on one connection (NBD, NFS RPCs) are each delayed by the
 * delay, overlapping, as on a real link, not one after another. (Until 2026-12-03 15:40 UTC the up direction
 * stopped for the delay at each request: a pipelining client then paid one delay per request in series, which no
 * network does, and LunLatencyBench measured that.) The delay is the proxy's job, so it is a real wait, not a
 * synchronisation.
 *
 * <p><b>What counts as a request</b> (for {@link #requests()}): the client-to-server bytes that start a new turn:
 * the first bytes of a connection, the first after the server has sent anything since the client last did
 * (request, response, next request: HTTP keep-alive and NFS RPCs alike), and the first after the client side was
 * silent for {@link Builder#quietGap(Duration)}.
 *
 * <p><b>Bandwidth.</b> With {@link Builder#bandwidth(long)} each direction of each connection is paced to that many
 * bytes per second (a token bucket with a 10 ms burst), like a per-connection link or per-stream server limit.
 *
 * <p><b>Close.</b> End of stream in one direction is passed on as a half close ({@code shutdownOutput}) to the other
 * side; when both directions ended, or either side fails, both sockets are closed. {@link #close()} stops accepting
 * and closes every open connection.
 */
public final class LatencyProxy implements AutoCloseable {
    private static final int BUFFER_BYTES = 64 * 1024;
    /** Client-to-server pieces held in the delay line of one connection at most (backpressure: 64 MiB). */
    private static final int LINE_PIECES = 1024;
    /** Token bucket depth: how far ahead of the pace a burst may run. */
    private static final long BURST_NANOS = Duration.ofMillis(10).toNanos();

    private final InetSocketAddress target;
    private volatile long delayNanos;
    private final long quietGapNanos;
    private volatile long bytesPerSecond;
    private final ServerSocket server;
    private final Thread acceptor;
    private final Set<Socket> open = ConcurrentHashMap.newKeySet();
    private final AtomicLong connections = new AtomicLong();
    private final AtomicLong requests = new AtomicLong();
    private final AtomicLong bytesUp = new AtomicLong();
    private final AtomicLong bytesDown = new AtomicLong();
    private volatile boolean closed;

    private LatencyProxy(Builder builder) throws IOException {
        this.target = Objects.requireNonNull(builder.target, "target");
        this.delayNanos = builder.delay.toNanos();
        this.quietGapNanos = builder.quietGap.toNanos();
        this.bytesPerSecond = builder.bytesPerSecond;
        this.server = new ServerSocket(0, 128, InetAddress.getLoopbackAddress());
        this.acceptor = new Thread(this::acceptLoop, "latency-proxy-accept-" + server.getLocalPort());
        acceptor.setDaemon(true);
        acceptor.start();
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The port clients connect to instead of the target's. */
    public int port() {
        return server.getLocalPort();
    }

    /** {@code http://127.0.0.1:PORT}: an endpoint URI for HTTP servers such as S3Proxy. */
    public URI httpEndpoint() {
        return URI.create("http://127.0.0.1:" + port());
    }

    public long connections() {
        return connections.get();
    }

    /** Requests delayed so far (see the class comment for what a request is). */
    public long requests() {
        return requests.get();
    }

    public long bytesToServer() {
        return bytesUp.get();
    }

    public long bytesToClient() {
        return bytesDown.get();
    }

    public Duration delay() {
        return Duration.ofNanos(delayNanos);
    }

    /** Changes the delay for requests from now on (a benchmark steps 0, 5, 20 ms over one backend). */
    public void delay(Duration delay) {
        if (delay.isNegative()) {
            throw new IllegalArgumentException("delay must not be negative: " + delay);
        }
        this.delayNanos = delay.toNanos();
    }

    /** Changes the per-connection cap for bytes sent from now on (0: none). */
    public void bandwidth(long bytesPerSecond) {
        if (bytesPerSecond < 0) {
            throw new IllegalArgumentException("bandwidth must not be negative: " + bytesPerSecond);
        }
        this.bytesPerSecond = bytesPerSecond;
    }

    private void acceptLoop() {
        while (!closed) {
            Socket client;
            try {
                client = server.accept();
            } catch (IOException e) {
                return; // closed
            }
            connections.incrementAndGet();
            Thread starter = new Thread(() -> connect(client), "latency-proxy-conn");
            starter.setDaemon(true);
            starter.start();
        }
    }

    private void connect(Socket client) {
        Socket upstream = new Socket();
        open.add(client);
        open.add(upstream);
        try {
            client.setTcpNoDelay(true);
            upstream.setTcpNoDelay(true);
            upstream.connect(target, 10_000);
        } catch (IOException e) {
            closeQuietly(client, upstream);
            return;
        }
        Connection connection = new Connection(client, upstream);
        Thread up = new Thread(() -> connection.pump(true), "latency-proxy-up");
        Thread line = new Thread(connection::deliver, "latency-proxy-line");
        Thread down = new Thread(() -> connection.pump(false), "latency-proxy-down");
        up.setDaemon(true);
        line.setDaemon(true);
        down.setDaemon(true);
        up.start();
        line.start();
        down.start();
        if (closed) {
            closeQuietly(client, upstream);
        }
    }

    /** Bytes the client sent, due at the server at {@code dueNanos}; {@code bytes} null: the client's end of stream. */
    private record Piece(byte[] bytes, long dueNanos) {
    }

    /**
     * One proxied connection: a pump each way, the up pump feeding a delay line whose own thread delivers each piece
     * when it is due, and the turn-taking state that tells where a request starts (for counting).
     */
    private final class Connection {
        private final Socket client;
        private final Socket upstream;
        private final java.util.concurrent.BlockingQueue<Piece> line =
                new java.util.concurrent.ArrayBlockingQueue<>(LINE_PIECES);
        /** Set by the down pump when the server sent bytes; cleared by the up pump when it delays a request. */
        private volatile boolean serverSpoke = true;
        private int directionsEnded;

        Connection(Socket client, Socket upstream) {
            this.client = client;
            this.upstream = upstream;
        }

        void pump(boolean toServer) {
            Socket from = toServer ? client : upstream;
            Socket to = toServer ? upstream : client;
            byte[] buffer = new byte[BUFFER_BYTES];
            long lastUpNanos = Long.MIN_VALUE;
            Pacer pacer = new Pacer();
            try {
                InputStream in = from.getInputStream();
                OutputStream out = to.getOutputStream();
                while (true) {
                    int n = in.read(buffer, 0, chunkBytes());
                    if (n < 0) {
                        if (toServer) {
                            line.put(new Piece(null, System.nanoTime() + delayNanos));
                            return; // the line ends the direction once everything before has been delivered
                        }
                        to.shutdownOutput();
                        break;
                    }
                    long now = System.nanoTime();
                    if (toServer) {
                        boolean quiet = lastUpNanos == Long.MIN_VALUE || now - lastUpNanos >= quietGapNanos;
                        if (serverSpoke || quiet) {
                            serverSpoke = false;
                            requests.incrementAndGet();
                        }
                        lastUpNanos = now;
                        line.put(new Piece(java.util.Arrays.copyOf(buffer, n), now + delayNanos));
                        continue;
                    }
                    serverSpoke = true;
                    pacer.await(n);
                    // Counted before the write: once the far side has the bytes (and maybe answered), the
                    // counter already includes them, so a test reading it after its round trip sees them all.
                    bytesDown.addAndGet(n);
                    out.write(buffer, 0, n);
                    out.flush();
                }
            } catch (IOException e) {
                closeQuietly(client, upstream); // a reset or a close on one side ends the connection
                return;
            } catch (InterruptedException e) {
                closeQuietly(client, upstream);
                return;
            }
            ended();
        }

        /** The delay line's far end: each piece goes to the server when it is due, paced to the bandwidth cap. */
        void deliver() {
            Pacer pacer = new Pacer();
            try {
                OutputStream out = upstream.getOutputStream();
                while (true) {
                    Piece piece = line.poll(1, TimeUnit.SECONDS);
                    if (piece == null) {
                        if (upstream.isClosed()) {
                            return;
                        }
                        continue;
                    }
                    pauseNanos(piece.dueNanos() - System.nanoTime());
                    if (piece.bytes() == null) {
                        upstream.shutdownOutput();
                        break;
                    }
                    pacer.await(piece.bytes().length);
                    bytesUp.addAndGet(piece.bytes().length);
                    out.write(piece.bytes());
                    out.flush();
                }
            } catch (IOException e) {
                closeQuietly(client, upstream);
                return;
            } catch (InterruptedException e) {
                closeQuietly(client, upstream);
                return;
            }
            ended();
        }

        private void ended() {
            synchronized (this) {
                if (++directionsEnded == 2) {
                    closeQuietly(client, upstream);
                }
            }
        }

        private int chunkBytes() {
            long rate = bytesPerSecond;
            if (rate <= 0) {
                return BUFFER_BYTES;
            }
            // Small slices at low rates so the pace is smooth rather than one big write per second.
            return (int) Math.max(1024, Math.min(BUFFER_BYTES, rate / 100));
        }
    }

    /** Paces one direction of one connection to the proxy's rate, with a burst allowance of {@link #BURST_NANOS}. */
    private final class Pacer {
        private long nextFreeNanos = System.nanoTime();

        void await(int bytes) {
            long bytesPerSecond = LatencyProxy.this.bytesPerSecond;
            if (bytesPerSecond <= 0) {
                return;
            }
            long now = System.nanoTime();
            nextFreeNanos = Math.max(nextFreeNanos, now - BURST_NANOS);
            long cost = bytes * 1_000_000_000L / bytesPerSecond;
            long sendAt = nextFreeNanos + cost - BURST_NANOS;
            nextFreeNanos += cost;
            if (sendAt > now) {
                pauseNanos(sendAt - now);
            }
        }
    }

    private static void pauseNanos(long nanos) {
        long until = System.nanoTime() + nanos;
        long left;
        while ((left = until - System.nanoTime()) > 0) {
            LockSupport.parkNanos(left);
            if (Thread.currentThread().isInterrupted()) {
                return;
            }
        }
    }

    private void closeQuietly(Socket... sockets) {
        for (Socket socket : sockets) {
            open.remove(socket);
            try {
                socket.close();
            } catch (IOException ignored) {
                // already closed
            }
        }
    }

    /** Stops accepting and closes every proxied connection. */
    @Override
    public void close() {
        closed = true;
        try {
            server.close();
        } catch (IOException ignored) {
            // already closed
        }
        for (Socket socket : open.toArray(Socket[]::new)) {
            closeQuietly(socket);
        }
        try {
            acceptor.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public String toString() {
        return "LatencyProxy[127.0.0.1:" + port() + " -> " + target + ", delay " + Duration.ofNanos(delayNanos)
                + (bytesPerSecond > 0 ? ", " + bytesPerSecond + " B/s per connection" : "") + "]";
    }

    public static final class Builder {
        private InetSocketAddress target;
        private Duration delay = Duration.ZERO;
        private Duration quietGap = Duration.ofMillis(50);
        private long bytesPerSecond;

        private Builder() {
        }

        /** The server to forward to, e.g. S3Proxy's port on 127.0.0.1. */
        public Builder target(String host, int port) {
            this.target = new InetSocketAddress(host, port);
            return this;
        }

        public Builder target(int loopbackPort) {
            return target("127.0.0.1", loopbackPort);
        }

        /** Added to every client-to-server byte's way (so before the first byte of each request). */
        public Builder delay(Duration delay) {
            if (delay.isNegative()) {
                throw new IllegalArgumentException("delay must not be negative: " + delay);
            }
            this.delay = delay;
            return this;
        }

        /** Client silence after which its next bytes count as a new request even without a server reply. */
        public Builder quietGap(Duration quietGap) {
            if (quietGap.isNegative() || quietGap.isZero()) {
                throw new IllegalArgumentException("quiet gap must be positive: " + quietGap);
            }
            this.quietGap = quietGap;
            return this;
        }

        /** Caps each direction of each connection at this many bytes per second (0: no cap). */
        public Builder bandwidth(long bytesPerSecond) {
            if (bytesPerSecond < 0) {
                throw new IllegalArgumentException("bandwidth must not be negative: " + bytesPerSecond);
            }
            this.bytesPerSecond = bytesPerSecond;
            return this;
        }

        public LatencyProxy start() throws IOException {
            return new LatencyProxy(this);
        }
    }
}
