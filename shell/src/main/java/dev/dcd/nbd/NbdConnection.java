package dev.dcd.nbd;

import dev.dcd.block.ReadOnlyDeviceException;
import dev.dcd.filter.ExtendedBlockDevice;
import dev.dcd.filter.Extent;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

import static dev.dcd.backend.nbd.NbdProtocol.*;
import static dev.dcd.nbd.NbdWire.*;

/**
 * One client: the fixed-newstyle handshake, option haggling, then the transmission phase. In transmission a
 * few workers of this connection (nbdkit's model) each take the next request off the socket under
 * {@link #readLock}, execute it, and write its reply under {@link #writeLock}: requests run concurrently, replies
 * may come back out of order, as the protocol allows, and never interleave. No request crosses threads. A byte
 * budget bounds the payload in flight.
 */
final class NbdConnection {
    /** The client did something after which the stream cannot be trusted: log and hang up. */
    private static final class ProtocolViolation extends Exception {
        ProtocolViolation(String message) {
            super(message);
        }
    }

    private final long id;
    private final SocketChannel channel;
    private final NbdExport export;
    private final int workers;
    private final List<Thread> workerThreads = new ArrayList<>();
    private final CountDownLatch ended = new CountDownLatch(1);
    private final Object readLock = new Object();
    private final Consumer<String> log;
    private final Consumer<NbdConnection> onClose;
    private final WireInput in;
    private final Object writeLock = new Object();
    private final Semaphore budget;
    private final AtomicInteger errorsLogged = new AtomicInteger();
    private final int maxLoggedErrors;
    private final String peer;
    private final ReadBuffers readBuffers;

    private boolean noZeroes;
    private boolean structured;
    private boolean allocationContext;
    private volatile boolean closed;
    private volatile boolean running;
    /** Set under {@link #readLock} once the client sent DISC or hung up: no worker takes another request. */
    private boolean inputEnded;

    NbdConnection(long id, SocketChannel channel, NbdServerConfig config, ReadBuffers readBuffers,
                  Consumer<NbdConnection> onClose) {
        this.id = id;
        this.readBuffers = readBuffers;
        this.channel = channel;
        this.export = config.export();
        this.workers = config.workers();
        this.log = config.log();
        this.onClose = onClose;
        this.in = new WireInput(channel);
        this.budget = new Semaphore(config.inflightBytes());
        this.maxLoggedErrors = config.loggedErrors();
        String p;
        try {
            p = String.valueOf(channel.getRemoteAddress());
        } catch (IOException e) {
            p = "?";
        }
        this.peer = p.isEmpty() || p.equals("null") ? "local" : p;
        try {
            if (channel.getLocalAddress() instanceof java.net.InetSocketAddress) {
                channel.setOption(java.net.StandardSocketOptions.TCP_NODELAY, true);
            }
        } catch (IOException e) {
            // Latency only.
        }
        try {
            // Room for a whole 2 MiB read reply, so a worker hands it to the kernel in one write and goes on.
            channel.setOption(java.net.StandardSocketOptions.SO_SNDBUF, SEND_BUFFER);
        } catch (IOException | UnsupportedOperationException e) {
            // Throughput only.
        }
    }

    /** Socket send buffer asked for: a 2 MiB read (what qemu and nbdcopy send) fits. */
    static final int SEND_BUFFER = 2 << 20;

    void run() {
        running = true;
        try {
            if (negotiate()) {
                transmit();
            }
        } catch (ProtocolViolation | IOException e) {
            logFailure(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            close();
            ended.countDown();
        }
    }

    /** Waits until every worker of this connection has finished (after {@link #close()}, requests in flight). */
    boolean awaitEnd(long millis) throws InterruptedException {
        if (!running && closed) {
            return true; // closed before its thread started (the server was closing): nothing in flight
        }
        return ended.await(millis, java.util.concurrent.TimeUnit.MILLISECONDS);
    }

    /** One worker's loop: take a request, execute it, reply; until the input ends or the connection fails. */
    private void serve(Worker w) {
        try {
            work(w);
        } finally {
            // Every reply this worker sent is written: its buffer can serve the next connection.
            readBuffers.give(w.releaseReadBuffer());
        }
    }

    private void work(Worker w) {
        try {
            while (!closed) {
                Taken t;
                synchronized (readLock) {
                    if (inputEnded || closed) {
                        return;
                    }
                    t = take(w);
                    if (t == null) {
                        inputEnded = true;
                        return;
                    }
                }
                if (t.request() == null) {
                    continue; // refused while reading (an oversized write): answered already
                }
                try {
                    execute(w, t.request(), t.payload());
                } finally {
                    budget.release(t.cost());
                }
            }
        } catch (ProtocolViolation | IOException e) {
            logFailure(e);
        }
        close();
    }

    /** One line for why the connection (or one worker of it) stopped; silent when we closed it or the client left. */
    private void logFailure(Exception e) {
        if (e instanceof ProtocolViolation) {
            logError(e.getMessage() + "; closing the connection");
        } else if (e instanceof EOFException) {
            if (!closed) {
                logError("client hung up in the middle of a message");
            }
        } else if (e instanceof IOException io) {
            if (!closed && !hungUp(io)) {
                logError("connection failed: " + e.getMessage());
            }
        }
    }

    /** The client went away while we wrote: not worth a log line. */
    private static boolean hungUp(IOException e) {
        String m = String.valueOf(e.getMessage());
        return m.contains("Broken pipe") || m.contains("Connection reset");
    }

    void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            channel.close();
        } catch (IOException e) {
            // Closing anyway.
        }
        onClose.accept(this);
    }

    // ------------------------------------------------------------------ handshake

    /** True when the client reached the transmission phase; false when it left during negotiation. */
    private boolean negotiate() throws IOException, ProtocolViolation {
        ByteBuffer hello = ByteBuffer.allocate(18);
        hello.putLong(INIT_MAGIC).putLong(OPT_MAGIC).putShort((short) (FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES)).flip();
        send(hello);
        int clientFlags = in.readInt();
        if ((clientFlags & ~(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES)) != 0) {
            throw new ProtocolViolation("unknown client flags 0x" + Integer.toHexString(clientFlags));
        }
        noZeroes = (clientFlags & FLAG_C_NO_ZEROES) != 0;
        while (true) {
            ByteBuffer magicBytes = ByteBuffer.allocate(8);
            if (!in.readFullyOrEnd(magicBytes)) {
                return false; // hung up between options, e.g. after NBD_OPT_LIST or a refused NBD_OPT_GO
            }
            long magic = magicBytes.getLong(0);
            if (magic != OPT_MAGIC) {
                throw new ProtocolViolation("option without OPT_MAGIC magic (0x" + Long.toHexString(magic) + ")");
            }
            int option = in.readInt();
            long length = Integer.toUnsignedLong(in.readInt());
            if (length > MAX_OPTION) {
                if (length > MAX_PAYLOAD) {
                    throw new ProtocolViolation("option " + option + " of " + length + " bytes");
                }
                in.skip(length);
                logError("option " + option + " of " + length + " bytes refused (limit " + MAX_OPTION + ")");
                optionReply(option, REP_ERR_TOO_BIG, errorText("option too large"));
                continue;
            }
            ByteBuffer data = in.read((int) length);
            switch (option) {
                case OPT_EXPORT_NAME -> {
                    String name = decode(data, data.remaining());
                    if (name == null || !export.answersTo(name)) {
                        // This option has no error reply: the protocol's answer is to hang up.
                        throw new ProtocolViolation("NBD_OPT_EXPORT_NAME for unknown export '" + printable(name) + "'");
                    }
                    ByteBuffer reply = ByteBuffer.allocate(10 + (noZeroes ? 0 : EXPORT_NAME_PADDING));
                    reply.putLong(export.device().size()).putShort((short) transmissionFlags());
                    reply.position(reply.limit()).flip();
                    send(reply);
                    return true;
                }
                case OPT_ABORT -> {
                    optionReply(option, REP_ACK, ByteBuffer.allocate(0));
                    return false;
                }
                case OPT_LIST -> {
                    if (length != 0) {
                        invalid(option, "NBD_OPT_LIST with data");
                        continue;
                    }
                    byte[] name = export.name().getBytes(StandardCharsets.UTF_8);
                    ByteBuffer server = ByteBuffer.allocate(4 + name.length).putInt(name.length).put(name).flip();
                    optionReply(option, REP_SERVER, server);
                    optionReply(option, REP_ACK, ByteBuffer.allocate(0));
                }
                case OPT_INFO, OPT_GO -> {
                    if (infoOrGo(option, data) && option == OPT_GO) {
                        return true;
                    }
                }
                case OPT_STRUCTURED_REPLY -> {
                    if (length != 0) {
                        invalid(option, "NBD_OPT_STRUCTURED_REPLY with data");
                    } else {
                        structured = true;
                        optionReply(option, REP_ACK, ByteBuffer.allocate(0));
                    }
                }
                case OPT_LIST_META_CONTEXT, OPT_SET_META_CONTEXT -> metaContext(option, data);
                default -> optionReply(option, REP_ERR_UNSUP, errorText("option " + option + " is not supported"));
            }
        }
    }

    /** NBD_OPT_INFO and NBD_OPT_GO: name length, name, count of info requests, the requests. */
    private boolean infoOrGo(int option, ByteBuffer data) throws IOException {
        if (data.remaining() < 4) {
            invalid(option, "truncated NBD_OPT_INFO/GO");
            return false;
        }
        long nameLength = Integer.toUnsignedLong(data.getInt());
        if (nameLength > MAX_NAME || nameLength + 2 > data.remaining()) {
            invalid(option, "bad export name length " + nameLength + " in NBD_OPT_INFO/GO");
            return false;
        }
        String name = decode(data, (int) nameLength);
        int requests = Short.toUnsignedInt(data.getShort());
        if (data.remaining() != requests * 2) {
            invalid(option, "NBD_OPT_INFO/GO says " + requests + " info requests but carries " + data.remaining() + " bytes");
            return false;
        }
        if (name == null || !export.answersTo(name)) {
            logError("unknown export '" + printable(name) + "' (this server exports '" + export.name() + "')");
            optionReply(option, REP_ERR_UNKNOWN, errorText("unknown export; this server exports '" + export.name() + "'"));
            return false;
        }
        List<Integer> asked = new ArrayList<>();
        for (int i = 0; i < requests; i++) {
            asked.add(Short.toUnsignedInt(data.getShort()));
        }
        if (asked.contains(INFO_NAME)) {
            byte[] n = export.name().getBytes(StandardCharsets.UTF_8);
            optionReply(option, REP_INFO, ByteBuffer.allocate(2 + n.length).putShort((short) INFO_NAME).put(n).flip());
        }
        if (asked.contains(INFO_DESCRIPTION)) {
            byte[] d = export.description().getBytes(StandardCharsets.UTF_8);
            optionReply(option, REP_INFO, ByteBuffer.allocate(2 + d.length).putShort((short) INFO_DESCRIPTION).put(d).flip());
        }
        if (asked.contains(INFO_BLOCK_SIZE)) {
            optionReply(option, REP_INFO, ByteBuffer.allocate(14).putShort((short) INFO_BLOCK_SIZE)
                    .putInt(MIN_BLOCK).putInt(PREFERRED_BLOCK).putInt(MAX_PAYLOAD).flip());
        }
        optionReply(option, REP_INFO, ByteBuffer.allocate(12).putShort((short) INFO_EXPORT)
                .putLong(export.device().size()).putShort((short) transmissionFlags()).flip());
        optionReply(option, REP_ACK, ByteBuffer.allocate(0));
        return true;
    }

    /** NBD_OPT_LIST/SET_META_CONTEXT: export name, then queries; only base:allocation exists. */
    private void metaContext(int option, ByteBuffer data) throws IOException {
        if (option == OPT_SET_META_CONTEXT && !structured) {
            invalid(option, "NBD_OPT_SET_META_CONTEXT before NBD_OPT_STRUCTURED_REPLY");
            return;
        }
        List<String> queries = new ArrayList<>();
        String name;
        try {
            long nameLength = Integer.toUnsignedLong(data.getInt());
            if (nameLength > MAX_NAME || nameLength > data.remaining()) {
                invalid(option, "bad export name length " + nameLength + " in a meta context option");
                return;
            }
            name = decode(data, (int) nameLength);
            long count = Integer.toUnsignedLong(data.getInt());
            for (long i = 0; i < count; i++) {
                long qLength = Integer.toUnsignedLong(data.getInt());
                if (qLength > MAX_NAME || qLength > data.remaining()) {
                    invalid(option, "bad query length " + qLength + " in a meta context option");
                    return;
                }
                String q = decode(data, (int) qLength);
                if (q == null) {
                    invalid(option, "a meta context query that is not UTF-8");
                    return;
                }
                queries.add(q);
            }
            if (data.hasRemaining()) {
                invalid(option, "trailing bytes in a meta context option");
                return;
            }
        } catch (java.nio.BufferUnderflowException e) {
            invalid(option, "truncated meta context option");
            return;
        }
        if (name == null || !export.answersTo(name)) {
            logError("meta context for unknown export '" + printable(name) + "'");
            optionReply(option, REP_ERR_UNKNOWN, errorText("unknown export; this server exports '" + export.name() + "'"));
            return;
        }
        boolean matched = option == OPT_LIST_META_CONTEXT
                ? queries.isEmpty() || queries.contains("base:") || queries.contains(BASE_ALLOCATION)
                : queries.contains(BASE_ALLOCATION);
        if (option == OPT_SET_META_CONTEXT) {
            allocationContext = matched;
        }
        if (matched) {
            byte[] n = BASE_ALLOCATION.getBytes(StandardCharsets.US_ASCII);
            optionReply(option, REP_META_CONTEXT, ByteBuffer.allocate(4 + n.length).putInt(BASE_ALLOCATION_ID).put(n).flip());
        }
        optionReply(option, REP_ACK, ByteBuffer.allocate(0));
    }

    int transmissionFlags() {
        int flags = TFLAG_HAS_FLAGS | TFLAG_SEND_FLUSH | TFLAG_SEND_FUA | TFLAG_CAN_MULTI_CONN;
        if (export.writable()) {
            flags |= TFLAG_SEND_WRITE_ZEROES;
            if (export.device().capabilities().trim()) {
                flags |= TFLAG_SEND_TRIM;
            }
        } else {
            flags |= TFLAG_READ_ONLY;
        }
        if (structured) {
            flags |= TFLAG_SEND_DF;
        }
        return flags;
    }

    private void invalid(int option, String why) throws IOException {
        logError(why);
        optionReply(option, REP_ERR_INVALID, errorText(why));
    }

    /** magic(8) option(4) reply type(4) length(4) data. */
    private void optionReply(int option, int type, ByteBuffer data) throws IOException {
        ByteBuffer head = ByteBuffer.allocate(20).putLong(OPT_REPLY_MAGIC).putInt(option).putInt(type).putInt(data.remaining()).flip();
        send(head, data);
    }

    private static ByteBuffer errorText(String text) {
        return ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
    }

    /** Strict UTF-8, as the protocol requires of names; null when the bytes are not UTF-8. */
    private static String decode(ByteBuffer data, int length) {
        ByteBuffer slice = data.slice(data.position(), length);
        data.position(data.position() + length);
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(slice).toString();
        } catch (CharacterCodingException e) {
            return null;
        }
    }

    private static String printable(String name) {
        if (name == null) {
            return "(not UTF-8)";
        }
        String s = name.replaceAll("\\p{Cntrl}", "?");
        return s.length() > 80 ? s.substring(0, 80) + "…" : s;
    }

    // ------------------------------------------------------------------ transmission

    /**
     * Runs the workers: this thread is the first, the others are started here; returns when all have ended
     * (DISC or hang-up: after every request in flight was answered).
     */
    private void transmit() throws InterruptedException {
        for (int i = 1; i < workers; i++) {
            Worker w = new Worker(readBuffers);
            Thread t = new Thread(() -> serve(w), Thread.currentThread().getName() + "-w" + i);
            t.setDaemon(true);
            workerThreads.add(t);
            t.start();
        }
        serve(new Worker(readBuffers));
        for (Thread t : workerThreads) {
            t.join();
        }
    }

    /** A request taken off the socket, its WRITE payload, and the budget it holds; request null: answered. */
    private record Taken(Request request, ByteBuffer payload, int cost) {
    }

    /** Called under {@link #readLock}: the next request, or null once the client sent DISC or hung up. */
    private Taken take(Worker w) throws IOException, ProtocolViolation {
        ByteBuffer header = w.header.clear();
        if (!in.readFullyOrEnd(header)) {
            return null; // hung up between requests: many clients end so rather than with NBD_CMD_DISC
        }
        header.flip();
        int magic = header.getInt();
        if (magic != REQUEST_MAGIC) {
            throw new ProtocolViolation("request without the request magic (0x" + Integer.toHexString(magic) + ")");
        }
        Request r = new Request(Short.toUnsignedInt(header.getShort()), Short.toUnsignedInt(header.getShort()),
                header.getLong(), header.getLong(), Integer.toUnsignedLong(header.getInt()));
        if (r.type == CMD_DISC) {
            return null; // the protocol has no reply to DISC; the others finish what they hold
        }
        int cost = r.type == CMD_READ || r.type == CMD_WRITE ? (int) Math.min(Math.max(r.length, 1), MAX_PAYLOAD) : 1;
        ByteBuffer payload = null;
        if (r.type == CMD_WRITE) {
            if (r.length > MAX_PAYLOAD) {
                if (r.length > 2L * MAX_PAYLOAD) {
                    throw new ProtocolViolation("NBD_CMD_WRITE of " + r.length + " bytes");
                }
                in.skip(r.length);
                fail(r, EINVAL, "NBD_CMD_WRITE of " + r.length + " bytes is over the limit of " + MAX_PAYLOAD);
                return new Taken(null, null, 0);
            }
            budget.acquireUninterruptibly(cost);
            try {
                payload = in.read((int) r.length);
            } catch (IOException | RuntimeException e) {
                budget.release(cost);
                throw e;
            }
        } else {
            budget.acquireUninterruptibly(cost);
        }
        return new Taken(r, payload, cost);
    }

    private record Request(int flags, int type, long cookie, long offset, long length) {
    }

    /** Runs on a worker: performs one request and sends its reply; a failure ends only this connection. */
    private void execute(Worker w, Request r, ByteBuffer payload) {
        try {
            switch (r.type) {
                case CMD_READ -> read(w, r);
                case CMD_WRITE -> write(r, payload);
                case CMD_FLUSH -> {
                    export.device().flush();
                    ok(r);
                }
                case CMD_TRIM -> trim(r);
                case CMD_WRITE_ZEROES -> zero(r);
                case CMD_BLOCK_STATUS -> blockStatus(r);
                default -> fail(r, EINVAL, "unknown command " + r.type);
            }
        } catch (IOException e) {
            if (!closed) {
                logError("cannot reply: " + e.getMessage());
                close();
            }
        } catch (RuntimeException e) {
            logError("request " + r.type + " failed: " + e);
            close();
        }
    }

    private boolean inRange(Request r) {
        long size = export.device().size();
        return r.offset >= 0 && r.offset <= size && r.length <= size - r.offset;
    }

    private void read(Worker w, Request r) throws IOException {
        if (r.length > MAX_PAYLOAD) {
            fail(r, (r.flags & CMD_FLAG_DF) != 0 ? EOVERFLOW : EINVAL,
                    "NBD_CMD_READ of " + r.length + " bytes is over the limit of " + MAX_PAYLOAD);
            return;
        }
        if (!inRange(r)) {
            fail(r, EINVAL, "NBD_CMD_READ past the end: offset " + r.offset + " length " + r.length
                    + ", size " + export.device().size());
            return;
        }
        if (r.length == 0) {
            ok(r); // an OFFSET_DATA chunk may not be empty
            return;
        }
        ByteBuffer data = w.readBuffer((int) r.length);
        int segments;
        try {
            segments = structured ? w.segment(export.device().extents(r.offset, r.length), r.offset,
                    (r.flags & CMD_FLAG_DF) != 0) : w.oneSegment(r.offset, r.length);
            for (int i = 0; i < segments; i++) {
                if (!w.hole[i]) {
                    int at = (int) (w.segOffset[i] - r.offset);
                    data.limit(at + w.segLength[i]).position(at);
                    export.device().read(w.segOffset[i], data);
                }
            }
        } catch (IOException | RuntimeException e) {
            fail(r, errno(e), "read at " + r.offset + " +" + r.length + ": " + e.getMessage());
            return;
        }
        if (!structured) {
            w.gather[0] = simpleHeader(w.head(), 0, r.cookie).flip();
            w.gather[1] = data.limit((int) r.length).position(0);
            send(w.gather, 2);
            return;
        }
        if (segments == 1 && !w.hole[0]) {
            // The common case, without a slice: header, offset, then the bytes straight from the read buffer.
            ByteBuffer head = structuredHeader(w.head(), REPLY_FLAG_DONE, REPLY_TYPE_OFFSET_DATA, r.cookie,
                    8 + (int) r.length).putLong(r.offset).flip();
            w.gather[0] = head;
            w.gather[1] = data.limit((int) r.length).position(0);
            send(w.gather, 2);
            return;
        }
        // One chunk per segment: OFFSET_DATA with the bytes, or OFFSET_HOLE with just the length; the last is DONE.
        ByteBuffer heads = w.chunkHeads.clear();
        int n = 0;
        for (int i = 0; i < segments; i++) {
            int flags = i == segments - 1 ? REPLY_FLAG_DONE : 0;
            int start = heads.position();
            if (w.hole[i]) {
                structuredHeader(heads, flags, REPLY_TYPE_OFFSET_HOLE, r.cookie, 12);
                heads.putLong(w.segOffset[i]).putInt(w.segLength[i]);
                w.gather[n++] = heads.slice(start, heads.position() - start);
            } else {
                structuredHeader(heads, flags, REPLY_TYPE_OFFSET_DATA, r.cookie, 8 + w.segLength[i]);
                heads.putLong(w.segOffset[i]);
                w.gather[n++] = heads.slice(start, heads.position() - start);
                int at = (int) (w.segOffset[i] - r.offset);
                w.gather[n++] = data.limit(at + w.segLength[i]).position(at).slice();
            }
        }
        send(w.gather, n);
    }

    /** Zero runs shorter than this go out as data: a hole chunk costs a header, a syscall slice and the client's memset. */
    static final int MIN_HOLE_CHUNK = 4096;
    /** At most this many chunks per read; a read more fragmented than that goes out as one data chunk. */
    static final int MAX_CHUNKS = 32;
    /** Reads up to this size reuse a direct buffer of the worker: no garbage, and no copy into the socket. */
    private static final int REUSED_READ_BUFFER = ReadBuffers.CAPACITY;

    /**
     * The state one worker reuses from request to request, so that a read allocates nothing on its way:
     * the request header, the read buffer, the reply headers and the gather array.
     */
    private static final class Worker {
        final ByteBuffer header = ByteBuffer.allocate(REQUEST_SIZE);
        /** Room for every chunk header of one read: 20-byte header, offset u64, hole length u32. */
        final ByteBuffer chunkHeads = ByteBuffer.allocateDirect(MAX_CHUNKS * (STRUCTURED_REPLY_SIZE + 12));
        final ByteBuffer[] gather = new ByteBuffer[2 * MAX_CHUNKS];
        final long[] segOffset = new long[MAX_CHUNKS];
        final int[] segLength = new int[MAX_CHUNKS];
        final boolean[] hole = new boolean[MAX_CHUNKS];
        private final ReadBuffers pool;
        /** Borrowed from the server's pool on the first read, given back when the worker ends. */
        private ByteBuffer readBuffer;

        Worker(ReadBuffers pool) {
            this.pool = pool;
        }

        /** A buffer of {@code length} bytes at position 0; the reply is sent before the worker takes another request. */
        ByteBuffer readBuffer(int length) {
            if (length > REUSED_READ_BUFFER) {
                return ByteBuffer.allocate(length);
            }
            if (readBuffer == null) {
                readBuffer = pool.take();
            }
            return readBuffer.clear().limit(length);
        }

        /** The borrowed buffer (null if none) for the pool; this worker reads no more. */
        ByteBuffer releaseReadBuffer() {
            ByteBuffer b = readBuffer;
            readBuffer = null;
            return b;
        }

        ByteBuffer head() {
            return chunkHeads.clear();
        }

        int oneSegment(long offset, long length) {
            segOffset[0] = offset;
            segLength[0] = (int) length;
            hole[0] = false;
            return 1;
        }

        /**
         * Splits a read at its zero extents: short zero runs join the data around them; with DF (one chunk
         * only) or too many pieces, the read is one data chunk, unless it is all zeros.
         */
        int segment(List<Extent> extents, long offset, boolean dontFragment) {
            int n = 0;
            for (Extent e : extents) {
                boolean zero = e.readsZero() && e.length() >= MIN_HOLE_CHUNK;
                if (n > 0 && hole[n - 1] == zero) {
                    segLength[n - 1] += (int) e.length();
                    continue;
                }
                if (n == MAX_CHUNKS) {
                    return oneSegment(offset, sum(extents));
                }
                segOffset[n] = e.offset();
                segLength[n] = (int) e.length();
                hole[n] = zero;
                n++;
            }
            if (n > 1 && dontFragment) {
                return oneSegment(offset, sum(extents));
            }
            return n;
        }

        private static long sum(List<Extent> extents) {
            long total = 0;
            for (Extent e : extents) {
                total += e.length();
            }
            return total;
        }
    }

    private void write(Request r, ByteBuffer payload) throws IOException {
        if (!export.writable()) {
            fail(r, EPERM, "NBD_CMD_WRITE to a read-only export");
            return;
        }
        if (!inRange(r)) {
            fail(r, ENOSPC, "NBD_CMD_WRITE past the end: offset " + r.offset + " length " + r.length);
            return;
        }
        try {
            export.device().write(r.offset, payload);
            if ((r.flags & CMD_FLAG_FUA) != 0) {
                export.device().flush();
            }
        } catch (IOException | RuntimeException e) {
            fail(r, errno(e), "write at " + r.offset + " +" + r.length + ": " + e.getMessage());
            return;
        }
        ok(r);
    }

    private void trim(Request r) throws IOException {
        if (!export.writable()) {
            fail(r, EPERM, "NBD_CMD_TRIM on a read-only export");
            return;
        }
        if (!inRange(r)) {
            fail(r, ENOSPC, "NBD_CMD_TRIM past the end: offset " + r.offset + " length " + r.length);
            return;
        }
        try {
            if (export.device().capabilities().trim()) {
                export.device().trim(r.offset, r.length);
            }
            if ((r.flags & CMD_FLAG_FUA) != 0) {
                export.device().flush();
            }
        } catch (IOException | RuntimeException e) {
            fail(r, errno(e), "trim at " + r.offset + " +" + r.length + ": " + e.getMessage());
            return;
        }
        ok(r);
    }

    private void zero(Request r) throws IOException {
        if (!export.writable()) {
            fail(r, EPERM, "NBD_CMD_WRITE_ZEROES on a read-only export");
            return;
        }
        if (!inRange(r)) {
            fail(r, ENOSPC, "NBD_CMD_WRITE_ZEROES past the end: offset " + r.offset + " length " + r.length);
            return;
        }
        if ((r.flags & CMD_FLAG_FAST_ZERO) != 0) {
            // Not advertised; a client that asks anyway learns zeroing is not faster than writing.
            fail(r, ENOTSUP, "NBD_CMD_FLAG_FAST_ZERO is not supported");
            return;
        }
        try {
            ExtendedBlockDevice device = export.device();
            if (device.capabilities().zero()) {
                device.zero(r.offset, r.length);
            } else {
                long pos = r.offset;
                long end = r.offset + r.length;
                ByteBuffer zeros = ByteBuffer.allocate((int) Math.min(r.length, 1 << 20));
                while (pos < end) {
                    zeros.clear().limit((int) Math.min(zeros.capacity(), end - pos));
                    device.write(pos, zeros);
                    pos += zeros.limit();
                }
            }
            if ((r.flags & CMD_FLAG_FUA) != 0) {
                device.flush();
            }
        } catch (IOException | RuntimeException e) {
            fail(r, errno(e), "write zeroes at " + r.offset + " +" + r.length + ": " + e.getMessage());
            return;
        }
        ok(r);
    }

    /** One BLOCK_STATUS chunk for base:allocation: context id, then (length, flags) pairs. */
    private void blockStatus(Request r) throws IOException {
        if (!structured || !allocationContext) {
            fail(r, EINVAL, "NBD_CMD_BLOCK_STATUS without the base:allocation context negotiated");
            return;
        }
        long size = export.device().size();
        if (r.length == 0 || r.offset < 0 || r.offset >= size) {
            fail(r, EINVAL, "NBD_CMD_BLOCK_STATUS outside the export: offset " + r.offset + " length " + r.length);
            return;
        }
        long length = Math.min(r.length, size - r.offset);
        List<Extent> extents;
        try {
            extents = export.device().extents(r.offset, length);
        } catch (IOException | RuntimeException e) {
            fail(r, errno(e), "block status at " + r.offset + " +" + length + ": " + e.getMessage());
            return;
        }
        int count = (r.flags & CMD_FLAG_REQ_ONE) != 0 ? Math.min(1, extents.size()) : extents.size();
        ByteBuffer body = ByteBuffer.allocate(4 + 8 * count).putInt(BASE_ALLOCATION_ID);
        for (int i = 0; i < count; i++) {
            Extent e = extents.get(i);
            int state = switch (e.type()) {
                case DATA -> 0;
                case ZERO -> STATE_ZERO;
                case HOLE -> STATE_HOLE | STATE_ZERO;
            };
            body.putInt((int) e.length()).putInt(state);
        }
        body.flip();
        send(structuredHeader(REPLY_FLAG_DONE, REPLY_TYPE_BLOCK_STATUS, r.cookie, body.remaining()), body);
    }

    private static int errno(Throwable e) {
        if (e instanceof ReadOnlyDeviceException) {
            return EPERM;
        }
        if (e instanceof EOFException) {
            return EINVAL;
        }
        if (e instanceof UnsupportedOperationException) {
            return ENOTSUP;
        }
        return EIO;
    }

    private void ok(Request r) throws IOException {
        if (structured) {
            send(structuredHeader(REPLY_FLAG_DONE, REPLY_TYPE_NONE, r.cookie, 0));
        } else {
            send(simpleHeader(0, r.cookie));
        }
    }

    /** The protocol's error for this request, and one log line; the connection carries on. */
    private void fail(Request r, int errno, String why) throws IOException {
        logError(why + " (errno " + errno + ")");
        if (structured) {
            byte[] message = why.getBytes(StandardCharsets.UTF_8);
            int n = Math.min(message.length, 4096);
            ByteBuffer body = ByteBuffer.allocate(6 + n).putInt(errno).putShort((short) n).put(message, 0, n).flip();
            send(structuredHeader(REPLY_FLAG_DONE, REPLY_TYPE_ERROR, r.cookie, body.remaining()), body);
        } else {
            send(simpleHeader(errno, r.cookie));
        }
    }

    private static ByteBuffer simpleHeader(int error, long cookie) {
        return simpleHeader(ByteBuffer.allocate(SIMPLE_REPLY_SIZE), error, cookie).flip();
    }

    private static ByteBuffer simpleHeader(ByteBuffer into, int error, long cookie) {
        return into.putInt(SIMPLE_REPLY_MAGIC).putInt(error).putLong(cookie);
    }

    private static ByteBuffer structuredHeader(int flags, int type, long cookie, int length) {
        return structuredHeader(ByteBuffer.allocate(STRUCTURED_REPLY_SIZE), flags, type, cookie, length).flip();
    }

    private static ByteBuffer structuredHeader(ByteBuffer into, int flags, int type, long cookie, int length) {
        return into.putInt(STRUCTURED_REPLY_MAGIC).putShort((short) flags).putShort((short) type).putLong(cookie)
                .putInt(length);
    }

    /** Writes the first {@code count} buffers as one reply, uninterrupted by other workers' replies. */
    private void send(ByteBuffer[] buffers, int count) throws IOException {
        synchronized (writeLock) {
            long remaining = 0;
            for (int i = 0; i < count; i++) {
                remaining += buffers[i].remaining();
            }
            while (remaining > 0) {
                remaining -= channel.write(buffers, 0, count);
            }
        }
    }

    private void send(ByteBuffer... buffers) throws IOException {
        synchronized (writeLock) {
            long remaining = 0;
            for (ByteBuffer b : buffers) {
                remaining += b.remaining();
            }
            while (remaining > 0) {
                remaining -= channel.write(buffers);
            }
        }
    }

    private void logError(String message) {
        int n = errorsLogged.incrementAndGet();
        if (n <= maxLoggedErrors) {
            log.accept("nbd: connection " + id + " (" + peer + "): " + message);
        } else if (n == maxLoggedErrors + 1) {
            log.accept("nbd: connection " + id + " (" + peer + "): more errors; no longer logging them");
        }
    }
}
