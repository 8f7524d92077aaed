package dev.dcd.filter;

import dev.dcd.synth.RegionMap;
import dev.dcd.vdisk.ChunkChecksums;
import dev.dcd.vdisk.ContentId;
import dev.dcd.vdisk.PrefetchList;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.function.Consumer;

/**
 * Per-app start-up traces: records which chunks of each remote app the guest reads in the first seconds after its
 * first read of it, and on a later mount of any VM with the app replays that list into the shared cache in the
 * background, in trace order, ahead of the guest (docs/prefetch.md).
 *
 * <p>Sits between the overlay and readahead, so it sees the guest's reads (after the overlay took its own blocks)
 * and none of readahead's fills. Everything it does for a read is bookkeeping after or before passing it on
 * unchanged; the replay's fetches run on their own threads, at most {@code threads} backend requests at a time.
 * A demand read never waits for the replay: a chunk the replay has not stored yet is a miss the read fetches
 * itself (the cache never makes a reader wait on another thread's fetch), and the replay keeps fewer requests in
 * flight than the backend's read pool has threads.
 */
final class Prefetcher extends Filter {
    private final RegionMap map;
    private final RedirectPlugin redirect;
    private final PrefetchStore store;
    private final PrefetchConfig config;
    private final Consumer<String> notices;
    /** The trace being recorded per vdisk, if any; a recording asked for by command replaces an automatic one. */
    private final AtomicReferenceArray<Trace> traces;
    private final Replay[] replays;
    /** Per vdisk: read through the shared cache from a remote backend, so recorded and replayed. */
    private final boolean[] eligible;
    /** Whether reads need any bookkeeping; turned on by a recording asked for later. */
    private volatile boolean active;
    private final ExecutorService workers;
    private final ScheduledExecutorService timer;
    private final AtomicInteger saved = new AtomicInteger();
    private volatile boolean closed;
    private boolean started;

    private Prefetcher(ExtendedBlockDevice next, RegionMap map, RedirectPlugin redirect, PrefetchStore store,
                       PrefetchConfig config, Consumer<String> notices, Trace[] traces, Replay[] replays,
                       boolean[] eligible) {
        super(next);
        this.map = map;
        this.redirect = redirect;
        this.store = store;
        this.config = config;
        this.notices = notices;
        this.traces = new AtomicReferenceArray<>(traces);
        this.replays = replays;
        this.eligible = eligible.clone();
        boolean anyTrace = Arrays.stream(traces).anyMatch(t -> t != null);
        boolean anyReplay = Arrays.stream(replays).anyMatch(r -> r != null);
        this.active = anyTrace || anyReplay;
        AtomicInteger n = new AtomicInteger();
        this.workers = anyReplay ? Executors.newFixedThreadPool(config.threads(), r -> {
            Thread t = new Thread(r, "dcd-prefetch-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        }) : null;
        // Its thread starts with the first task: a mount that never records has none.
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "dcd-prefetch-record");
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Looks up the list of every vdisk {@code eligible} marks (remote, read through the shared cache): a vdisk with a
     * list is replayed at once, one without is recorded if the config says so. A list that cannot be read is one
     * notice and is recorded anew.
     */
    static Prefetcher open(ExtendedBlockDevice next, RegionMap map, RedirectPlugin redirect, PrefetchStore store,
                           PrefetchConfig config, boolean[] eligible, Consumer<String> notices) {
        int v = map.vdisks().size();
        Trace[] traces = new Trace[v];
        Replay[] replays = new Replay[v];
        for (int i = 0; i < v; i++) {
            if (!eligible[i]) {
                continue;
            }
            ContentId id = map.vdisks().get(i);
            PrefetchList list = null;
            try {
                list = store.load(id);
            } catch (IOException | RuntimeException e) {
                notices.accept("dcd: " + e.getMessage());
            }
            if (list != null && list.contentId().equals(id) && list.size() > 0) {
                replays[i] = new Replay(i, list, config.runChunks());
            } else if (list == null && config.record()) {
                traces[i] = new Trace(i, id, config.window(), null);
            }
        }
        return new Prefetcher(next, map, redirect, store, config, notices, traces, replays, eligible);
    }

    @Override
    protected String filterName() {
        return "prefetch";
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        if (!active || dst.remaining() == 0 || offset < 0 || offset + dst.remaining() > size()) {
            next.read(offset, dst);
            return;
        }
        int length = dst.remaining();
        countHits(offset, length);
        next.read(offset, dst);
        record(offset, length);
    }

    /** The first demand read of each listed chunk: counted as a hit when the replay had stored it already. */
    private void countHits(long offset, int length) {
        long pos = offset;
        long end = offset + length;
        int index = map.indexOf(pos);
        while (pos < end) {
            RegionMap.Region r = map.region(index++);
            long n = Math.min(end, r.end()) - pos;
            if (r.kind() == RegionMap.Kind.APP_DATA && replays[r.vdisk()] != null) {
                // Not open yet: the replay has stored nothing of it, so nothing read now can be a hit.
                ChunkChecksums sums = redirect.slot(r.vdisk()).cachedSums();
                if (sums != null) {
                    replays[r.vdisk()].firstReads(sums, r.vdiskOffset() + (pos - r.start()), n);
                }
            }
            pos += n;
        }
    }

    private void record(long offset, int length) {
        long pos = offset;
        long end = offset + length;
        int index = map.indexOf(pos);
        while (pos < end) {
            RegionMap.Region r = map.region(index++);
            long n = Math.min(end, r.end()) - pos;
            Trace t = r.kind() == RegionMap.Kind.APP_DATA ? traces.get(r.vdisk()) : null;
            if (t != null && !t.finished) {
                ChunkChecksums sums = redirect.slot(r.vdisk()).cachedSums();
                if (sums != null) {
                    long vdiskOffset = r.vdiskOffset() + (pos - r.start());
                    int first = sums.chunkOf(vdiskOffset);
                    int last = sums.chunkOf(vdiskOffset + n - 1);
                    if (first >= 0 && last >= 0) {
                        record(t, first, last);
                    }
                }
            }
            pos += n;
        }
    }

    private void record(Trace t, int first, int last) {
        long now = config.nanoTime().getAsLong();
        boolean started;
        boolean over;
        synchronized (t) {
            if (t.finished) {
                return;
            }
            started = t.startNanos == Long.MIN_VALUE;
            if (started) {
                t.startNanos = now;
            }
            over = now - t.startNanos >= t.window.toNanos();
            if (!over) {
                for (int c = first; c <= last; c++) {
                    if (!t.seen.get(c)) {
                        t.seen.set(c);
                        t.order.add(c);
                    }
                }
            }
        }
        if (started) {
            timer.schedule(() -> finish(t), t.window.toNanos(), TimeUnit.NANOSECONDS);
        }
        if (over) {
            timer.execute(() -> finish(t));
        }
    }

    /**
     * Ends a trace and stores it: an automatic one as the vdisk's list unless one appeared meanwhile (from another
     * VM, say), one asked for by command in place of any list, answering its caller.
     */
    private void finish(Trace t) {
        int[] chunks;
        synchronized (t) {
            if (t.finished) {
                return;
            }
            t.finished = true;
            chunks = t.order.stream().mapToInt(Integer::intValue).toArray();
        }
        PrefetchList list = chunks.length == 0 ? null
                : new PrefetchList(t.id, (int) Math.max(1, t.window.toSeconds()), chunks);
        try {
            if (t.requested == null) {
                if (list != null && store.saveIfAbsent(list)) {
                    saved.incrementAndGet();
                }
                return;
            }
            if (list != null) {
                store.replace(list);
                saved.incrementAndGet();
            }
            t.requested.complete(list);
        } catch (IOException | RuntimeException e) {
            if (t.requested != null) {
                t.requested.completeExceptionally(e);
            } else {
                notices.accept("dcd: could not store the prefetch list of vdisk " + t.id.shortHex() + ": "
                        + e.getMessage());
            }
        }
    }

    /**
     * Records vdisk {@code id}'s reads from now for {@code window} and then stores them as its list, replacing any
     * (the {@code dcd catalog prefetch record} command, through the control channel). An automatic recording of
     * the vdisk still running is dropped for it. The future completes with the stored list when the window ends
     * (or the disk closes first), with null when nothing of the vdisk was read meanwhile (its list unchanged).
     *
     * @return null when this disk does not read that vdisk
     * @throws IOException with a one-line message when the vdisk is not read through the shared cache or is
     *                     being recorded by command already
     */
    synchronized CompletableFuture<PrefetchList> recordNow(ContentId id, java.time.Duration window) throws IOException {
        int v = map.vdisks().indexOf(id);
        if (v < 0) {
            return null;
        }
        String app = redirect.slot(v).label().app();
        if (!eligible[v]) {
            throw new IOException(app + " is not read through the shared cache (its backend is local): there is "
                    + "nothing to prefetch");
        }
        if (closed) {
            throw new IOException("the disk is closing");
        }
        Trace old = traces.get(v);
        if (old != null && old.requested != null && !old.finished) {
            throw new IOException(app + " is being recorded by command already on this VM");
        }
        Trace t = new Trace(v, id, window, new CompletableFuture<>());
        t.startNanos = config.nanoTime().getAsLong();
        if (old != null) {
            synchronized (old) {
                old.finished = true; // superseded: stores nothing
            }
        }
        traces.set(v, t);
        active = true;
        timer.schedule(() -> finish(t), window.toNanos(), TimeUnit.NANOSECONDS);
        return t.requested;
    }

    /**
     * Starts replaying the stored lists. Separate from opening, so a process that opens the disk only to check it
     * (the {@code dcd mount} command before it hands over to the serving process) fetches nothing. Once only.
     */
    synchronized void start() {
        if (started || closed) {
            return;
        }
        started = true;
        for (Replay r : replays) {
            if (r == null) {
                continue;
            }
            for (int i = 0; i < config.threads(); i++) {
                workers.execute(() -> replay(r));
            }
        }
    }

    /** One replay thread: takes the list's runs in order until none is left, the disk closes, or a run fails. */
    private void replay(Replay r) {
        VdiskSlot slot = redirect.slot(r.vdisk);
        ChunkChecksums sums;
        try {
            sums = slot.openCachedSums();
        } catch (IOException | RuntimeException e) {
            if (r.failed.getAndIncrement() == 0) {
                notices.accept("dcd: prefetch of " + slot.label().app() + " stopped: " + e.getMessage());
            }
            return;
        }
        if (sums == null || !r.fits(sums.chunkCount(), notices, slot.label())) {
            return;
        }
        while (!closed && r.failed.get() == 0) {
            int i = r.nextRun.getAndIncrement();
            if (i >= r.runs.length / Replay.RUN_FIELDS) {
                return;
            }
            int first = r.runs[Replay.RUN_FIELDS * i];
            int count = r.runs[Replay.RUN_FIELDS * i + 1];
            try {
                int missing = slot.fillChunks(first, count);
                if (missing < 0) {
                    return; // no longer read through the cache: nothing to prefetch into
                }
                r.fetched.addAndGet(missing);
                for (int k = first; k < first + count; k++) {
                    if (r.lists(k)) {
                        r.replayed(k);
                    }
                }
                r.done.addAndGet(r.runs[Replay.RUN_FIELDS * i + 2]);
            } catch (IOException | RuntimeException e) {
                if (!closed && r.failed.getAndIncrement() == 0) {
                    notices.accept("dcd: prefetch of " + slot.label().app() + " stopped: " + e.getMessage());
                }
                return;
            }
        }
    }

    PrefetchStats stats() {
        long listed = 0;
        long done = 0;
        long fetched = 0;
        long hits = 0;
        long failed = 0;
        int replaying = 0;
        int recording = 0;
        long recorded = 0;
        for (Replay r : replays) {
            if (r != null) {
                replaying++;
                listed += r.list.size();
                done += r.done.get();
                fetched += r.fetched.get();
                hits += r.hits.get();
                failed += r.failed.get();
            }
        }
        for (int i = 0; i < traces.length(); i++) {
            Trace t = traces.get(i);
            if (t != null) {
                synchronized (t) {
                    recording += t.finished ? 0 : 1;
                    recorded += t.order.size();
                }
            }
        }
        return new PrefetchStats(listed, done, fetched, hits, failed, replaying, recording, recorded, saved.get());
    }

    /** Waits until every replay has ended (tests, benchmarks); true if it did within the timeout. */
    boolean awaitReplays(long timeoutMillis) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        while (System.nanoTime() < deadline) {
            boolean all = true;
            for (Replay r : replays) {
                if (r != null && started && r.done.get() < r.list.size() && r.failed.get() == 0 && r.usable) {
                    all = false;
                }
            }
            if (all) {
                return true;
            }
            synchronized (this) {
                wait(10);
            }
        }
        return false;
    }

    /** Ends recording now and stores what was recorded (unmount); stops the replay. */
    @Override
    public void close() throws IOException {
        closed = true;
        if (workers != null) {
            workers.shutdownNow();
        }
        for (int i = 0; i < traces.length(); i++) {
            Trace t = traces.get(i);
            if (t != null) {
                finish(t);
            }
        }
        try {
            if (workers != null) {
                workers.awaitTermination(10, TimeUnit.SECONDS);
            }
            timer.shutdownNow();
            timer.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        super.close();
    }

    /** A trace being recorded for one vdisk: chunks in the order of their first read. */
    private static final class Trace {
        final int vdisk;
        final ContentId id;
        final java.time.Duration window;
        /** Completed when a trace asked for by command is stored; null for an automatic one. */
        final CompletableFuture<PrefetchList> requested;
        long startNanos = Long.MIN_VALUE;
        boolean finished;
        final List<Integer> order = new ArrayList<>();
        final BitSet seen = new BitSet();

        Trace(int vdisk, ContentId id, java.time.Duration window, CompletableFuture<PrefetchList> requested) {
            this.vdisk = vdisk;
            this.id = id;
            this.window = window;
            this.requested = requested;
        }
    }

    /** A list being replayed: its runs of consecutive chunks, in trace order, and per-chunk state. */
    private static final class Replay {
        final int vdisk;
        final PrefetchList list;
        /** Per request: first chunk, chunk count, listed chunks among them ({@link #RUN_FIELDS} ints each). */
        final int[] runs;
        static final int RUN_FIELDS = 3;
        final AtomicInteger nextRun = new AtomicInteger();
        final AtomicLong done = new AtomicLong();
        final AtomicLong fetched = new AtomicLong();
        final AtomicLong hits = new AtomicLong();
        final AtomicInteger failed = new AtomicInteger();
        /** Two bits per chunk: listed-and-stored by the replay, and already read once by the guest. */
        private final AtomicLongArray replayedBits;
        private final AtomicLongArray readBits;
        private final BitSet listed = new BitSet();
        private final int maxChunk;
        volatile boolean usable = true;

        Replay(int vdisk, PrefetchList list, int runChunks) {
            this.vdisk = vdisk;
            this.list = list;
            int[] chunks = list.chunks();
            int max = 0;
            for (int c : chunks) {
                listed.set(c);
                max = Math.max(max, c);
            }
            // One request per aligned block of runChunks chunks (1 MiB) the list touches, in the order the trace
            // first touched each block, spanning the block's first to last listed chunk. A start-up reads many small
            // files scattered over the app in an order of its own: merging only consecutive chunks left one request
            // per chunk or two (python3's stdlib list: 121 chunks), a round trip each on a far backend, and the guest
            // caught up with the replay. The chunks between listed ones in a block cost little next to a round trip.
            LinkedHashMap<Integer, int[]> blocks = new LinkedHashMap<>();
            for (int c : chunks) {
                int[] span = blocks.computeIfAbsent(c / runChunks, b -> new int[] {c, c, 0});
                span[0] = Math.min(span[0], c);
                span[1] = Math.max(span[1], c);
                span[2]++;
            }
            this.runs = new int[blocks.size() * RUN_FIELDS];
            int i = 0;
            for (int[] span : blocks.values()) {
                runs[i++] = span[0];
                runs[i++] = span[1] - span[0] + 1;
                runs[i++] = span[2];
            }
            this.maxChunk = max;
            this.replayedBits = new AtomicLongArray(max / 64 + 1);
            this.readBits = new AtomicLongArray(max / 64 + 1);
        }

        /** Whether the list names chunk {@code c} (the runs also span chunks between listed ones). */
        boolean lists(int c) {
            return listed.get(c);
        }

        /** A list naming chunks the vdisk does not have is damaged: one notice, not replayed. */
        synchronized boolean fits(int chunkCount, Consumer<String> notices, VdiskLabel label) {
            if (!usable) {
                return false;
            }
            if (maxChunk >= chunkCount) {
                // The notice first: a waiter that sees the replay over must also see why.
                notices.accept("dcd: the prefetch list of " + label.app() + " names chunk " + maxChunk + " of a vdisk"
                        + " with " + chunkCount + "; not replayed ('dcd catalog prefetch clear " + label.app() + "')");
                usable = false;
                return false;
            }
            return true;
        }

        void replayed(int chunk) {
            set(replayedBits, chunk);
        }

        /** Counts a hit for each listed chunk of the range read here for the first time after the replay stored it. */
        void firstReads(ChunkChecksums sums, long vdiskOffset, long length) {
            long from = Math.max(vdiskOffset, sums.base());
            long to = Math.min(vdiskOffset + length, sums.base() + sums.length());
            if (from >= to) {
                return;
            }
            int first = sums.chunkOf(from);
            int last = sums.chunkOf(to - 1);
            for (int c = first; c <= Math.min(last, maxChunk); c++) {
                if (listed.get(c) && set(readBits, c) && get(replayedBits, c)) {
                    hits.incrementAndGet();
                }
            }
        }

        private static boolean set(AtomicLongArray bits, int i) {
            long mask = 1L << (i & 63);
            long old = bits.getAndUpdate(i >>> 6, w -> w | mask);
            return (old & mask) == 0;
        }

        private static boolean get(AtomicLongArray bits, int i) {
            return (bits.get(i >>> 6) & (1L << (i & 63))) != 0;
        }
    }
}
