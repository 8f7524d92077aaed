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
 * A TCP relay on 127.0.0.1 in front of an NFS server's NFS port that can misbehave on cue: when armed, the next
 * NFSv3 call of a given procedure is not forwarded, and either the client's connection is reset (RST, not FIN),
 * which is what a client sees when a server dies with requests in flight, or the relay answers it itself with
 * NFS3ERR_STALE, which is what a server that lost its file handles says. Everything else is passed through.
 *
 * <p>Replies are passed on whole RPC record by whole record (never two interleaved with a stale answer). With
 * {@link #reverseReplies(boolean)} the relay holds the replies that arrive together (until it has
 * {@link #REORDER_GROUP} of them, or none came for {@link #REORDER_WAIT_MILLIS}) and passes each such group on in
 * reverse order: a server with several calls of one connection in progress may answer them in any order.
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
    private final AtomicInteger staleProcedure = new AtomicInteger(-1);
    private final AtomicInteger staleReplies = new AtomicInteger();
    private final AtomicInteger connections = new AtomicInteger();
    /** NFS3ERR_STALE (RFC 1813). */
    private static final int NFS3ERR_STALE = 70;
    private volatile boolean closed;
    static final int REORDER_GROUP = 4;
    static final int REORDER_WAIT_MILLIS = 200;
    private volatile boolean reverse;
    private final AtomicInteger reorderedGroups = new AtomicInteger();

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

    /** The next call of {@code procedure} is answered NFS3ERR_STALE by the relay (the connection stays up). */
    void staleNextCall(int procedure) {
        staleProcedure.set(procedure);
    }

    /** From now on, groups of replies that arrive together are passed on last first (see the class comment). */
    void reverseReplies(boolean on) {
        reverse = on;
    }

    /** Groups of two or more replies passed on in reverse order so far. */
    int reorderedGroups() {
        return reorderedGroups.get();
    }

    /** Calls answered NFS3ERR_STALE so far. */
    int staleReplies() {
        return staleReplies.get();
    }

    /** Client connections accepted so far. */
    int connections() {
        return connections.get();
    }

    /** Connections reset so far. */
    int resets() {
        return resets.get();
    }

    private void accept() {
        while (!closed) {
            try {
                Socket client = listener.accept();
                connections.incrementAndGet();
                Socket server = new Socket();
                server.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), target), 5000);
                sockets.add(client);
                sockets.add(server);
                pump(client, server, true);
                replies(server, client);
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
                    if (fromClient && isCall(buf, n, staleProcedure)) {
                        answerStale(from, buf);
                        continue;
                    }
                    if (fromClient && isCall(buf, n, armedProcedure)) {
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

    /** Server to client, one whole RPC record at a time; groups reversed while {@link #reverse} is on. */
    private void replies(Socket server, Socket client) {
        Thread t = new Thread(() -> {
            java.util.ArrayDeque<byte[]> held = new java.util.ArrayDeque<>();
            try (java.io.DataInputStream in = new java.io.DataInputStream(new java.io.BufferedInputStream(
                    server.getInputStream(), 256 * 1024)); OutputStream out = client.getOutputStream()) {
                while (true) {
                    byte[] record;
                    try {
                        record = readRecord(in, server, held.isEmpty() ? 0 : REORDER_WAIT_MILLIS);
                    } catch (java.net.SocketTimeoutException e) {
                        record = null; // nothing more came together with the held replies
                    }
                    if (record != null && reverse) {
                        held.addLast(record);
                        if (held.size() < REORDER_GROUP) {
                            continue;
                        }
                    }
                    if (held.size() > 1) {
                        reorderedGroups.incrementAndGet();
                    }
                    synchronized (client) {
                        while (!held.isEmpty()) {
                            out.write(held.pollLast());
                        }
                        if (record != null && !reverse) {
                            out.write(record);
                        }
                    }
                }
            } catch (IOException e) {
                // the other direction or close() ended the connection
            } finally {
                quietly(client);
                quietly(server);
            }
        }, "relay-replies");
        t.setDaemon(true);
        t.start();
    }

    /**
     * One RPC record as it came, record marks included: fragments of a 31-bit length, the top bit marking the last
     * (RFC 5531, record marking). Only the wait for the first mark times out ({@code firstWaitMillis}, 0 for
     * never), so a timeout never leaves half a record read.
     */
    private static byte[] readRecord(java.io.DataInputStream in, Socket from, int firstWaitMillis) throws IOException {
        java.io.ByteArrayOutputStream record = new java.io.ByteArrayOutputStream();
        boolean last = false;
        boolean first = true;
        while (!last) {
            int mark;
            if (first) {
                from.setSoTimeout(firstWaitMillis);
                mark = in.readInt();
                from.setSoTimeout(0);
                first = false;
            } else {
                mark = in.readInt();
            }
            last = (mark & 0x80000000) != 0;
            byte[] fragment = new byte[mark & 0x7fffffff];
            in.readFully(fragment);
            record.write(ByteBuffer.allocate(4).putInt(mark).array());
            record.write(fragment);
        }
        return record.toByteArray();
    }

    private static boolean isCall(byte[] buf, int n, AtomicInteger armed) {
        if (n < PROCEDURE_AT + 4) {
            return false;
        }
        ByteBuffer b = ByteBuffer.wrap(buf, 0, n);
        int procedure = armed.get();
        return procedure >= 0 && b.getInt(PROGRAM_AT) == NFS_PROGRAM && b.getInt(PROCEDURE_AT) == procedure
                && armed.compareAndSet(procedure, -1);
    }

    /**
     * An accepted RPC reply to the call in {@code call} (its xid) whose result is NFS3ERR_STALE with no attributes:
     * record mark, xid, REPLY, MSG_ACCEPTED, AUTH_NONE verifier, SUCCESS, status, post_op_attr absent.
     */
    private void answerStale(Socket client, byte[] call) throws IOException {
        int xid = ByteBuffer.wrap(call).getInt(4);
        ByteBuffer reply = ByteBuffer.allocate(4 + 32);
        reply.putInt(0x80000000 | 32).putInt(xid).putInt(1).putInt(0).putInt(0).putInt(0).putInt(0)
                .putInt(NFS3ERR_STALE).putInt(0);
        synchronized (client) {
            client.getOutputStream().write(reply.array());
        }
        staleReplies.incrementAndGet();
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
