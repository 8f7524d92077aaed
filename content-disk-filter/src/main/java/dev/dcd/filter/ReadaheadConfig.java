package dev.dcd.filter;

/**
 * Readahead tuning: the window starts at {@code minWindow} and doubles with every prefetch of a sequential
 * stream up to {@code maxWindow}; at most {@code streams} sequential readers are tracked at once, with at
 * most two prefetches each in flight, on {@code threads} background threads. Buffers come from a pool of
 * {@code 2 * streams} buffers of {@code maxWindow} bytes, allocated on first use.
 */
public record ReadaheadConfig(boolean enabled, int minWindow, int maxWindow, int streams, int threads) {
    public static final ReadaheadConfig DEFAULT = new ReadaheadConfig(true, 128 * 1024, 4 * 1024 * 1024, 4, 2);
    public static final ReadaheadConfig DISABLED = new ReadaheadConfig(false, 128 * 1024, 4 * 1024 * 1024, 4, 2);

    public ReadaheadConfig {
        if (minWindow < 4096 || maxWindow < minWindow || streams < 1 || threads < 1) {
            throw new IllegalArgumentException("readahead needs 4 KiB <= minWindow <= maxWindow, streams >= 1 and "
                    + "threads >= 1");
        }
    }
}
