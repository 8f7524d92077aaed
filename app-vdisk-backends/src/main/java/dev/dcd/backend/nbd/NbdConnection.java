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
 * One connection to an export, past the fixed newstyle handshake, carrying one request at a time with simple
 * replies (structured replies are never negotiated, so a server may not send them). Not thread-safe: the
 * {@link NbdClient} lends each connection to one caller at a time. Deadlines are enforced from outside, by
 * {@link #abort()} from a watchdog, which closes the channel and so ends any blocked read or write.
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
    private final ByteBuffer header = ByteBuffer.allocate(REQUEST_SIZE);
    private final ByteBuffer reply = ByteBuffer.allocate(SIMPLE_REPLY_SIZE);
    private ExportInfo info;
    private long cookie;
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
        long id = send(CMD_READ, 0, offset, length, null);
        int error = awaitReply(id, "read of " + length + " bytes at " + offset);
        if (error != 0) {
            throw NbdException.fromErrno(where + ": read of " + length + " bytes at " + offset, error);
        }
        while (dst.hasRemaining()) {
            if (channel.read(dst) < 0) {
                throw new EOFException(where + " closed the connection in the middle of a read reply");
            }
        }
    }

    void write(long offset, ByteBuffer src, boolean fua) throws IOException {
        int length = src.remaining();
        long id = send(CMD_WRITE, fua ? CMD_FLAG_FUA : 0, offset, length, src);
        int error = awaitReply(id, "write of " + length + " bytes at " + offset);
        if (error != 0) {
            throw NbdException.fromErrno(where + ": write of " + length + " bytes at " + offset, error);
        }
    }

    void flush() throws IOException {
        long id = send(CMD_FLUSH, 0, 0, 0, null);
        int error = awaitReply(id, "flush");
        if (error != 0) {
            throw NbdException.fromErrno(where + ": flush", error);
        }
    }

    void trim(long offset, int length) throws IOException {
        long id = send(CMD_TRIM, 0, offset, length, null);
        int error = awaitReply(id, "trim");
        if (error != 0) {
            throw NbdException.fromErrno(where + ": trim of " + length + " bytes at " + offset, error);
        }
    }

    /** NBD_CMD_DISC, which has no reply, then close: the polite way to leave. */
    void disconnect() {
        try {
            if (!aborted && channel.isOpen() && info != null) {
                send(CMD_DISC, 0, 0, 0, null);
            }
        } catch (IOException ignored) {
            // Leaving anyway.
        } finally {
            close();
        }
    }

    private long send(int type, int flags, long offset, int length, ByteBuffer payload) throws IOException {
        long id = ++cookie;
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
        return id;
    }

    private int awaitReply(long id, String what) throws IOException {
        reply.clear();
        while (reply.hasRemaining()) {
            if (channel.read(reply) < 0) {
                throw new EOFException(where + " closed the connection before answering a " + what);
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
        long cookieBack = reply.getLong();
        if (cookieBack != id) {
            throw new NbdException(where + " answered request " + cookieBack + " while " + id + " was the one pending",
                    false);
        }
        return error;
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
