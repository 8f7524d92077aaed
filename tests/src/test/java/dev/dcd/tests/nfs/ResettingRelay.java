package dev.dcd.tests.nfs;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A TCP relay on 127.0.0.1 in front of an NFS server's NFS port that can cut a connection the hard way: when armed,
 * the next NFSv3 call of a given procedure is not forwarded, and the client's connection is reset (RST, not FIN),
 * which is what a client sees when a server dies with requests in flight. Everything else is passed through.
 */
final class ResettingRelay implements AutoCloseable {
    /** NFSv3 procedure numbers (RFC 1813). */
    static final int NFSPROC3_READ = 6;
    private static final int NFS_PROGRAM = 100003;
    /** ONC RPC over TCP: a 4-byte record mark, then xid, message type, RPC version, program, version, procedure. */
    private static final int PROGRAM_AT = 4 + 12;
    private static final int PROCEDURE_AT = 4 + 20;

    private final int target;
    private final ServerSocket listener;
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();
    private final AtomicInteger armedProcedure = new AtomicInteger(-1);
    private final AtomicInteger resets = new AtomicInteger();
    private volatile boolean closed;

    ResettingRelay(int targetPort) throws IOException {
        this.target = targetPort;
        this.listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread acceptor = new Thread(this::accept, "relay-accept-" + port());
        acceptor.setDaemon(true);
        acceptor.start();
    }

    int port() {
        return listener.getLocalPort();
    }

    /** The next call of {@code procedure}, on any connection, resets that connection instead of reaching the server. */
    void resetNextCall(int procedure) {
        armedProcedure.set(procedure);
    }

    /** Connections reset so far. */
    int resets() {
        return resets.get();
    }

    private void accept() {
        while (!closed) {
            try {
                Socket client = listener.accept();
                Socket server = new Socket();
                server.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), target), 5000);
                sockets.add(client);
                sockets.add(server);
                pump(client, server, true);
                pump(server, client, false);
            } catch (IOException e) {
                if (closed) {
                    return;
                }
            }
        }
    }

    private void pump(Socket from, Socket to, boolean fromClient) {
        Thread t = new Thread(() -> {
            byte[] buf = new byte[256 * 1024];
            try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
                for (int n; (n = in.read(buf)) > 0; ) {
                    if (fromClient && isArmedCall(buf, n)) {
                        resetBoth(fromClient ? from : to, fromClient ? to : from);
                        return;
                    }
                    out.write(buf, 0, n);
                }
            } catch (IOException e) {
                // the other direction or close() ended the connection
            } finally {
                quietly(to);
                quietly(from);
            }
        }, "relay-pump");
        t.setDaemon(true);
        t.start();
    }

    private boolean isArmedCall(byte[] buf, int n) {
        if (n < PROCEDURE_AT + 4) {
            return false;
        }
        ByteBuffer b = ByteBuffer.wrap(buf, 0, n);
        int procedure = armedProcedure.get();
        return procedure >= 0 && b.getInt(PROGRAM_AT) == NFS_PROGRAM && b.getInt(PROCEDURE_AT) == procedure
                && armedProcedure.compareAndSet(procedure, -1);
    }

    private void resetBoth(Socket client, Socket server) {
        try {
            client.setSoLinger(true, 0); // close() now sends RST
        } catch (IOException e) {
            // closing still ends the connection
        }
        quietly(client);
        quietly(server);
        resets.incrementAndGet();
    }

    private static void quietly(Socket s) {
        try {
            s.close();
        } catch (IOException e) {
            // already closed
        }
    }

    @Override
    public void close() {
        closed = true;
        try {
            listener.close();
        } catch (IOException e) {
            // already closed
        }
        sockets.forEach(ResettingRelay::quietly);
    }
}
