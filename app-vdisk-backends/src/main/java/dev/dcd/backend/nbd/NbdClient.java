package dev.dcd.backend.nbd;

import java.io.Closeable;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * A thread-safe NBD client for one export: a small pool of pipelined {@link NbdConnection}s, each carrying up to
 * {@link NbdConfig#pipeline()} requests at once (matched to their replies by handle), so that up to
 * {@code connections * pipeline} requests run in parallel, and every request bounded by a deadline. A request goes
 * to the open connection with the fewest in flight; a new connection is opened only when every open one is full, so
 * a burst after a quiet spell does not pay a new connection's handshake round trips when the open ones can carry
 * it. A failed connection (dropped,
 * reset, timed out, out of step) is thrown away and the request retried on a fresh one, with a growing pause,
 * until the deadline; an error the server answers cleanly is retried only when it may pass (EIO), and never
 * costs the connection. Long reads and writes are split into requests of at most
 * {@link NbdConfig#maxRequestBytes()} (and the server's maximum).
 */
public final class NbdClient implements Closeable {
    /** Opens connections; a test substitutes a scripted peer. */
    @FunctionalInterface
    interface Connector {
        NbdConnection connect(int timeoutMillis) throws IOException;
    }

    @FunctionalInterface
    private interface Op<T> {
        T run(NbdConnection connection) throws IOException;
    }

    private final NbdAddress address;
    private final NbdConfig config;
    private final LongSupplier clock;
    private final Connector connector;
    private final Semaphore permits;
    /** Open (or opening) connections, with the requests each carries; guarded by itself. */
    private final java.util.List<Slot> slots = new java.util.ArrayList<>();
    private final ScheduledThreadPoolExecutor watchdog;
    private final AtomicLong connects = new AtomicLong();
    private final AtomicLong retries = new AtomicLong();
    private volatile NbdConnection.ExportInfo info;
    private volatile boolean closed;

    private NbdClient(NbdAddress address, NbdConfig config, LongSupplier clock, Connector connector) {
        this.address = address;
        this.config = config;
        this.clock = clock;
        this.connector = connector;
        this.permits = new Semaphore(config.connections() * config.pipeline(), true);
        this.watchdog = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "dcd-nbd-watchdog");
            t.setDaemon(true);
            return t;
        });
        watchdog.setRemoveOnCancelPolicy(true);
    }

    /** Connects once (within the deadline, retrying) to learn the export's size and flags. */
    public static NbdClient open(NbdAddress address, NbdConfig config) throws IOException {
        return open(address, config, System::nanoTime,
                timeout -> NbdConnection.connect(address, timeout));
    }

    /**
     * One connection attempt and handshake, no retry, within {@link NbdConfig#connectTimeout()}: whether the export
     * answers at all ({@code dcd backend add} asks this first, so a dead server is an answer in seconds rather than
     * after the deadline that lets a running client ride out a server restart). The failure is the attempt's own:
     * a {@link java.net.ConnectException} when refused, a {@link SocketTimeoutException} when nothing answered in
     * time, an {@link NbdException} when the server answered no.
     */
    public static void probe(NbdAddress address, NbdConfig config) throws IOException {
        probe(address, config, System::nanoTime, timeout -> NbdConnection.connect(address, timeout));
    }

    static void probe(NbdAddress address, NbdConfig config, LongSupplier clock, Connector connector) throws IOException {
        try (NbdClient client = new NbdClient(address, config, clock, connector)) {
            client.connect(clock.getAsLong() + config.connectTimeout().toNanos()).disconnect();
        }
    }

    static NbdClient open(NbdAddress address, NbdConfig config, LongSupplier clock, Connector connector) throws IOException {
        NbdClient client = new NbdClient(address, config, clock, connector);
        try {
            client.call("connect", client.deadline(), c -> null);
        } catch (IOException | RuntimeException e) {
            client.close();
            throw e;
        }
        return client;
    }

    public NbdAddress address() {
        return address;
    }

    public NbdConfig config() {
        return config;
    }

    public long size() {
        return info.size();
    }

    public boolean readOnly() {
        return info.readOnly();
    }

    public boolean canFlush() {
        return info.canFlush();
    }

    public boolean canTrim() {
        return info.canTrim();
    }

    /** The server's preferred request granularity (from NBD_INFO_BLOCK_SIZE, 4096 when it did not say). */
    public int preferredBlockSize() {
        return info.preferredBlock();
    }

    /** Connections opened so far (the first one included): more than the pool size means reconnects. */
    public long connectionsOpened() {
        return connects.get();
    }

    /** Attempts that failed and were tried again. */
    public long retries() {
        return retries.get();
    }

    /** The absolute deadline, in this client's clock, one {@link NbdConfig#deadline()} from now. */
    public long deadline() {
        return clock.getAsLong() + config.deadline().toNanos();
    }

    // ---- I/O ------------------------------------------------------------------------------------------------

    /** Reads {@code dst.remaining()} bytes at {@code offset}, retried until {@code deadlineNanos}. */
    public void read(long offset, ByteBuffer dst, long deadlineNanos) throws IOException {
        check(offset, dst.remaining());
        int min = info.minBlock();
        if (min > 1 && (offset % min != 0 || dst.remaining() % min != 0)) {
            long start = offset - offset % min;
            long end = (offset + dst.remaining() + min - 1) / min * min;
            ByteBuffer wide = ByteBuffer.allocate((int) (end - start));
            read(start, wide, deadlineNanos);
            dst.put(wide.flip().position((int) (offset - start)).limit((int) (offset - start) + dst.remaining()));
            return;
        }
        int step = maxRequest();
        while (dst.hasRemaining()) {
            int n = Math.min(step, dst.remaining());
            ByteBuffer piece = dst.slice(dst.position(), n);
            long at = offset;
            call("read of " + n + " bytes at " + at, deadlineNanos, c -> {
                c.read(at, piece.clear());
                return null;
            });
            dst.position(dst.position() + n);
            offset += n;
        }
    }

    public void write(long offset, ByteBuffer src, long deadlineNanos) throws IOException {
        check(offset, src.remaining());
        if (info.readOnly()) {
            throw new NbdException(address + " is read-only", false);
        }
        int step = maxRequest();
        while (src.hasRemaining()) {
            int n = Math.min(step, src.remaining());
            ByteBuffer piece = src.slice(src.position(), n);
            long at = offset;
            call("write of " + n + " bytes at " + at, deadlineNanos, c -> {
                c.write(at, piece.clear(), false);
                return null;
            });
            src.position(src.position() + n);
            offset += n;
        }
    }

    /** Makes every acknowledged write durable; a server without flush support writes through, so it is a no-op. */
    public void flush(long deadlineNanos) throws IOException {
        if (!info.canFlush()) {
            return;
        }
        // A flush covers writes completed on any connection only when the server says so (multi-conn); otherwise
        // every pooled connection is flushed: writes finished before this call sit on those (none is lent out
        // for a write meanwhile: the LUN backend serialises its writers).
        boolean multiConn = (info.flags() & NbdProtocol.TFLAG_CAN_MULTI_CONN) != 0;
        java.util.List<Slot> taken = new java.util.ArrayList<>();
        synchronized (slots) {
            for (Slot slot : slots) {
                if (slot.connection != null && !slot.connection.broken()) {
                    slot.inUse++;
                    taken.add(slot);
                }
            }
        }
        if (multiConn || taken.isEmpty()) {
            for (Slot slot : taken) {
                giveBack(slot);
            }
            call("flush", deadlineNanos, c -> {
                c.flush();
                return null;
            });
            return;
        }
        IOException failure = null;
        for (Slot slot : taken) {
            NbdConnection connection = slot.connection;
            long remaining = deadlineNanos - clock.getAsLong();
            if (failure != null || remaining <= 0) {
                connection.close();
                giveBack(slot);
                if (failure == null) {
                    failure = new IOException(address + ": flush did not finish within the deadline");
                }
                continue;
            }
            ScheduledFuture<?> dog = watchdog.schedule(connection::abort, remaining, TimeUnit.NANOSECONDS);
            try {
                connection.flush();
            } catch (IOException e) {
                // Writes acknowledged on this connection may not be durable, and no other connection can flush
                // them: the flush fails (a put then commits nothing).
                connection.close();
                failure = new IOException(address + ": flush failed: " + describe(e), e);
            } finally {
                dog.cancel(false);
                giveBack(slot);
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    public void trim(long offset, long length, long deadlineNanos) throws IOException {
        check(offset, length);
        if (!info.canTrim()) {
            return;
        }
        long done = 0;
        while (done < length) {
            int n = (int) Math.min(length - done, 1L << 30);
            long at = offset + done;
            call("trim of " + n + " bytes at " + at, deadlineNanos, c -> {
                c.trim(at, n);
                return null;
            });
            done += n;
        }
    }

    private int maxRequest() {
        int step = Math.min(config.maxRequestBytes(), info.maxBlock());
        int min = info.minBlock();
        return Math.max(min, step - step % min);
    }

    private void check(long offset, long length) throws IOException {
        if (closed) {
            throw new IOException(address + ": client is closed");
        }
        if (offset < 0 || length < 0 || offset > info.size() - length) {
            throw new java.io.EOFException("range [" + offset + ", +" + length + ") is outside " + address + " of "
                    + info.size() + " bytes");
        }
    }

    // ---- the one place requests are made safe ---------------------------------------------------------------

    private <T> T call(String what, long deadlineNanos, Op<T> op) throws IOException {
        long start = clock.getAsLong();
        int attempt = 0;
        IOException last = null;
        while (true) {
            if (closed) {
                throw new IOException(address + ": client is closed");
            }
            long remaining = deadlineNanos - clock.getAsLong();
            if (remaining <= 0) {
                throw exhausted(what, attempt, start, last);
            }
            attempt++;
            Slot slot = null;
            NbdConnection connection = null;
            boolean permit = false;
            try {
                permit = permits.tryAcquire(remaining, TimeUnit.NANOSECONDS);
                if (!permit) {
                    throw exhausted(what, attempt, start, last);
                }
                slot = borrow(deadlineNanos);
                connection = slot.connection;
                // The deadline cuts the whole connection (every request on it fails and is retried elsewhere):
                // a server that stopped answering one request is not trusted with the others.
                ScheduledFuture<?> dog = watchdog.schedule(connection::abort,
                        Math.max(1, deadlineNanos - clock.getAsLong()), TimeUnit.NANOSECONDS);
                try {
                    return op.run(connection);
                } finally {
                    dog.cancel(false);
                }
            } catch (NbdException e) {
                if (!(e.answered() && connection != null && !connection.broken())) {
                    dropConnection(slot);
                }
                if (!e.transientError()) {
                    throw e;
                }
                last = e;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException(what + " on " + address + " was interrupted");
            } catch (IOException e) {
                last = connection != null && connection.aborted()
                        ? new IOException("no answer within the deadline") : e;
                dropConnection(slot);
            } finally {
                if (slot != null) {
                    giveBack(slot);
                }
                if (permit) {
                    permits.release();
                }
            }
            retries.incrementAndGet();
            pause(attempt, deadlineNanos);
        }
    }

    private IOException exhausted(String what, int attempts, long start, IOException last) {
        long millis = (clock.getAsLong() - start) / 1_000_000;
        String cause = last == null ? "no connection became free" : describe(last);
        return new IOException(address + ": " + what + " failed after " + attempts + " attempt(s) in " + millis
                + " ms: " + cause, last);
    }

    private static String describe(IOException e) {
        String m = e.getMessage();
        return m == null || m.isBlank() ? e.getClass().getSimpleName() : m;
    }

    private void pause(int attempt, long deadlineNanos) throws IOException {
        long delay = Math.min(config.baseDelay().toNanos() << Math.min(attempt - 1, 20), NbdConfig.MAX_DELAY.toNanos());
        delay = Math.min(delay, deadlineNanos - clock.getAsLong());
        if (delay <= 0) {
            return;
        }
        try {
            // Pacing between attempts against a failing server, not synchronisation: nothing else is awaited.
            TimeUnit.NANOSECONDS.sleep(delay);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting to retry on " + address);
        }
    }

    /** One pooled connection: opened by the first request that needed it; others may queue onto it meanwhile. */
    private static final class Slot {
        final java.util.concurrent.CompletableFuture<NbdConnection> opened = new java.util.concurrent.CompletableFuture<>();
        /** Set once open (guarded by the pool). */
        NbdConnection connection;
        /** Requests that took this slot and have not given it back (guarded by the pool). */
        int inUse;
    }

    /**
     * A connection for one request: the open one with the fewest requests in flight if it has room, else a new one
     * (the caller opens it; requests that come meanwhile may wait for it too), else (only when the pool is at its
     * size, which the permits prevent) the least loaded anyway. The slot is taken: {@link #giveBack} it.
     */
    private Slot borrow(long deadlineNanos) throws IOException, InterruptedException {
        Slot chosen = null;
        boolean open = false;
        synchronized (slots) {
            for (Slot slot : slots) {
                if ((slot.connection == null || !slot.connection.broken())
                        && (chosen == null || slot.inUse < chosen.inUse)) {
                    chosen = slot;
                }
            }
            if ((chosen == null || chosen.inUse >= config.pipeline()) && slots.size() < config.connections()) {
                chosen = new Slot();
                slots.add(chosen);
                open = true;
            }
            if (chosen == null) {
                throw new IOException("no connection is open or may be opened");
            }
            chosen.inUse++;
        }
        if (open) {
            try {
                NbdConnection fresh = connect(deadlineNanos);
                synchronized (slots) {
                    chosen.connection = fresh;
                }
                chosen.opened.complete(fresh);
            } catch (IOException | RuntimeException e) {
                dropConnection(chosen);
                chosen.opened.completeExceptionally(e);
                giveBack(chosen);
                throw e;
            }
            return chosen;
        }
        try {
            chosen.opened.get(Math.max(1, deadlineNanos - clock.getAsLong()), TimeUnit.NANOSECONDS);
            return chosen;
        } catch (java.util.concurrent.ExecutionException e) {
            giveBack(chosen);
            throw e.getCause() instanceof IOException io ? io : new IOException(describeCause(e.getCause()), e.getCause());
        } catch (java.util.concurrent.TimeoutException e) {
            giveBack(chosen);
            throw new IOException("the connection being opened was not ready within the deadline");
        } catch (InterruptedException e) {
            giveBack(chosen);
            throw e;
        }
    }

    private static String describeCause(Throwable t) {
        return t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
    }

    private NbdConnection connect(long deadlineNanos) throws IOException {
        long remaining = deadlineNanos - clock.getAsLong();
        int timeoutMillis = (int) Math.max(1, Math.min(config.connectTimeout().toMillis(), remaining / 1_000_000));
        NbdConnection fresh = connector.connect(timeoutMillis);
        connects.incrementAndGet();
        ScheduledFuture<?> dog = watchdog.schedule(fresh::abort, timeoutMillis, TimeUnit.MILLISECONDS);
        try {
            NbdConnection.ExportInfo learned = fresh.handshake(address.exportName());
            NbdConnection.ExportInfo known = info;
            if (known != null && known.size() != learned.size()) {
                throw new NbdException(address + " changed size from " + known.size() + " to " + learned.size()
                        + " bytes while in use", false);
            }
            info = learned;
            return fresh;
        } catch (IOException | RuntimeException e) {
            fresh.close();
            if (fresh.aborted()) {
                SocketTimeoutException late = new SocketTimeoutException("the handshake did not finish within "
                        + timeoutMillis + " ms");
                late.initCause(e);
                throw late;
            }
            throw e;
        } finally {
            dog.cancel(false);
        }
    }

    /** Takes a failed connection out of the pool so no new request goes to it; it closes when its last one is back. */
    private void dropConnection(Slot slot) {
        if (slot == null) {
            return;
        }
        synchronized (slots) {
            slots.remove(slot);
        }
        if (slot.connection != null) {
            slot.connection.close();
        }
    }

    private void giveBack(Slot slot) {
        NbdConnection leaving = null;
        synchronized (slots) {
            slot.inUse--;
            boolean pooled = slots.contains(slot);
            if (slot.connection != null && (closed || slot.connection.broken()) && pooled) {
                slots.remove(slot);
                pooled = false;
            }
            if (!pooled && slot.inUse == 0) {
                leaving = slot.connection;
            }
        }
        if (leaving != null) {
            leaving.disconnect();
        }
    }

    /** Sends NBD_CMD_DISC on every idle connection and closes them; the others close as their requests end. */
    @Override
    public void close() {
        closed = true;
        java.util.List<NbdConnection> idle = new java.util.ArrayList<>();
        synchronized (slots) {
            for (java.util.Iterator<Slot> it = slots.iterator(); it.hasNext(); ) {
                Slot slot = it.next();
                if (slot.inUse == 0 && slot.connection != null) {
                    idle.add(slot.connection);
                    it.remove();
                }
            }
        }
        for (NbdConnection c : idle) {
            c.disconnect();
        }
        watchdog.shutdownNow();
    }

    /** Requests in flight on each open connection, for tests and figures. */
    public java.util.List<Integer> inFlightPerConnection() {
        synchronized (slots) {
            return slots.stream().map(slot -> slot.connection == null ? 0 : slot.connection.inFlight()).toList();
        }
    }

    @Override
    public String toString() {
        return "NBD " + address;
    }
}
