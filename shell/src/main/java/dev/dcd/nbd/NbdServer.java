package dev.dcd.nbd;

import java.io.Closeable;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * A server-side NBD implementation (fixed newstyle, structured replies, base:allocation) for one export.
 * One thread accepts; each connection negotiates on a thread of its own and then serves requests with a
 * few workers of its own ({@link NbdServerConfig#workers()}), each taking a request off the socket,
 * executing it and replying, so one connection may have several requests in flight and replies may come
 * back out of order, as the protocol allows. Bad client input is answered with the protocol's error,
 * logged as one line, and affects only that connection.
 */
public final class NbdServer implements Closeable {
    private final NbdServerConfig config;
    private final ServerSocketChannel listener;
    private final int boundPort;
    private final Set<NbdConnection> connections = ConcurrentHashMap.newKeySet();
    private final AtomicLong connectionIds = new AtomicLong();
    private final CountDownLatch stopped = new CountDownLatch(1);
    private final Thread acceptor;
    /** Read buffers outlive connections: idle ones for two clients' workers at once (4 MiB each). */
    private final ReadBuffers readBuffers;
    private volatile boolean closing;

    private NbdServer(NbdServerConfig config, ServerSocketChannel listener) throws IOException {
        this.config = config;
        this.readBuffers = new ReadBuffers(2 * config.workers());
        this.listener = listener;
        this.boundPort = listener.getLocalAddress() instanceof InetSocketAddress inet ? inet.getPort() : -1;
        this.acceptor = new Thread(this::acceptLoop, "nbd-accept");
        this.acceptor.setDaemon(true);
    }

    /** Binds the endpoint and starts accepting; returns once clients can connect. */
    public static NbdServer start(NbdServerConfig config) throws IOException {
        Objects.requireNonNull(config, "config");
        NbdServer server = new NbdServer(config, config.endpoint().bind());
        server.acceptor.start();
        return server;
    }

    /** The URI a client connects to, e.g. {@code nbd+unix:///web1?socket=/run/web1.sock}. */
    public String uri() {
        return config.endpoint().uri(config.export().name(), boundPort);
    }

    /** The TCP port actually bound (useful with port 0), or -1 for a Unix socket. */
    public int port() {
        return boundPort;
    }

    public NbdEndpoint endpoint() {
        return config.endpoint();
    }

    /** The read buffers the connections share (for tests). */
    ReadBuffers readBuffers() {
        return readBuffers;
    }

    /** Connections open right now. */
    public int connectionCount() {
        return connections.size();
    }

    /** Blocks until {@link #close()} has finished, from any thread. */
    public void awaitClose() throws InterruptedException {
        stopped.await();
    }

    private void acceptLoop() {
        while (!closing) {
            SocketChannel channel;
            try {
                channel = listener.accept();
            } catch (ClosedChannelException e) {
                return;
            } catch (IOException e) {
                if (!closing) {
                    config.log().accept("nbd: accept failed: " + e.getMessage());
                }
                return;
            }
            long id = connectionIds.incrementAndGet();
            NbdConnection connection = new NbdConnection(id, channel, config, readBuffers, connections::remove);
            connections.add(connection);
            if (closing) {
                connection.close();
                return;
            }
            Thread reader = new Thread(connection::run, "nbd-conn-" + id);
            reader.setDaemon(true);
            reader.start();
        }
    }

    /**
     * Stops accepting, ends every connection once its requests in flight are answered, and removes the
     * Unix socket. The export's device stays open: its owner closes (and so flushes) it.
     */
    @Override
    public void close() throws IOException {
        if (closing) {
            return;
        }
        closing = true;
        try {
            listener.close();
            List<NbdConnection> open = new ArrayList<>(connections);
            for (NbdConnection c : open) {
                c.close();
            }
            try {
                // Requests being executed finish before the owner closes the device under them.
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                for (NbdConnection c : open) {
                    long left = Math.max(0, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()));
                    if (!c.awaitEnd(left)) {
                        config.log().accept("nbd: requests still running after 30 s at shutdown");
                        break;
                    }
                }
                acceptor.join(TimeUnit.SECONDS.toMillis(5));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (config.endpoint().isUnix()) {
                Files.deleteIfExists(config.endpoint().socket());
            }
        } finally {
            stopped.countDown();
        }
    }

    /** Logs through {@code log}, for the serving process's log file. */
    static Consumer<String> stderr() {
        return line -> {
            System.err.println(line);
            System.err.flush();
        };
    }
}
