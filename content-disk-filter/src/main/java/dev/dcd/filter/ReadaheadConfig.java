package dev.dcd.filter;

import java.time.Duration;

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
 *
 * <p><b>Latency.</b> The filter measures, per vdisk, how long the backend takes to a request's first byte (a
 * read that missed the cache, a prefetch's first arrival). A vdisk whose requests take at least
 * {@code slowLatency} is <i>far</i>: a sequential stream on it turns deep on its second read, without first
 * making its reader wait, and its window jumps to cover {@code latency * slowRate} bytes (at least the window it
 * had, at most {@code maxWindow}), so from the first prefetches on, {@code slowDepth} windows of at least that
 * size are in flight. {@code slowRate} is the rate one stream is meant to be fed at, not a measured one: bytes
 * in flight must cover latency times bandwidth, and the bandwidth a cold stream could reach is unknown until it
 * is no longer starved. {@code slowRate} 0 turns the latency rule off (streams then turn deep only by waiting).
 */
public record ReadaheadConfig(boolean enabled, int minWindow, int maxWindow, int streams, int threads, int slowDepth,
                              Duration slowLatency, long slowRate) {
    /** Prefetches in flight for a stream whose reader waited on one, unless the config says otherwise. */
    public static final int DEFAULT_SLOW_DEPTH = 3;
    /**
     * A vdisk slower than this to the first byte is far. Above what a loopback S3Proxy or NBD server answers in on
     * an idle machine (under 1-2 ms), below any real network's round trip (5-50 ms).
     */
    public static final Duration DEFAULT_SLOW_LATENCY = Duration.ofMillis(4);
    /**
     * The rate a far stream's windows are sized for: 1 GiB/s, about what the whole chain delivers from a warm
     * backend on this project's 2-core machine; at 20 ms that asks for 20 MiB per window, capped at 16 MiB.
     */
    public static final long DEFAULT_SLOW_RATE = 1L << 30;

    /**
     * For remote backends (readahead is off for local ones). Windows grow to 16 MiB because one window becomes
     * one backend read, which the S3 device cuts into parallel ranged GETs: at 4 MiB, 128 KiB FUSE reads of a
     * cold file through the chain were no faster than a single-stream loop of 1 MiB GETs (0.91x); at 16 MiB
     * 1.94x (S3ChainBench, docs/s3-backend.md). Cost: up to {@code 2 * streams} direct buffers of 16 MiB,
     * allocated only as sequential streams need them (deep streams fill the shared cache and take none).
     * Six threads: three windows in flight for two slow streams at once; a 16 MiB window is two 8 MiB GETs, so
     * one deep stream keeps at most six of the S3 backend's eight read threads busy and a demand read finds one
     * free. So one deep stream has at most {@code 3 * 16} = 48 MiB requested ahead of its reader, all of it into
     * reserved cache slots, and one disk at most {@code threads * 16} = 96 MiB in flight.
     */
    public static final ReadaheadConfig DEFAULT = new ReadaheadConfig(true, 128 * 1024, 16 * 1024 * 1024, 4, 6,
            DEFAULT_SLOW_DEPTH, DEFAULT_SLOW_LATENCY, DEFAULT_SLOW_RATE);
    public static final ReadaheadConfig DISABLED = new ReadaheadConfig(false, 128 * 1024, 16 * 1024 * 1024, 4, 6,
            DEFAULT_SLOW_DEPTH, DEFAULT_SLOW_LATENCY, DEFAULT_SLOW_RATE);

    public ReadaheadConfig {
        if (minWindow < 4096 || maxWindow < minWindow || streams < 1 || threads < 1 || slowDepth < 2) {
            throw new IllegalArgumentException("readahead needs 4 KiB <= minWindow <= maxWindow, streams >= 1, "
                    + "threads >= 1 and slowDepth >= 2");
        }
        if (slowLatency == null || slowLatency.isNegative() || slowRate < 0) {
            throw new IllegalArgumentException("readahead needs a slow latency >= 0 and a slow rate >= 0");
        }
    }

    /** With the default depth and latency rule for slow streams. */
    public ReadaheadConfig(boolean enabled, int minWindow, int maxWindow, int streams, int threads, int slowDepth) {
        this(enabled, minWindow, maxWindow, streams, threads, slowDepth, DEFAULT_SLOW_LATENCY, DEFAULT_SLOW_RATE);
    }

    /** With the default depth and latency rule for slow streams. */
    public ReadaheadConfig(boolean enabled, int minWindow, int maxWindow, int streams, int threads) {
        this(enabled, minWindow, maxWindow, streams, threads, DEFAULT_SLOW_DEPTH);
    }

    /** This config with another latency rule ({@code rate} 0: none). */
    public ReadaheadConfig withLatencyRule(Duration latency, long rate) {
        return new ReadaheadConfig(enabled, minWindow, maxWindow, streams, threads, slowDepth, latency, rate);
    }

    /** Whether the latency rule is on. */
    boolean latencyRule() {
        return slowRate > 0;
    }
}
