package dev.dcd.filter;

/**
 * Readahead tuning: the window starts at {@code minWindow} and doubles with every prefetch of a sequential
 * stream up to {@code maxWindow}; at most {@code streams} sequential readers are tracked at once, with at
 * most two prefetches each in flight, on {@code threads} background threads. Buffers come from a pool of
 * {@code 2 * streams} buffers of {@code maxWindow} bytes, allocated on first use.
 */
public record ReadaheadConfig(boolean enabled, int minWindow, int maxWindow, int streams, int threads) {
    /**
     * For remote backends (readahead is off for local ones). Windows grow to 16 MiB because one window becomes
     * one backend read, which the S3 device cuts into parallel ranged GETs: at 4 MiB, 128 KiB FUSE reads of a
     * cold file through the chain were no faster than a single-stream loop of 1 MiB GETs (0.91x); at 16 MiB
     * 1.94x (S3ChainBench, docs/s3-backend.md). Cost: up to {@code 2 * streams} direct buffers of 16 MiB,
     * allocated only as sequential streams need them.
     */
    public static final ReadaheadConfig DEFAULT = new ReadaheadConfig(true, 128 * 1024, 16 * 1024 * 1024, 4, 2);
    public static final ReadaheadConfig DISABLED = new ReadaheadConfig(false, 128 * 1024, 16 * 1024 * 1024, 4, 2);

    public ReadaheadConfig {
        if (minWindow < 4096 || maxWindow < minWindow || streams < 1 || threads < 1) {
            throw new IllegalArgumentException("readahead needs 4 KiB <= minWindow <= maxWindow, streams >= 1 and "
                    + "threads >= 1");
        }
    }
}
