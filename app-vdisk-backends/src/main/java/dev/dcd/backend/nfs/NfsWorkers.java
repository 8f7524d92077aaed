package dev.dcd.backend.nfs;

import dev.dcd.backend.BackendException;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongSupplier;

/**
 * The threads that talk NFS for one backend, each with its own {@link NfsSession} (libnfs contexts are
 * per-thread), and the one place calls are made safe: every call runs on a worker, is retried with backoff
 * on a fresh session while the failure may pass (connection lost, timeout, server restarting), and its caller
 * waits no longer than the deadline. A worker waiting on a hung server gives up at the call's deadline (or when its
 * caller cancels it) and destroys its session; a session is only ever used and destroyed by the worker that owns it.
 */
final class NfsWorkers implements AutoCloseable {
    private static final long MIN_BACKOFF_NANOS = TimeUnit.MILLISECONDS.toNanos(50);
    private static final long MAX_BACKOFF_NANOS = TimeUnit.SECONDS.toNanos(1);
    /**
     * How long a caller waits while the server is known not to answer (a call gave up at its deadline and none has
     * succeeded since). One failed read otherwise costs a deadline per request: the kernel follows a failed
     * readahead with a synchronous read of the same page, the chain a failed prefetch with the reader's own fetch,
     * so an unanswered file would take two or more deadlines to fail. The calls still run to their own deadline in
     * the background, and the first that succeeds ends this state.
     */
    static final long FAIL_FAST_NANOS = TimeUnit.SECONDS.toNanos(1);

    /** A worker's I/O buffer: room for the READs it keeps in flight on its connection. */
    static final int BUFFER_BYTES = NfsSession.MAX_IO * NfsSession.MAX_READS_IN_FLIGHT;

    /** What a worker runs with its session. */
    @FunctionalInterface
    interface Call<T> {
        T run(NfsSession session, ByteBuffer buffer) throws IOException;
    }

    private final String backend;
    private final NfsConfig config;
    private final LibNfs lib;
    private final LongSupplier clock;
    private final ThreadPoolExecutor pool;
    /** What each worker prepares as it starts, once {@link #connectAll} has been called; null before. */
    private volatile Warmup warmup;
    private final AtomicBoolean started = new AtomicBoolean();
    /** Workers whose session was connected (and the file looked up) before their first call. */
    private final AtomicInteger connectedEarly = new AtomicInteger();
    /** The shortest single round trip seen (a LOOKUP as a worker starts, half a stat at open); MAX_VALUE before. */
    private final java.util.concurrent.atomic.AtomicLong fastestTurn = new java.util.concurrent.atomic.AtomicLong(Long.MAX_VALUE);
    /** {@link #now()} when a call last gave up at its deadline with none succeeding since; 0 while calls succeed. */
    private volatile long unansweredSince;
    /** The last failure a retry loop saw, so a caller that stops waiting can say why the server did not answer. */
    private volatile String lastFailure;

    NfsWorkers(String backend, NfsConfig config, LibNfs lib, int threads, LongSupplier clock) {
        this.backend = backend;
        this.config = config;
        this.lib = lib;
        this.clock = clock;
        AtomicInteger n = new AtomicInteger();
        this.pool = new ThreadPoolExecutor(threads, threads, 0, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
                r -> new Worker(r, "dcd-nfs-" + backend + "-" + n.incrementAndGet()));
    }

    /** The file a worker looks up as it starts, and when it stops trying. */
    private record Warmup(String path, long deadlineNanos) {
    }

    /**
     * Starts every worker now, each connecting its own session and looking up {@code path} at once, all in
     * parallel, instead of each on its first call. A connect is several round trips (MOUNT, then the NFS
     * handshake), so at 20 ms per request a worker met for the first time in the middle of a read cost that read
     * 100-250 ms, and a readahead ramp that hands each new window to a new worker paid it once per window, one
     * after the other (docs/nfs-backend.md). Idempotent; only the first call starts anything. A worker that
     * cannot connect here (server down, export refused, {@code deadlineNanos} passed) leaves it to its first call,
     * which retries within that call's deadline and reports the failure in one line; nothing here throws.
     */
    void connectAll(String path, long deadlineNanos) {
        if (started.compareAndSet(false, true)) {
            warmup = new Warmup(path, deadlineNanos);
            pool.prestartAllCoreThreads();
        }
    }

    int threads() {
        return pool.getCorePoolSize();
    }

    /**
     * Runs on {@code threads} workers from now on. Fewer: the ones beyond stop when next idle, destroying their
     * sessions; more: started on demand (connecting on their first call).
     */
    synchronized void resize(int threads) {
        if (threads == pool.getCorePoolSize()) {
            return;
        }
        if (threads < pool.getCorePoolSize()) {
            pool.setCorePoolSize(threads);
            pool.setMaximumPoolSize(threads);
        } else {
            pool.setMaximumPoolSize(threads);
            pool.setCorePoolSize(threads);
        }
    }

    /** Records one round trip's time; the fastest of them says how far away the server is (see NfsBackend). */
    void noteTurn(long nanos) {
        fastestTurn.accumulateAndGet(Math.max(0, nanos), Math::min);
    }

    long fastestTurn() {
        return fastestTurn.get();
    }

    /** Workers that had connected before their first call (tests, benchmarks). */
    int connectedEarly() {
        return connectedEarly.get();
    }

    long now() {
        return clock.getAsLong();
    }

    long deadlineAfter(long millis) {
        return now() + TimeUnit.MILLISECONDS.toNanos(millis);
    }

    /** A worker thread and the session and I/O buffer it owns; both die with the thread. */
    private final class Worker extends Thread {
        private NfsSession session;
        private ByteBuffer buffer;

        Worker(Runnable r, String name) {
            super(null, r, name);
            setDaemon(true);
        }

        NfsSession session() throws IOException {
            if (session == null) {
                session = NfsSession.connect(lib, config);
            }
            return session;
        }

        ByteBuffer buffer() {
            if (buffer == null) {
                buffer = ByteBuffer.allocateDirect(BUFFER_BYTES);
            }
            return buffer;
        }

        /** A session whose last wait ended without its reply has a call still queued: never reuse it. */
        void discardIfBroken() {
            if (session != null && session.broken() != null) {
                discard();
            }
        }

        /** Destroys the session: only ever here, on the thread that owns it, and once (it is forgotten). */
        void discard() {
            if (session != null) {
                session.close();
                session = null;
            }
        }

        /** See {@link #connectAll}: connect and look the file up before taking the first call. */
        private void warmUp() {
            Warmup w = warmup;
            if (w == null || now() - w.deadlineNanos() >= 0) {
                return;
            }
            try {
                // nfs_mount is synchronous, bounded by libnfs's timeout, which is the configured deadline.
                NfsSession s = session();
                s.deadline(clock, w.deadlineNanos());
                long lookup = now();
                s.prepare(w.path());
                noteTurn(now() - lookup);
                connectedEarly.incrementAndGet();
            } catch (IOException e) {
                // The first call connects again (or finds the file missing) and reports it.
                discardIfBroken();
            }
        }

        @Override
        public void run() {
            try {
                warmUp();
                super.run();
            } finally {
                discard();
            }
        }
    }

    /** Starts {@code call} on a worker; it retries until {@code deadlineNanos}. Wait with {@link #await}. */
    <T> Future<T> submit(String object, String what, long deadlineNanos, Call<T> call) throws IOException {
        try {
            return pool.submit(() -> runWithRetries(object, what, deadlineNanos, call));
        } catch (RejectedExecutionException e) {
            throw new BackendException(backend, object, "backend is closed");
        }
    }

    /** Runs {@code call} on a worker and waits for it, until the deadline at the latest. */
    <T> T call(String object, String what, long deadlineNanos, Call<T> call) throws IOException {
        return await(object, what, deadlineNanos, submit(object, what, deadlineNanos, call));
    }

    <T> T await(String object, String what, long deadlineNanos, Future<T> future) throws IOException {
        long start = now();
        long down = unansweredSince;
        try {
            long wait = deadlineNanos - start;
            if (down != 0) {
                wait = Math.min(wait, FAIL_FAST_NANOS);
            }
            return future.get(Math.max(0, wait), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            if (down != 0 && now() < deadlineNanos) {
                // Left running: if it gets through, the server is back and callers wait their full deadline again.
                throw new BackendException(backend, object, what + " failed at once: the server at " + config.host()
                        + " has not answered for " + millis(now() - down) + " ms" + lastFailure());
            }
            future.cancel(true);
            if (unansweredSince == 0) {
                unansweredSince = Math.max(1, now());
            }
            throw new BackendException(backend, object, what + " gave up after " + millis(now() - start)
                    + " ms: the server at " + config.host() + " did not answer in time" + lastFailure());
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof BackendException b) {
                throw b;
            }
            if (cause instanceof IOException io) {
                throw new BackendException(backend, object, what + " failed: " + io.getMessage(), io);
            }
            throw new BackendException(backend, object, what + " failed: " + cause, cause);
        } catch (CancellationException e) {
            throw new BackendException(backend, object, what + " was cancelled");
        } catch (InterruptedException e) {
            future.cancel(true);
            Thread.currentThread().interrupt();
            throw new InterruptedIOException(what + " of " + object + " on backend '" + backend + "' was interrupted");
        }
    }

    private String lastFailure() {
        String last = lastFailure;
        return last == null ? "" : " (last error: " + last + ")";
    }

    /** True while calls fail fast because the server has not answered since a call gave up at its deadline. */
    boolean unanswered() {
        return unansweredSince != 0;
    }

    private <T> T runWithRetries(String object, String what, long deadlineNanos, Call<T> call) throws IOException {
        Worker worker = (Worker) Thread.currentThread();
        long start = now();
        long backoff = MIN_BACKOFF_NANOS;
        int attempts = 0;
        IOException last = null;
        while (true) {
            if (now() >= deadlineNanos || Thread.currentThread().isInterrupted()) {
                throw new BackendException(backend, object, what + " gave up after " + millis(now() - start) + " ms and "
                        + attempts + " attempt" + (attempts == 1 ? "" : "s") + (last == null ? "" : ": " + last.getMessage()));
            }
            attempts++;
            try {
                NfsSession session = worker.session();
                session.deadline(clock, deadlineNanos);
                T result = call.run(session, worker.buffer());
                unansweredSince = 0;
                lastFailure = null;
                return result;
            } catch (NfsSession.NfsError e) {
                if (e.permanent()) {
                    unansweredSince = 0;
                    worker.discardIfBroken();
                    throw e;
                }
                // The session may be broken (connection lost, a reply timed out): never trust it again.
                worker.discard();
                last = e;
                lastFailure = e.getMessage();
            } catch (BackendException e) {
                // Raised after the server answered (a chunk failed its checksum, a header is wrong): it is there.
                unansweredSince = 0;
                worker.discardIfBroken();
                throw e;
            }
            long pause = Math.min(backoff, deadlineNanos - now());
            if (pause > 0) {
                try {
                    TimeUnit.NANOSECONDS.sleep(pause);
                } catch (InterruptedException e) {
                    throw new InterruptedIOException(what + " of " + object + " was abandoned");
                }
            }
            backoff = Math.min(MAX_BACKOFF_NANOS, backoff * 2);
        }
    }

    private static long millis(long nanos) {
        return TimeUnit.NANOSECONDS.toMillis(nanos);
    }

    @Override
    public void close() {
        pool.shutdownNow();
        try {
            pool.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
