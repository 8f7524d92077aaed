package dev.dcd.filter;

import java.time.Duration;
import java.util.function.LongSupplier;

/**
 * How the prefetcher records and replays start-up traces (docs/prefetch.md).
 *
 * @param record      record a trace for each remote app that has no list yet
 * @param window      how long after an app's first read its reads are recorded ({@code DCD_PREFETCH_SECONDS})
 * @param threads     replay threads, each with one backend request in flight: fewer than the backend's read pool,
 *                    so demand reads always find free requests
 * @param runChunks   most consecutive listed chunks fetched in one backend request
 * @param nanoTime    the clock recording windows are measured with (injected in tests)
 */
public record PrefetchConfig(boolean record, Duration window, int threads, int runChunks, LongSupplier nanoTime) {
    public static final PrefetchConfig DEFAULT = new PrefetchConfig(true, Duration.ofSeconds(30), 4, 16, System::nanoTime);

    public PrefetchConfig {
        if (window.isNegative() || window.isZero()) {
            throw new IllegalArgumentException("prefetch window must be positive: " + window);
        }
        if (threads < 1 || runChunks < 1) {
            throw new IllegalArgumentException("prefetch threads and run length must be >= 1");
        }
    }

    public PrefetchConfig withRecord(boolean value) {
        return new PrefetchConfig(value, window, threads, runChunks, nanoTime);
    }

    public PrefetchConfig withWindow(Duration value) {
        return new PrefetchConfig(record, value, threads, runChunks, nanoTime);
    }

    public PrefetchConfig withThreads(int value) {
        return new PrefetchConfig(record, window, value, runChunks, nanoTime);
    }

    public PrefetchConfig withNanoTime(LongSupplier value) {
        return new PrefetchConfig(record, window, threads, runChunks, value);
    }
}
