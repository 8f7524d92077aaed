package dev.dcd.filter;

import java.util.concurrent.atomic.LongAdder;

/**
 * Latencies in power-of-two nanosecond buckets: bucket {@code b} holds {@code [2^(b-1), 2^b)} ns, so 64
 * adders cover everything and recording is one increment. Percentiles report the bucket's upper bound,
 * which overstates by less than 2x and never understates. Public for the shell's background reader, which
 * reports its read latencies the same way the stats filter does.
 */
public final class LatencyHistogram {
    public static final int BUCKETS = 64;
    private final LongAdder[] buckets = new LongAdder[BUCKETS];

    public LatencyHistogram() {
        for (int i = 0; i < BUCKETS; i++) {
            buckets[i] = new LongAdder();
        }
    }

    static int bucketOf(long nanos) {
        return nanos <= 0 ? 0 : Math.min(BUCKETS - 1, 64 - Long.numberOfLeadingZeros(nanos));
    }

    /** Upper bound in nanoseconds of what bucket {@code b} holds. */
    static long upperBound(int b) {
        return b >= 63 ? Long.MAX_VALUE : 1L << b;
    }

    public void record(long nanos) {
        buckets[bucketOf(nanos)].increment();
    }

    public long[] counts() {
        long[] c = new long[BUCKETS];
        for (int i = 0; i < BUCKETS; i++) {
            c[i] = buckets[i].sum();
        }
        return c;
    }

    /** The {@code fraction} percentile (0..1] of {@code counts} as a bucket upper bound, 0 when empty. */
    public static long percentile(long[] counts, double fraction) {
        long total = 0;
        for (long c : counts) {
            total += c;
        }
        if (total == 0) {
            return 0;
        }
        long rank = (long) Math.ceil(total * fraction);
        long seen = 0;
        for (int b = 0; b < counts.length; b++) {
            seen += counts[b];
            if (seen >= rank) {
                return upperBound(b);
            }
        }
        return upperBound(counts.length - 1);
    }
}
