package dev.dcd.backend.nbd;

import java.io.Closeable;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * A thread-safe NBD client for one export: a small pool of {@link NbdConnection}s, so that as many requests as
 * there are connections run in parallel, and every request bounded by a deadline. A failed connection (dropped,
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
    private final ConcurrentLinkedDeque<NbdConnection> idle = new ConcurrentLinkedDeque<>();
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
        this.permits = new Semaphore(config.connections(), true);
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
        if (multiConn || idle.isEmpty()) {
            call("flush", deadlineNanos, c -> {
                c.flush();
                return null;
            });
            return;
        }
        java.util.List<NbdConnection> taken = new java.util.ArrayList<>();
        NbdConnection c;
        while ((c = idle.pollFirst()) != null) {
            taken.add(c);
        }
        IOException failure = null;
        for (NbdConnection connection : taken) {
            long remaining = deadlineNanos - clock.getAsLong();
            if (failure != null || remaining <= 0) {
                connection.close();
                if (failure == null) {
                    failure = new IOException(address + ": flush did not finish within the deadline");
                }
                continue;
            }
            ScheduledFuture<?> dog = watchdog.schedule(connection::abort, remaining, TimeUnit.NANOSECONDS);
            try {
                connection.flush();
                giveBack(connection);
            } catch (IOException e) {
                // Writes acknowledged on this connection may not be durable, and no other connection can flush
                // them: the flush fails (a put then commits nothing).
                connection.close();
                failure = new IOException(address + ": flush failed: " + describe(e), e);
            } finally {
                dog.cancel(false);
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
            NbdConnection connection = null;
            boolean permit = false;
            try {
                permit = permits.tryAcquire(remaining, TimeUnit.NANOSECONDS);
                if (!permit) {
                    throw exhausted(what, attempt, start, last);
                }
                connection = borrow(deadlineNanos);
                ScheduledFuture<?> dog = watchdog.schedule(connection::abort,
                        Math.max(1, deadlineNanos - clock.getAsLong()), TimeUnit.NANOSECONDS);
                try {
                    T result = op.run(connection);
                    giveBack(connection);
                    connection = null;
                    return result;
                } finally {
                    dog.cancel(false);
                }
            } catch (NbdException e) {
                if (e.answered() && connection != null && !connection.aborted()) {
                    giveBack(connection);
                    connection = null;
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
            } finally {
                if (connection != null) {
                    connection.close();
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

    private NbdConnection borrow(long deadlineNanos) throws IOException {
        NbdConnection pooled = idle.pollFirst();
        if (pooled != null) {
            return pooled;
        }
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
                throw new IOException("the handshake did not finish within " + timeoutMillis + " ms", e);
            }
            throw e;
        } finally {
            dog.cancel(false);
        }
    }

    private void giveBack(NbdConnection connection) {
        if (closed || connection.aborted()) {
            connection.disconnect();
        } else {
            idle.addFirst(connection);
        }
    }

    /** Sends NBD_CMD_DISC on every idle connection and closes them; requests in flight fail. */
    @Override
    public void close() {
        closed = true;
        NbdConnection c;
        while ((c = idle.pollFirst()) != null) {
            c.disconnect();
        }
        watchdog.shutdownNow();
    }

    @Override
    public String toString() {
        return "NBD " + address;
    }
}
