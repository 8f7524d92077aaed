package dev.dcd.backend.nbd;

import java.io.Closeable;
import java.io.EOFException;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;

import static dev.dcd.backend.nbd.NbdProtocol.*;

/**
 * One connection to an export, past the fixed newstyle handshake, with simple replies (structured replies are never
 * negotiated, so a server may not send them). After the handshake it is thread-safe and <b>pipelined</b>: several
 * threads may each have a request in flight at once; requests go onto the wire whole, one after another, and a
 * reply reader thread (started with the first request) matches each reply to its request by handle and reads a
 * read's data straight into that request's buffer. Over a link with a round trip of tens of milliseconds that is
 * how one connection carries more than one request's worth per round trip. Anything that puts the stream out of
 * step (a reply to no pending request, bad magic, a structured reply, a connection dropped or cut) fails every
 * request in flight, and the connection is not used again. Deadlines are enforced from outside, by
 * {@link #abort()} from a watchdog, which closes the channel and so ends the reader and every waiting request.
 */
final class NbdConnection implements Closeable {
    /** What the handshake learned about the export. */
    record ExportInfo(long size, int flags, int minBlock, int preferredBlock, int maxBlock) {
        boolean readOnly() {
            return (flags & TFLAG_READ_ONLY) != 0;
        }

        boolean canFlush() {
            return (flags & TFLAG_SEND_FLUSH) != 0;
        }

        boolean canTrim() {
            return (flags & TFLAG_SEND_TRIM) != 0;
        }
    }

    private final SocketChannel channel;
    private final String where;
    /** Request header; written only with {@link #sending} held. */
    private final ByteBuffer header = ByteBuffer.allocate(REQUEST_SIZE);
    /** Reply header; used by the handshake's caller, then only by the reply reader. */
    private final ByteBuffer reply = ByteBuffer.allocate(SIMPLE_REPLY_SIZE);
    /** Serialises requests onto the wire (each one whole); replies come back through {@link #readReplies()}. */
    private final java.util.concurrent.locks.ReentrantLock sending = new java.util.concurrent.locks.ReentrantLock();
    private final java.util.concurrent.ConcurrentHashMap<Long, Pending> pending = new java.util.concurrent.ConcurrentHashMap<>();
    private ExportInfo info;
    private long cookie;
    private Thread reader;
    private volatile IOException broken;
    private volatile boolean aborted;

    private NbdConnection(SocketChannel channel, String where) {
        this.channel = channel;
        this.where = where;
    }

    /** Connects (blocking) without the handshake; {@link #handshake} follows. */
    static NbdConnection connect(NbdAddress address, int connectTimeoutMillis) throws IOException {
        SocketChannel channel;
        if (address.socket().isPresent()) {
            channel = SocketChannel.open(StandardProtocolFamily.UNIX);
            try {
                channel.connect(address.socketAddress());
            } catch (IOException e) {
                channel.close();
                throw e;
            }
        } else {
            channel = SocketChannel.open();
            try {
                channel.socket().setTcpNoDelay(true);
                channel.socket().connect(address.socketAddress(), connectTimeoutMillis);
            } catch (IOException e) {
                channel.close();
                throw e;
            }
        }
        return new NbdConnection(channel, address.toString());
    }

    /** A connection over a channel that is already open (for tests with a scripted peer). */
    static NbdConnection over(SocketChannel channel, String where) {
        return new NbdConnection(channel, where);
    }

    /**
     * The fixed newstyle handshake: NBD_OPT_GO for {@code exportName} asking for the block sizes. A server that
     * does not know NBD_OPT_GO gets the older NBD_OPT_EXPORT_NAME.
     */
    ExportInfo handshake(String exportName) throws IOException {
        ByteBuffer greeting = readExactly(18);
        if (greeting.getLong() != INIT_MAGIC) {
            throw new NbdException(where + " is not an NBD server (no NBDMAGIC greeting)", false);
        }
        if (greeting.getLong() != OPT_MAGIC) {
            throw new NbdException(where + " speaks the oldstyle NBD handshake; dcd needs fixed newstyle", false);
        }
        int serverFlags = greeting.getShort() & 0xffff;
        if ((serverFlags & FLAG_FIXED_NEWSTYLE) == 0) {
            throw new NbdException(where + " does not offer the fixed newstyle handshake", false);
        }
        boolean noZeroes = (serverFlags & FLAG_NO_ZEROES) != 0;
        writeFully(ByteBuffer.allocate(4).putInt(FLAG_C_FIXED_NEWSTYLE | (noZeroes ? FLAG_C_NO_ZEROES : 0)).flip());
        writeFully(option(OPT_GO, infoRequest(exportName, INFO_BLOCK_SIZE)));
        long size = -1;
        int flags = 0;
        int min = 1;
        int preferred = 4096;
        int max = DEFAULT_MAX_PAYLOAD;
        while (true) {
            ByteBuffer head = readExactly(20);
            if (head.getLong() != OPT_REPLY_MAGIC) {
                throw new NbdException(where + " sent a malformed option reply (bad magic)", false);
            }
            int opt = head.getInt();
            int type = head.getInt();
            int length = head.getInt();
            if (opt != OPT_GO || length < 0 || length > 65536) {
                throw new NbdException(where + " sent an option reply for option " + opt + " of " + length
                        + " bytes to NBD_OPT_GO", false);
            }
            ByteBuffer data = readExactly(length);
            if (type == REP_ACK) {
                break;
            }
            if (type == REP_INFO && length >= 2) {
                int infoType = data.getShort() & 0xffff;
                if (infoType == INFO_EXPORT && length >= 12) {
                    size = data.getLong();
                    flags = data.getShort() & 0xffff;
                } else if (infoType == INFO_BLOCK_SIZE && length >= 14) {
                    min = data.getInt();
                    preferred = data.getInt();
                    max = data.getInt();
                }
                continue;
            }
            if (type == REP_ERR_UNSUP) {
                return info = exportName(exportName, noZeroes);
            }
            if ((type & REP_FLAG_ERROR) != 0) {
                String text = new String(data.array(), StandardCharsets.UTF_8).strip();
                boolean again = type == REP_ERR_SHUTDOWN;
                throw new NbdException(where + " refused the export: " + replyName(type)
                        + (text.isEmpty() ? "" : ": " + oneLine(text)), again);
            }
            // Other replies (unknown info types) are ignored, as the spec asks.
        }
        if (size < 0) {
            throw new NbdException(where + " finished NBD_OPT_GO without telling the export size", false);
        }
        if (min < 1 || max < min) {
            min = 1;
            max = DEFAULT_MAX_PAYLOAD;
        }
        return info = new ExportInfo(size, flags, min, preferred, max);
    }

    private ExportInfo exportName(String exportName, boolean noZeroes) throws IOException {
        writeFully(option(OPT_EXPORT_NAME, exportName.getBytes(StandardCharsets.UTF_8)));
        ByteBuffer data = readExactly(10 + (noZeroes ? 0 : 124));
        long size = data.getLong();
        int flags = data.getShort() & 0xffff;
        return new ExportInfo(size, flags, 1, 4096, DEFAULT_MAX_PAYLOAD);
    }

    ExportInfo info() {
        return info;
    }

    /** NBD_CMD_READ of {@code dst.remaining()} bytes (at most the server's maximum) into {@code dst}. */
    void read(long offset, ByteBuffer dst) throws IOException {
        int length = dst.remaining();
        String what = "read of " + length + " bytes at " + offset;
        int error = request(CMD_READ, 0, offset, length, null, dst, what);
        if (error != 0) {
            throw NbdException.fromErrno(where + ": " + what, error);
        }
    }

    void write(long offset, ByteBuffer src, boolean fua) throws IOException {
        int length = src.remaining();
        String what = "write of " + length + " bytes at " + offset;
        int error = request(CMD_WRITE, fua ? CMD_FLAG_FUA : 0, offset, length, src, null, what);
        if (error != 0) {
            throw NbdException.fromErrno(where + ": " + what, error);
        }
    }

    void flush() throws IOException {
        int error = request(CMD_FLUSH, 0, 0, 0, null, null, "flush");
        if (error != 0) {
            throw NbdException.fromErrno(where + ": flush", error);
        }
    }

    void trim(long offset, int length) throws IOException {
        int error = request(CMD_TRIM, 0, offset, length, null, null, "trim");
        if (error != 0) {
            throw NbdException.fromErrno(where + ": trim of " + length + " bytes at " + offset, error);
        }
    }

    /** NBD_CMD_DISC, which has no reply, then close: the polite way to leave. */
    void disconnect() {
        try {
            if (!aborted && channel.isOpen() && info != null && broken == null) {
                sending.lock();
                try {
                    writeRequest(++cookie, CMD_DISC, 0, 0, 0, null);
                } finally {
                    sending.unlock();
                }
            }
        } catch (IOException ignored) {
            // Leaving anyway.
        } finally {
            close();
        }
    }

    // ---- pipelining: many requests in flight, replies matched by handle ---------------------------------------

    /**
     * One request sent and not yet answered. Only the reply reader writes {@code dst}, and only before it marks the
     * request done; the caller touches nothing until then, so a buffer is never written after its caller returned.
     */
    private static final class Pending {
        final ByteBuffer dst;
        final String what;
        private boolean done;
        private int error;
        private IOException failure;

        Pending(ByteBuffer dst, String what) {
            this.dst = dst;
            this.what = what;
        }

        synchronized void answer(int error) {
            if (!done) {
                this.error = error;
                done = true;
                notifyAll();
            }
        }

        synchronized void fail(IOException e) {
            if (!done) {
                failure = e;
                done = true;
                notifyAll();
            }
        }

        synchronized boolean done() {
            return done;
        }

        /** Waits for the answer; only an abort (or an answer) ends the wait, never the caller's own patience. */
        synchronized int await(NbdConnection connection) throws IOException {
            boolean interrupted = false;
            while (!done) {
                try {
                    wait();
                } catch (InterruptedException e) {
                    // The reader may be filling dst: end the connection, then wait for it to let go of the buffer.
                    interrupted = true;
                    connection.abort();
                }
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
                throw new java.io.InterruptedIOException(connection.where + ": " + what + " was interrupted");
            }
            if (failure != null) {
                throw failure;
            }
            return error;
        }
    }

    /**
     * Sends one request and waits for its reply, which the connection's reply reader matches to it by handle; other
     * threads may have requests of their own in flight on this connection meanwhile (the NBD protocol allows
     * any number, answered in any order). Returns the reply's error (0: success; a read's data is then in
     * {@code dst}).
     */
    private int request(int type, int flags, long offset, int length, ByteBuffer payload, ByteBuffer dst, String what)
            throws IOException {
        Pending p = new Pending(dst, what);
        sending.lock();
        try {
            IOException fault = broken;
            if (fault != null) {
                throw again(fault, what);
            }
            long id = ++cookie;
            pending.put(id, p);
            if (broken != null) {
                // The reader failed after the check above and may have missed this entry: fail it here.
                pending.remove(id);
                throw again(broken, what);
            }
            startReader();
            try {
                writeRequest(id, type, flags, offset, length, payload);
            } catch (IOException e) {
                pending.remove(id);
                fault(e);
                throw e;
            }
        } finally {
            sending.unlock();
        }
        return p.await(this);
    }

    /** The failure of the whole connection as one request sees it (a fresh exception naming that request). */
    private IOException again(IOException fault, String what) {
        if (fault instanceof NbdException) {
            return fault;
        }
        return new IOException(where + ": connection failed before the " + what + " was answered: "
                + (fault.getMessage() == null ? fault.getClass().getSimpleName() : fault.getMessage()), fault);
    }

    private void writeRequest(long id, int type, int flags, long offset, int length, ByteBuffer payload)
            throws IOException {
        header.clear();
        header.putInt(REQUEST_MAGIC).putShort((short) flags).putShort((short) type).putLong(id).putLong(offset).putInt(length);
        header.flip();
        if (payload == null) {
            writeFully(header);
        } else {
            ByteBuffer[] both = {header, payload};
            while (header.hasRemaining() || payload.hasRemaining()) {
                channel.write(both);
            }
        }
    }

    /** Starts the reply reader on the first request (the handshake before it is read by its caller). */
    private void startReader() {
        if (reader == null) {
            reader = new Thread(this::readReplies, "dcd-nbd-replies-" + where);
            reader.setDaemon(true);
            reader.start();
        }
    }

    /** The reply reader: takes each reply off the wire and hands it, with its data, to the request it answers. */
    private void readReplies() {
        try {
            while (true) {
                reply.clear();
                while (reply.hasRemaining()) {
                    if (channel.read(reply) < 0) {
                        throw new EOFException(where + " closed the connection");
                    }
                }
                reply.flip();
                int magic = reply.getInt();
                if (magic == STRUCTURED_REPLY_MAGIC) {
                    throw new NbdException(where + " sent a structured reply that was never negotiated", false);
                }
                if (magic != SIMPLE_REPLY_MAGIC) {
                    throw new NbdException(where + " sent a reply with bad magic 0x" + Integer.toHexString(magic), false);
                }
                int error = reply.getInt();
                long handle = reply.getLong();
                Pending p = pending.remove(handle);
                if (p == null) {
                    throw new NbdException(where + " answered request " + handle + ", which is not pending", false);
                }
                if (error == 0 && p.dst != null) {
                    try {
                        while (p.dst.hasRemaining()) {
                            if (channel.read(p.dst) < 0) {
                                throw new EOFException(where + " closed the connection in the middle of a read reply");
                            }
                        }
                    } catch (IOException e) {
                        p.fail(e);
                        throw e;
                    }
                }
                p.answer(error);
            }
        } catch (IOException e) {
            fault(e);
        }
    }

    /** The connection is out of use: every request still waiting fails, each with a message naming it. */
    private void fault(IOException e) {
        if (broken == null) {
            broken = e;
        }
        close();
        for (Long id : pending.keySet()) {
            Pending p = pending.remove(id);
            if (p != null) {
                p.fail(e instanceof NbdException ? e : e instanceof EOFException
                        ? new EOFException(where + " closed the connection before answering a " + p.what)
                        : aborted ? new IOException(where + ": " + p.what + " was cut off (deadline)", e)
                        : new IOException(where + ": " + p.what + " failed: " + describe(e), e));
            }
        }
    }

    private static String describe(IOException e) {
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    /** Requests sent on this connection and not answered yet. */
    int inFlight() {
        return pending.size();
    }

    /** Whether the connection failed (it is closed, and every request on it failed). */
    boolean broken() {
        return broken != null || aborted || !channel.isOpen();
    }

    private ByteBuffer readExactly(int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        while (b.hasRemaining()) {
            if (channel.read(b) < 0) {
                throw new EOFException(where + " closed the connection during the handshake");
            }
        }
        return b.flip();
    }

    private void writeFully(ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            channel.write(b);
        }
    }

    private static String oneLine(String s) {
        String line = s.replaceAll("\\s+", " ");
        return line.length() > 200 ? line.substring(0, 200) + "…" : line;
    }

    /** Ends whatever this connection is doing, from another thread: the blocked call fails at once. */
    void abort() {
        aborted = true;
        close();
    }

    boolean aborted() {
        return aborted;
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException ignored) {
            // Nothing more to release.
        }
    }
}
