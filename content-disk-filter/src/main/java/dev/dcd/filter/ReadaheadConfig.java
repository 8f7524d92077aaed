package dev.dcd.filter;

/**
 * Readahead tuning: the window starts at {@code minWindow} and doubles with every prefetch of a sequential
 * stream up to {@code maxWindow}; at most {@code streams} sequential readers are tracked at once, with at
 * most two prefetches each in flight, on {@code threads} background threads. Buffers come from a pool of
 * {@code 2 * streams} buffers of {@code maxWindow} bytes, allocated on first use.
 *
 * <p><b>Slow fetches.</b> Once a stream's reader has had to wait for one of its prefetches (the backend is
 * slower than the reader: a remote store's round trips), and the stream prefetches into the shared cache, its
 * window grows fourfold per prefetch instead of twofold and up to {@code slowDepth} prefetches are kept in
 * flight, several issued per read if need be, so that latency times bandwidth worth of bytes is on the way
 * (docs/benchmarks.md, "Remote backends under added latency").
 */
public record ReadaheadConfig(boolean enabled, int minWindow, int maxWindow, int streams, int threads, int slowDepth) {
    /** Prefetches in flight for a stream whose reader waited on one, unless the config says otherwise. */
    public static final int DEFAULT_SLOW_DEPTH = 3;

    /**
     * For remote backends (readahead is off for local ones). Windows grow to 16 MiB because one window becomes
     * one backend read, which the S3 device cuts into parallel ranged GETs: at 4 MiB, 128 KiB FUSE reads of a
     * cold file through the chain were no faster than a single-stream loop of 1 MiB GETs (0.91x); at 16 MiB
     * 1.94x (S3ChainBench, docs/s3-backend.md). Cost: up to {@code 2 * streams} direct buffers of 16 MiB,
     * allocated only as sequential streams need them (deep streams fill the shared cache and take none).
     * Six threads: three windows in flight for two slow streams at once; a 16 MiB window is two 8 MiB GETs, so
     * one deep stream keeps at most six of the S3 backend's eight read threads busy and a demand read finds one
     * free.
     */
    public static final ReadaheadConfig DEFAULT = new ReadaheadConfig(true, 128 * 1024, 16 * 1024 * 1024, 4, 6,
            DEFAULT_SLOW_DEPTH);
    public static final ReadaheadConfig DISABLED = new ReadaheadConfig(false, 128 * 1024, 16 * 1024 * 1024, 4, 6,
            DEFAULT_SLOW_DEPTH);

    public ReadaheadConfig {
        if (minWindow < 4096 || maxWindow < minWindow || streams < 1 || threads < 1 || slowDepth < 2) {
            throw new IllegalArgumentException("readahead needs 4 KiB <= minWindow <= maxWindow, streams >= 1, "
                    + "threads >= 1 and slowDepth >= 2");
        }
    }

    /** With the default depth for slow streams. */
    public ReadaheadConfig(boolean enabled, int minWindow, int maxWindow, int streams, int threads) {
        this(enabled, minWindow, maxWindow, streams, threads, DEFAULT_SLOW_DEPTH);
    }
}
