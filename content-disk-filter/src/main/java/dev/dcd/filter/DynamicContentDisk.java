package dev.dcd.filter;

import dev.dcd.block.BlockDevice;
import dev.dcd.synth.RegionMap;
import dev.dcd.synth.VdiskResolver;
import dev.dcd.vdisk.AppVdisk;
import dev.dcd.vdisk.ContentId;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Consumer;

/**
 * One VM's disk generation as a block device: the filter chain stats > cow > readahead > redirect, with the
 * shared chunk cache wrapped around each remote app vdisk the redirect plugin reads from. The generation
 * directory holds meta.img and regions.bin (from synth-fs) and, once the guest writes, overlay.data and
 * overlay.map. docs/filter-chain.md describes the layers and their semantics. Every device call goes to the top of the
 * chain ({@link Filter}'s pass-through); what this class adds is the disk's own state: stats, readahead and
 * prefetch counters, the cache, and moving an app between backends while it serves.
 */
public final class DynamicContentDisk extends Filter {
    public static final String META_IMAGE = "meta.img";
    public static final String REGION_MAP = "regions.bin";

    private final Path generationDir;
    /** The top of the chain, {@link #next}, with its own type for the stats it keeps. */
    private final StatsFilter top;
    private final OverlayFilter overlay;
    private final ReadaheadFilter readahead;
    private final RedirectPlugin redirect;
    private final VdiskSlot[] slots;
    /** The shared cache remote vdisks are read through; null until a remote one is, possibly after a move. */
    private volatile BlockCache cache;
    private final Prefetcher prefetcher;
    /** Opens at most this many vdisks at once in the background ({@link #openAhead}). */
    private static final int OPEN_AHEAD_THREADS = 4;
    /** Null until {@link #openAhead}; guarded by {@code this}. */
    private ExecutorService openAhead;
    private CountDownLatch openAheadPending;
    private final LongAdder openedAhead = new LongAdder();
    private final LongAdder openAheadFailed = new LongAdder();

    private DynamicContentDisk(Path generationDir, StatsFilter top, OverlayFilter overlay, ReadaheadFilter readahead,
                               RedirectPlugin redirect, VdiskSlot[] slots, BlockCache cache, Prefetcher prefetcher) {
        super(top);
        this.generationDir = generationDir;
        this.prefetcher = prefetcher;
        this.top = top;
        this.overlay = overlay;
        this.readahead = readahead;
        this.redirect = redirect;
        this.slots = slots;
        this.cache = cache;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** True when the generation in {@code generationDir} holds guest writes made durable by a flush. */
    public static boolean hasWrites(Path generationDir) throws IOException {
        return OverlayFilter.hasWrites(generationDir);
    }

    public Path generationDir() {
        return generationDir;
    }

    public RegionMap regionMap() {
        return redirect.map();
    }

    public StatsSnapshot stats() {
        return top.snapshot();
    }

    /**
     * Prefetches issued, foreground reads served from them, streams that turned slow (their reader waited
     * for a running prefetch, so they keep more windows in flight), and streams that turned deep because their
     * vdisk is far (its measured time to first byte reached the config's slow latency), or zeros when readahead
     * is off.
     */
    public long[] readaheadCounters() {
        return readahead == null ? new long[4]
                : new long[] {readahead.prefetches.sum(), readahead.hits.sum(), readahead.deepened.sum(),
                        readahead.deepenedByLatency.sum()};
    }

    /**
     * Readahead prefetches that failed (and the last one's message) and fills issued again for the rest of a window a
     * reader went round while it was queued; "" if neither happened. For benchmarks' figures.
     */
    public String readaheadFailures() {
        if (readahead == null) {
            return "";
        }
        String failed = readahead.failed.sum() == 0 ? ""
                : readahead.failed.sum() + " failed (last: " + readahead.lastFailure + ")";
        String reissued = readahead.reissued.sum() == 0 ? "" : readahead.reissued.sum() + " re-issued";
        return failed.isEmpty() || reissued.isEmpty() ? failed + reissued : failed + ", " + reissued;
    }

    /** Readahead's smoothed time to first byte of vdisk {@code index} of the region map, in ns; 0 if unmeasured. */
    public long readaheadLatencyNanos(int index) {
        return readahead == null ? 0 : readahead.latencyNanos(index);
    }

    /** What the start-up prefetcher did (docs/prefetch.md); {@link PrefetchStats#NONE} when it is off. */
    public PrefetchStats prefetchStats() {
        return prefetcher == null ? PrefetchStats.NONE : prefetcher.stats();
    }

    /**
     * Starts replaying the stored prefetch lists into the shared cache (docs/prefetch.md); a serving process calls it
     * once it serves, a process that only opens the disk to check it does not.
     */
    public void startPrefetch() {
        if (prefetcher != null) {
            prefetcher.start();
        }
    }

    /**
     * Opens every remote app's vdisk in the background, a few at a time: its device, header and manifest, and for
     * one read through the shared cache its connection to the backend (which a manifest already in the cache would
     * otherwise put off to the first miss). Opening a vdisk on a far backend takes several round trips (an NFS
     * backend's workers connect, an S3 object is looked up and its manifest fetched): done now, while the disk is
     * idle, they are not paid by the guest's first read of the app. A failure is not reported here: the first read
     * opens the vdisk again and reports it, as it always did. A serving process calls this once it serves (with
     * {@link #startPrefetch}); a process that only opens the disk to check it does not. Calling it again does nothing.
     */
    public synchronized void openAhead() {
        if (openAhead != null) {
            return;
        }
        List<VdiskSlot> remote = new ArrayList<>();
        for (VdiskSlot slot : slots) {
            if (slot.remote()) {
                remote.add(slot);
            }
        }
        AtomicInteger n = new AtomicInteger();
        ThreadPoolExecutor pool = new ThreadPoolExecutor(OPEN_AHEAD_THREADS,
                OPEN_AHEAD_THREADS, 5, TimeUnit.SECONDS,
                new LinkedBlockingQueue<>(), r -> {
                    Thread t = new Thread(r, "dcd-open-ahead-" + n.incrementAndGet());
                    t.setDaemon(true);
                    return t;
                });
        pool.allowCoreThreadTimeOut(true);
        openAhead = pool;
        openAheadPending = new CountDownLatch(remote.size());
        for (VdiskSlot slot : remote) {
            pool.execute(() -> {
                try {
                    slot.openAhead();
                    openedAhead.increment();
                } catch (IOException | RuntimeException e) {
                    openAheadFailed.increment();
                } finally {
                    openAheadPending.countDown();
                }
            });
        }
    }

    /** Vdisks opened by {@link #openAhead} so far, and opens of it that failed (the first read retries those). */
    public long[] openAheadCounters() {
        return new long[] {openedAhead.sum(), openAheadFailed.sum()};
    }

    /** Waits until every open {@link #openAhead} started has ended; true if they did in time (tests, benchmarks). */
    public boolean awaitOpenAhead(long timeoutMillis) throws InterruptedException {
        CountDownLatch pending;
        synchronized (this) {
            pending = openAheadPending;
        }
        return pending == null || pending.await(timeoutMillis, TimeUnit.MILLISECONDS);
    }

    @Override
    public void close() throws IOException {
        ExecutorService pool;
        synchronized (this) {
            pool = openAhead;
        }
        if (pool != null) {
            // Not waited for: an open stuck on a dead backend ends with its deadline; the slots, closed below,
            // close whatever it opens after this.
            pool.shutdownNow();
        }
        super.close();
    }

    /**
     * Records vdisk {@code id}'s reads from now for {@code window}, then stores them as its prefetch list in place of
     * any (docs/prefetch.md, "Recording by command"). The future completes with the list stored, or null when
     * nothing of the vdisk was read in the window (its list unchanged).
     *
     * @return null when this disk does not read that vdisk
     * @throws IOException with a one-line message when it cannot record it
     */
    public java.util.concurrent.CompletableFuture<dev.dcd.vdisk.PrefetchList> recordPrefetch(ContentId id,
            java.time.Duration window) throws IOException {
        if (prefetcher == null) {
            if (!uses(id)) {
                return null;
            }
            throw new IOException("this disk reads no app through the shared cache (all its apps are on local "
                    + "backends): there is nothing to prefetch");
        }
        return prefetcher.recordNow(id, window);
    }

    /** Waits until every prefetch list replay has ended; true if it did within the timeout (tests, benchmarks). */
    public boolean awaitPrefetch(long timeoutMillis) throws InterruptedException {
        return prefetcher == null || prefetcher.awaitReplays(timeoutMillis);
    }

    /** True when this disk reads remote vdisks through a shared cache already. */
    public boolean hasCache() {
        return cache != null;
    }

    /**
     * Reads remote vdisks that are switched in from now on through {@code shared}: a disk that started with only
     * local apps gets the cache when one of them moves to a remote backend. Ignored when it has one already.
     */
    public synchronized void useCache(BlockCache shared) {
        if (cache == null) {
            cache = java.util.Objects.requireNonNull(shared);
        }
    }

    /** True when the region map reads vdisk {@code id}. */
    public boolean uses(ContentId id) {
        return slotOf(id) != null;
    }

    /** The backend the app with vdisk {@code id} is served from now, or null when this disk does not read it. */
    public String backendOf(ContentId id) {
        VdiskSlot slot = slotOf(id);
        return slot == null ? null : slot.label().backend();
    }

    private VdiskSlot slotOf(ContentId id) {
        for (VdiskSlot slot : slots) {
            if (slot.id().equals(id)) {
                return slot;
            }
        }
        return null;
    }

    /**
     * Serves vdisk {@code id} from another backend from now on, while reads run. The new device is opened through
     * {@code resolver} and its header and manifest are checked (it must be the same content id) before anything
     * changes; then the slot's device is swapped in one pointer flip: new reads go to the new backend, reads in
     * flight finish on the old device, which is closed after the last of them. A remote backend is read through
     * the shared cache when this disk has one (its chunks, keyed by content id, stay valid), and is prefetched.
     *
     * @return false when this disk does not read {@code id} (nothing to do)
     * @throws IOException when the new device cannot be opened or is not vdisk {@code id}; the old one still serves
     */
    public boolean switchVdisk(ContentId id, String backend, VdiskResolver resolver, boolean remote) throws IOException {
        VdiskSlot slot = slotOf(id);
        if (slot == null) {
            return false;
        }
        VdiskLabel label = new VdiskLabel(slot.label().app(), backend);
        BlockDevice raw = resolver.open(id);
        BlockDevice device;
        try {
            AppVdisk vdisk = AppVdisk.open(raw);
            if (!vdisk.id().equals(id)) {
                throw new IOException("backend " + backend + " returned vdisk " + vdisk.id().shortHex() + " for "
                        + id.shortHex());
            }
            BlockCache shared = cache;
            if (remote && shared != null) {
                raw.close();
                // Opened now, so the manifest is in the cache (or fetched) before the swap, not on the first read.
                device = CachedVdisk.open(shared, id, label, resolver);
            } else {
                device = VerifiedVdisk.open(id, label, ignored -> raw);
            }
        } catch (IOException | RuntimeException e) {
            raw.close();
            throw e;
        }
        slot.swap(device, label, remote);
        return true;
    }

    /** The chain's own description, top layer first: the disk adds no layer of its own to name. */
    @Override
    public String describe() {
        return next.describe();
    }

    /** Immutable configuration of one disk; {@link #build()} opens it. */
    public static final class Builder {
        private Path generationDir;
        private VdiskResolver resolver;
        private String vmId;
        private final Map<ContentId, VdiskLabel> labels = new HashMap<>();
        private BlockCache cache;
        private Set<String> cachedBackends = Set.of();
        private ReadaheadConfig readahead = ReadaheadConfig.DEFAULT;
        private Set<String> readaheadBackends;
        private PrefetchStore prefetchStore;
        private PrefetchConfig prefetchConfig = PrefetchConfig.DEFAULT;
        private Consumer<String> notices = line -> { };

        private Builder() {
        }

        public Builder generationDir(Path dir) {
            this.generationDir = dir;
            return this;
        }

        public Builder resolver(VdiskResolver resolver) {
            this.resolver = resolver;
            return this;
        }

        /** The VM this disk belongs to, for stats; defaults to the generation directory's parent name. */
        public Builder vmId(String vmId) {
            this.vmId = vmId;
            return this;
        }

        /** App and backend names of the vdisks, for stats and errors; unlabelled vdisks show their short id. */
        public Builder labels(Map<ContentId, VdiskLabel> labels) {
            this.labels.putAll(labels);
            return this;
        }

        /**
         * Reads app vdisks whose backend is in {@code backends} through the shared {@code cache}; other
         * backends (the local one, typically) are read directly.
         */
        public Builder cache(BlockCache cache, Set<String> backends) {
            this.cache = cache;
            this.cachedBackends = Set.copyOf(backends);
            return this;
        }

        /** Readahead for app data on every backend. */
        public Builder readahead(ReadaheadConfig config) {
            this.readahead = Objects.requireNonNull(config);
            this.readaheadBackends = null;
            return this;
        }

        /**
         * Readahead only for app data on {@code backends}: prefetching pays for remote stores; on a local
         * file the kernel's own readahead already does the job and an extra copy only costs (see the benchmark
         * in docs/filter-chain.md).
         */
        public Builder readahead(ReadaheadConfig config, Set<String> backends) {
            this.readahead = Objects.requireNonNull(config);
            this.readaheadBackends = Set.copyOf(backends);
            return this;
        }

        /**
         * Start-up traces for the apps read through the shared cache: replays each one's stored list in the
         * background, records a list for those without one (docs/prefetch.md). Needs {@link #cache}.
         */
        public Builder prefetch(PrefetchStore store, PrefetchConfig config) {
            this.prefetchStore = Objects.requireNonNull(store);
            this.prefetchConfig = Objects.requireNonNull(config);
            return this;
        }

        /** Where one-line notices of background work go (a prefetch list that could not be stored, say). */
        public Builder notices(Consumer<String> notices) {
            this.notices = Objects.requireNonNull(notices);
            return this;
        }

        public DynamicContentDisk build() throws IOException {
            if (generationDir == null || resolver == null) {
                throw new IllegalStateException("a dynamic content disk needs a generation directory and a resolver");
            }
            Path meta = generationDir.resolve(META_IMAGE);
            Path regions = generationDir.resolve(REGION_MAP);
            if (!Files.isRegularFile(meta) || !Files.isRegularFile(regions)) {
                throw new IOException(generationDir + " is not a disk generation (needs " + META_IMAGE + " and "
                        + REGION_MAP + ")");
            }
            RegionMap map = RegionMap.load(regions);
            VdiskSlot[] slots = new VdiskSlot[map.vdisks().size()];
            for (int i = 0; i < slots.length; i++) {
                ContentId id = map.vdisks().get(i);
                VdiskLabel label = labels.getOrDefault(id, new VdiskLabel(id.shortHex(), "unknown"));
                boolean cached = cache != null && cachedBackends.contains(label.backend());
                boolean prefetched = readaheadBackends == null || readaheadBackends.contains(label.backend());
                BlockCache c = cache;
                slots[i] = new VdiskSlot(id, label, prefetched, resolver, cached
                        ? (vid, l, r) -> CachedVdisk.open(c, vid, l, r)
                        : VerifiedVdisk::open);
            }
            boolean[] cachedSlots = new boolean[slots.length];
            for (int i = 0; i < slots.length; i++) {
                cachedSlots[i] = cache != null && cachedBackends.contains(slots[i].label().backend());
            }
            RedirectPlugin redirect = new RedirectPlugin(map, meta, slots);
            ExtendedBlockDevice chain = redirect;
            ReadaheadFilter ra = null;
            Prefetcher prefetcher = null;
            OverlayFilter overlay;
            try {
                // Always in the chain when enabled: an app that moves to a remote backend is prefetched from then on
                // (a slot says per read whether its backend is worth it), even if the disk started all local.
                if (readahead.enabled() && slots.length > 0) {
                    ra = new ReadaheadFilter(chain, map, readahead, redirect::resident,
                            new ReadaheadFilter.Filler() {
                                @Override
                                public boolean fills(long offset) {
                                    return redirect.fills(offset);
                                }

                                @Override
                                public void fill(long offset, long length, Runnable progress) throws IOException {
                                    redirect.fill(offset, length, progress);
                                }
                            }, i -> slots[i].remote());
                    chain = ra;
                }
                if (prefetchStore != null) {
                    prefetcher = Prefetcher.open(chain, map, redirect, prefetchStore, prefetchConfig, cachedSlots, notices);
                    chain = prefetcher;
                }
                overlay = OverlayFilter.open(chain, generationDir);
            } catch (IOException | RuntimeException e) {
                chain.close();
                throw e;
            }
            String vm = vmId != null ? vmId
                    : generationDir.toAbsolutePath().getParent() == null ? generationDir.toString()
                    : generationDir.toAbsolutePath().getParent().getFileName().toString();
            StatsFilter stats = new StatsFilter(overlay, vm, map, slots.length, i -> slots[i].label(),
                    overlay::writtenBlocks);
            return new DynamicContentDisk(generationDir, stats, overlay, ra, redirect, slots, cache, prefetcher);
        }
    }
}
