package dev.dcd.filter;

import dev.dcd.synth.RegionMap;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/**
 * Detects sequential reads inside one app-data region (one file's extent) and prefetches ahead of them on a
 * small executor, with a window that doubles from {@code minWindow} to {@code maxWindow}. Prefetches never
 * cross the extent, so reading one file does not drag in its neighbours.
 *
 * <p>A foreground read never queues behind unrelated prefetches: it waits only for a prefetch that covers
 * its own range and is already running; a covering prefetch still queued is cancelled and the read goes
 * straight down the chain. Everything below is read-only, so prefetched bytes never go stale.
 *
 * <p><b>Latency.</b> A reader that has to wait for a running prefetch of its stream shows that the backend
 * answers more slowly than the reader consumes: over a network, every window costs a round trip before its
 * first byte, and two windows in flight cannot hide it. Such a stream, when it prefetches into the shared
 * cache, turns <i>deep</i>: its window grows fourfold per prefetch instead of twofold (16 MiB after three
 * prefetches instead of seven, so the ramp costs three round trips, not seven) and up to
 * {@link ReadaheadConfig#slowDepth()} prefetches stay in flight, topped up on every read. A stream whose
 * prefetches always arrive before its reader stays as it was: two windows, doubling.
 *
 * <p>Waiting is a late signal: by the time a reader has waited, the stream has spent two or three round trips on
 * small windows. So the filter also measures each vdisk's time to first byte ({@link #latencyNanos(int)}: reads
 * that went to the backend, and the first arrival of every cache fill), and on a vdisk that answers no faster than
 * {@link ReadaheadConfig#slowLatency()} a stream turns deep on its second read, with windows of latency times
 * {@link ReadaheadConfig#slowRate()} (see {@link ReadaheadConfig}). Its first prefetches then already carry what a
 * round trip must cover; its third read on, the reader is fed from windows under way.
 */
final class ReadaheadFilter extends Filter {
    private static final int QUEUED = 0;
    private static final int RUNNING = 1;
    private static final int DONE = 2;
    private static final int FAILED = 3;
    private static final int CANCELLED = 4;
    private static final int PER_STREAM = 2;
    /** Window growth per prefetch of a stream whose reader waited (see the class comment), and of any other. */
    private static final int SLOW_GROWTH = 4;
    private static final int GROWTH = 2;
    /** Windows are whole cache chunks, so a fill never asks for part of one. */
    private static final int WINDOW_UNIT = 64 * 1024;
    /** Weight of the newest latency sample in a vdisk's estimate (1/4): a single outlier moves it only so far. */
    private static final int LATENCY_SMOOTHING = 4;

    private final RegionMap map;
    private final Residency residency;
    private final Filler filler;
    final LongAdder skipped = new LongAdder();
    /** Whether reads of vdisk i are prefetched; asked on every read, since an app can move to another backend. */
    private final java.util.function.IntPredicate vdisks;
    private final ReadaheadConfig config;
    private final ExecutorService executor;
    private final Stream[] streams;
    private final ArrayDeque<ByteBuffer> pool = new ArrayDeque<>();
    /** Buffers this filter holds (idle in {@link #pool} or lent to a prefetch); at most {@code 2 * streams}. */
    private int allocated;
    /**
     * Idle window buffers left by closed filters, taken by new ones before allocating (only buffers of the default
     * {@code maxWindow}; at most {@link #SHARED_IDLE} kept). A VM disk opened again, or another VM's, then reads
     * into memory the process has touched before instead of 16 MiB of new direct memory per buffer: on a host
     * whose memory is handed back to the hypervisor while free, first-touched memory cost ~100-400 MiB/s here
     * (docs/benchmarks.md), so two fresh 16 MiB buffers took a tenth of a second of a 256 MiB cold read.
     */
    private static final ConcurrentLinkedDeque<ByteBuffer> SHARED = new ConcurrentLinkedDeque<>();
    static final int SHARED_IDLE = 4;
    private static final AtomicInteger SHARED_COUNT = new AtomicInteger();
    private long clock;
    final LongAdder prefetches = new LongAdder();
    /** Prefetch tasks that have run to their end (done, failed or found cancelled); tests wait on it. */
    final LongAdder prefetchesEnded = new LongAdder();
    final LongAdder hits = new LongAdder();
    /** Streams that turned slow because their reader waited for a running prefetch. */
    final LongAdder deepened = new LongAdder();
    /** Reads that waited for a running prefetch's data. */
    final LongAdder waits = new LongAdder();
    /** Rests of fills a reader went round while they were queued, issued again (see {@link #reissue}). */
    final LongAdder reissued = new LongAdder();
    /** Prefetches that failed (their readers then read for themselves), and the last failure's message. */
    final LongAdder failed = new LongAdder();
    volatile String lastFailure;
    /** Streams that turned deep on a far vdisk before their reader ever waited (the latency rule). */
    final LongAdder deepenedByLatency = new LongAdder();
    /** Per vdisk: smoothed time to first byte in nanoseconds, 0 until measured. */
    private final java.util.concurrent.atomic.AtomicLongArray latency;
    private final java.util.function.LongSupplier nanoClock;

    ReadaheadFilter(ExtendedBlockDevice next, RegionMap map, ReadaheadConfig config) {
        this(next, map, config, null);
    }

    /** {@code vdisks[i]} says whether reads of vdisk {@code i} are prefetched; null means all are. */
    ReadaheadFilter(ExtendedBlockDevice next, RegionMap map, ReadaheadConfig config, boolean[] vdisks) {
        this(next, map, config, vdisks, (offset, length) -> false, NO_FILLER);
    }

    /** Says whether a disk range can be read without a backend request (all of it in the shared cache). */
    interface Residency {
        boolean resident(long offset, long length);
    }

    /**
     * Prefetches into the shared cache instead of into a buffer of this filter, for app data read through the
     * cache: the window's chunks are fetched and stored, and the reader then reads them from the cache like any
     * hit. That spares copying every prefetched byte into a readahead buffer and out again, and makes the
     * reader's first read of each chunk (the one that checks the slab against the CRC32C) happen during the cold
     * pass, not the next one.
     */
    interface Filler {
        /** Whether app data at this disk offset is read through the shared cache. */
        boolean fills(long offset);

        /**
         * Brings {@code [offset, offset + length)}, inside one region, into the shared cache, running
         * {@code progress} whenever some of it has arrived (a reader waiting for part of the window can go on).
         */
        void fill(long offset, long length, Runnable progress) throws IOException;
    }

    static final Filler NO_FILLER = new Filler() {
        @Override
        public boolean fills(long offset) {
            return false;
        }

        @Override
        public void fill(long offset, long length, Runnable progress) {
            throw new IllegalStateException("no cache to fill");
        }
    };

    /**
     * {@code residency} lets the stream skip windows that are already in the shared cache: a prefetch of
     * cached data only adds a copy and a thread hand-off to what a direct read from the cache costs.
     * {@code filler} prefetches cached app data into the cache itself.
     */
    ReadaheadFilter(ExtendedBlockDevice next, RegionMap map, ReadaheadConfig config, boolean[] vdisks,
                    Residency residency, Filler filler) {
        this(next, map, config, residency, filler, vdisks == null ? i -> true : i -> vdisks[i]);
    }

    /** As above, with {@code prefetched} asked per read which vdisks are prefetched (it may change over time). */
    ReadaheadFilter(ExtendedBlockDevice next, RegionMap map, ReadaheadConfig config, Residency residency,
                    Filler filler, java.util.function.IntPredicate prefetched) {
        this(next, map, config, residency, filler, prefetched, System::nanoTime);
    }

    /** As above, timing backend requests by {@code nanoClock} (tests pass a clock they move). */
    ReadaheadFilter(ExtendedBlockDevice next, RegionMap map, ReadaheadConfig config, Residency residency,
                    Filler filler, java.util.function.IntPredicate prefetched, java.util.function.LongSupplier nanoClock) {
        super(next);
        this.nanoClock = nanoClock;
        this.latency = new java.util.concurrent.atomic.AtomicLongArray(Math.max(1, map.vdisks().size()));
        this.residency = residency;
        this.filler = filler;
        this.map = map;
        this.vdisks = prefetched;
        this.config = config;
        AtomicInteger n = new AtomicInteger();
        this.executor = new ThreadPoolExecutor(config.threads(), config.threads(), 30, TimeUnit.SECONDS,
                new LinkedBlockingQueue<>(), r -> {
                    Thread t = new Thread(r, "dcd-readahead-" + n.incrementAndGet());
                    t.setDaemon(true);
                    return t;
                });
        ((ThreadPoolExecutor) executor).allowCoreThreadTimeOut(true);
        this.streams = new Stream[config.streams()];
        for (int i = 0; i < streams.length; i++) {
            streams[i] = new Stream();
        }
    }

    private static final class Stream {
        long expected = -1;
        long prefetchedTo;
        long regionEnd;
        int window;
        long lastUse;
        int vdisk;
        /** The reader waited for one of this stream's running prefetches: the backend is slower than it. */
        boolean slow;
        final ArrayDeque<Prefetch> inFlight = new ArrayDeque<>();
    }

    private final class Prefetch implements Runnable {
        final long start;
        final int length;
        final int vdisk;
        /** When the task started fetching (nanoClock), and whether its first arrival was timed yet. */
        volatile long startedNanos;
        final java.util.concurrent.atomic.AtomicBoolean timed = new java.util.concurrent.atomic.AtomicBoolean();
        /** Where the bytes go; null when the prefetch fills the shared cache instead. */
        final ByteBuffer buffer;
        final AtomicInteger state = new AtomicInteger(QUEUED);
        /** One reference for the stream, one for the task, one per reader copying out. */
        final AtomicInteger refs = new AtomicInteger(2);
        /** A reader found it running and had to wait for its data (set outside the filter's lock). */
        volatile boolean waitedOn;

        Prefetch(long start, int length, int vdisk, ByteBuffer buffer) {
            this.start = start;
            this.length = length;
            this.vdisk = vdisk;
            this.buffer = buffer;
        }

        boolean covers(long offset, int n) {
            return offset >= start && offset + n <= start + length;
        }

        @Override
        public void run() {
            try {
                if (!state.compareAndSet(QUEUED, RUNNING)) {
                    return;
                }
                try {
                    if (buffer == null) {
                        startedNanos = nanoClock.getAsLong();
                        filler.fill(start, length, this::arrived);
                    } else {
                        buffer.clear().limit(length);
                        next.read(start, buffer);
                    }
                    state.set(DONE);
                } catch (IOException | RuntimeException e) {
                    // The foreground read will go down the chain itself and report the error; counted and kept
                    // for figures (a failed window costs its reader a round trip per read).
                    failed.increment();
                    lastFailure = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
                    state.set(FAILED);
                }
            } finally {
                progressed();
                release(this);
                prefetchesEnded.increment();
            }
        }

        private synchronized void progressed() {
            notifyAll();
        }

        /** Some of a fill arrived: the first arrival of each fill is a time-to-first-byte sample of its vdisk. */
        private void arrived() {
            // Arrivals may be reported from several of the backend's threads at once; the first one counts.
            if (timed.compareAndSet(false, true)) {
                noteLatency(vdisk, nanoClock.getAsLong() - startedNanos);
            }
            progressed();
        }

        /**
         * True when the data of {@code [offset, offset + n)} is ready; false when the caller must read for itself.
         * Waits only for a prefetch that is running: a queued one is cancelled, and a cancelled one is never
         * waited for, because its task may still sit in the queue behind unrelated prefetches. A prefetch into a
         * buffer is ready when it has ended; a fill of the shared cache as soon as the part asked for is in the
         * cache, which may be long before the whole window is (chunks go in as they arrive).
         */
        boolean await(long offset, int n) throws IOException {
            while (true) {
                int s = state.get();
                if (s == QUEUED) {
                    if (state.compareAndSet(QUEUED, CANCELLED)) {
                        return false;
                    }
                    continue;
                }
                if (s != RUNNING) {
                    return s == DONE;
                }
                synchronized (this) {
                    // Checked under the monitor the prefetch notifies on (each arrival, and its end), so nothing
                    // is missed between check and wait.
                    if (buffer == null && residency.resident(offset, n)) {
                        return true;
                    }
                    if (state.get() == RUNNING) {
                        if (!waitedOn) {
                            waitedOn = true;
                            waits.increment();
                        }
                        try {
                            wait();
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                            throw new java.io.InterruptedIOException("interrupted waiting for readahead");
                        }
                    }
                }
            }
        }
    }

    @Override
    protected String filterName() {
        return "readahead";
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        int length = dst.remaining();
        if (length == 0 || offset < 0 || offset + length > size()) {
            next.read(offset, dst);
            return;
        }
        int index = map.indexOf(offset);
        RegionMap.Region region = map.region(index);
        if (region.kind() != RegionMap.Kind.APP_DATA || !vdisks.test(region.vdisk())) {
            next.read(offset, dst);
            return;
        }
        Prefetch hit = track(offset, length, region.end(), region.vdisk());
        if (hit == null) {
            direct(offset, dst, region.vdisk());
            return;
        }
        try {
            boolean ready = hit.await(offset, length);
            if (ready && hit.buffer != null) {
                int from = (int) (offset - hit.start);
                dst.put(hit.buffer.duplicate().limit(from + length).position(from));
                hits.increment();
                return;
            }
            if (ready) {
                // Filled into the shared cache: the read below is served from it.
                hits.increment();
            }
        } finally {
            release(hit);
        }
        direct(offset, dst, region.vdisk());
    }

    /** A read down the chain; one that had to go to the backend (nothing of it cached) is a latency sample. */
    private void direct(long offset, ByteBuffer dst, int vdisk) throws IOException {
        if (!config.latencyRule() || residency.resident(offset, dst.remaining())) {
            next.read(offset, dst);
            return;
        }
        long start = nanoClock.getAsLong();
        next.read(offset, dst);
        noteLatency(vdisk, nanoClock.getAsLong() - start);
    }

    private void noteLatency(int vdisk, long nanos) {
        if (vdisk < 0 || vdisk >= latency.length() || nanos < 0) {
            return;
        }
        latency.getAndUpdate(vdisk, old -> old == 0 ? Math.max(1, nanos)
                : Math.max(1, old + (nanos - old) / LATENCY_SMOOTHING));
    }

    /** The vdisk's smoothed time to first byte, 0 before anything of it was read from the backend. */
    long latencyNanos(int vdisk) {
        return vdisk >= 0 && vdisk < latency.length() ? latency.get(vdisk) : 0;
    }

    /** Whether vdisk {@code vdisk} answers slowly enough for the latency rule. */
    private boolean far(int vdisk) {
        return config.latencyRule() && latencyNanos(vdisk) >= Math.max(1, config.slowLatency().toNanos());
    }

    /** Latency times {@code slowRate} in whole chunks, at least {@code window}, at most {@code maxWindow}. */
    private int farWindow(int vdisk, int window) {
        long bytes = (long) Math.min(Long.MAX_VALUE / 2, latencyNanos(vdisk) * (double) config.slowRate() / 1e9);
        bytes = (bytes + WINDOW_UNIT - 1) / WINDOW_UNIT * WINDOW_UNIT;
        return (int) Math.max(window, Math.min(config.maxWindow(), bytes));
    }

    /** Updates the stream this read belongs to, issues prefetches, and returns a covering prefetch (referenced). */
    private synchronized Prefetch track(long offset, int length, long regionEnd, int vdisk) {
        clock++;
        Stream s = null;
        for (Stream candidate : streams) {
            if (candidate.expected == offset) {
                s = candidate;
                break;
            }
            for (Prefetch p : candidate.inFlight) {
                if (p.covers(offset, length)) {
                    s = candidate;
                    break;
                }
            }
            if (s != null) {
                break;
            }
        }
        if (s == null) {
            Stream oldest = streams[0];
            for (Stream candidate : streams) {
                if (candidate.lastUse < oldest.lastUse) {
                    oldest = candidate;
                }
            }
            drop(oldest, Long.MAX_VALUE);
            oldest.expected = offset + length;
            oldest.prefetchedTo = offset + length;
            oldest.regionEnd = regionEnd;
            oldest.vdisk = vdisk;
            oldest.window = config.minWindow();
            oldest.slow = false;
            oldest.lastUse = clock;
            return null;
        }
        s.lastUse = clock;
        Prefetch hit = null;
        for (Prefetch p : s.inFlight) {
            noteWait(s, p);
            if (p.covers(offset, length)) {
                hit = p;
                p.refs.incrementAndGet();
                break;
            }
        }
        long end = offset + length;
        if (hit != null && hit.buffer == null && hit.state.get() == CANCELLED) {
            hit = reissue(s, hit, end, vdisk);
        }
        drop(s, offset);
        s.expected = end;
        s.regionEnd = regionEnd;
        s.vdisk = vdisk;
        if (!s.slow && far(vdisk) && s.prefetchedTo < regionEnd && filler.fills(s.prefetchedTo)) {
            // A far vdisk: deep from the stream's second read on, windows sized for the round trip.
            s.slow = true;
            s.window = farWindow(vdisk, s.window);
            deepenedByLatency.increment();
        }
        if (s.prefetchedTo < end) {
            s.prefetchedTo = end;
        }
        while (s.prefetchedTo - end < s.window && s.prefetchedTo < regionEnd
                && residency.resident(s.prefetchedTo, Math.min(s.window, regionEnd - s.prefetchedTo))) {
            // Already cached: the stream moves on without fetching; reads of it go straight to the cache. The
            // window does not grow, so the stream never runs far ahead of its reader on cached data alone.
            s.prefetchedTo += Math.min(s.window, regionEnd - s.prefetchedTo);
            skipped.increment();
        }
        // A deep stream tops up to its depth on every read; any other issues at most one prefetch per read.
        boolean deep = s.slow && s.prefetchedTo < regionEnd && filler.fills(s.prefetchedTo);
        int depth = deep ? config.slowDepth() : PER_STREAM;
        long ahead = deep ? (long) s.window * config.slowDepth() : s.window;
        do {
            if (s.prefetchedTo - end >= ahead || s.prefetchedTo >= regionEnd || s.inFlight.size() >= depth) {
                break;
            }
            boolean intoCache = filler.fills(s.prefetchedTo);
            ByteBuffer buffer = intoCache ? null : takeBuffer();
            if (!intoCache && buffer == null) {
                break;
            }
            int n = (int) Math.min(s.window, regionEnd - s.prefetchedTo);
            Prefetch p = new Prefetch(s.prefetchedTo, n, vdisk, buffer);
            s.inFlight.add(p);
            s.prefetchedTo += n;
            s.window = (int) Math.min(config.maxWindow(), (long) s.window * (deep ? SLOW_GROWTH : GROWTH));
            ahead = deep ? (long) s.window * config.slowDepth() : ahead;
            prefetches.increment();
            executor.execute(p);
        } while (deep);
        return hit;
    }

    /**
     * An earlier reader found this fill still queued and went round it (a foreground read never waits in the queue).
     * On a loaded machine that happens to a window whose thread has merely not been scheduled yet, and then every
     * later read of the window would go to the backend alone, a round trip per read (a 16 MiB window of 128 KiB
     * reads: 128 of them). So what is left of the window after this read becomes a new fill, in the old one's place;
     * this read goes down the chain. Returns null (no prefetch for this read); the reference taken on {@code old}
     * is dropped.
     */
    private Prefetch reissue(Stream s, Prefetch old, long from, int vdisk) {
        long to = old.start + old.length;
        Prefetch rest = to > from ? new Prefetch(from, (int) (to - from), vdisk, null) : null;
        ArrayDeque<Prefetch> kept = new ArrayDeque<>(s.inFlight.size());
        for (Prefetch p : s.inFlight) {
            if (p != old) {
                kept.add(p);
            } else if (rest != null) {
                kept.add(rest);
            }
        }
        s.inFlight.clear();
        s.inFlight.addAll(kept);
        release(old); // the stream's reference
        release(old); // the one taken for this read
        if (rest != null) {
            prefetches.increment();
            reissued.increment();
            executor.execute(rest);
        }
        return null;
    }

    /** A stream turns slow (deep, when it fills the cache) once its reader has waited for a running prefetch. */
    private void noteWait(Stream s, Prefetch p) {
        if (p.waitedOn && !s.slow) {
            s.slow = true;
            deepened.increment();
            if (far(s.vdisk)) {
                s.window = farWindow(s.vdisk, s.window);
            }
        }
    }

    /** Drops the stream's prefetches that end at or before {@code before}; queued ones are cancelled. */
    private void drop(Stream s, long before) {
        while (!s.inFlight.isEmpty()) {
            Prefetch p = s.inFlight.peek();
            if (p.start + p.length > before) {
                break;
            }
            s.inFlight.poll();
            // A queued task that loses this race sees CANCELLED when it runs and only drops its reference.
            p.state.compareAndSet(QUEUED, CANCELLED);
            release(p);
        }
    }

    private ByteBuffer takeBuffer() {
        ByteBuffer b = pool.poll();
        if (b == null && allocated < streams.length * PER_STREAM) {
            allocated++;
            b = takeShared(config.maxWindow());
        }
        return b;
    }

    /** An idle buffer a closed filter left, or a new one. */
    private static ByteBuffer takeShared(int capacity) {
        if (capacity == ReadaheadConfig.DEFAULT.maxWindow()) {
            ByteBuffer b = SHARED.pollFirst();
            if (b != null) {
                SHARED_COUNT.decrementAndGet();
                return b;
            }
        }
        return ByteBuffer.allocateDirect(capacity);
    }

    /** Keeps an idle buffer for the next filter (most recently used first), unless enough are kept already. */
    private static void giveShared(ByteBuffer b) {
        if (b.capacity() != ReadaheadConfig.DEFAULT.maxWindow()) {
            return;
        }
        if (SHARED_COUNT.incrementAndGet() <= SHARED_IDLE) {
            SHARED.addFirst(b.clear());
        } else {
            SHARED_COUNT.decrementAndGet();
        }
    }

    /** Idle buffers kept for the next filter; tests only. */
    static int sharedIdle() {
        return SHARED_COUNT.get();
    }

    private void release(Prefetch p) {
        if (p.refs.decrementAndGet() == 0 && p.buffer != null) {
            synchronized (this) {
                pool.add(p.buffer);
            }
        }
    }

    @Override
    public void close() throws IOException {
        executor.shutdownNow();
        boolean ended = false;
        try {
            ended = executor.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (ended) {
            // No prefetch runs any more; the idle buffers are referenced by nothing. A buffer still lent to a
            // reader copying out stays with this filter and is simply dropped with it.
            synchronized (this) {
                ByteBuffer b;
                while ((b = pool.poll()) != null) {
                    giveShared(b);
                }
            }
        }
        super.close();
    }
}
