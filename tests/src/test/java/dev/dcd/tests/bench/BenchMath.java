package dev.dcd.tests.bench;

import java.util.Arrays;

/** The arithmetic every benchmark here reports with: medians of rounds and throughput. */
final class BenchMath {
    static final int MIB = 1 << 20;

    private BenchMath() {
    }

    /** The upper median: with an even count, the larger middle value, so a figure is always one measured round. */
    static long median(long[] values) {
        long[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }

    static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }

    /** The smallest of the rounds' values (0 for none). */
    static double min(double[] values) {
        return Arrays.stream(values).min().orElse(0);
    }

    /** The largest of the rounds' values (0 for none). */
    static double max(double[] values) {
        return Arrays.stream(values).max().orElse(0);
    }

    static double mibPerSecond(long bytes, long nanos) {
        return bytes / (double) MIB / (nanos / 1e9);
    }
}
