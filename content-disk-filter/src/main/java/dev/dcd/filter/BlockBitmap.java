package dev.dcd.filter;

import java.util.concurrent.atomic.AtomicLongArray;

/**
 * One bit per overlay block. Readers test bits with volatile reads and no lock; writers change bits only
 * while holding the overlay's journal lock, so the bit order and the journal order always agree.
 */
final class BlockBitmap {
    private final AtomicLongArray words;
    private final long blocks;
    private long setCount;

    BlockBitmap(long blocks) {
        if (blocks > (long) Integer.MAX_VALUE * 64) {
            throw new IllegalArgumentException("disk too large for the overlay bitmap: " + blocks + " blocks");
        }
        this.blocks = blocks;
        this.words = new AtomicLongArray((int) ((blocks + 63) >>> 6));
    }

    long blocks() {
        return blocks;
    }

    boolean get(long block) {
        return (words.get((int) (block >>> 6)) & (1L << block)) != 0;
    }

    /** True when any block in {@code [first, last]} is set. */
    boolean any(long first, long last) {
        int w0 = (int) (first >>> 6);
        int w1 = (int) (last >>> 6);
        for (int w = w0; w <= w1; w++) {
            long mask = -1L;
            if (w == w0) {
                mask &= -1L << first;
            }
            if (w == w1) {
                mask &= -1L >>> (63 - (last & 63));
            }
            if ((words.get(w) & mask) != 0) {
                return true;
            }
        }
        return false;
    }

    /** First block at or after {@code from} (and at most {@code last + 1}) whose bit differs from {@code value}. */
    long runEnd(long from, long last, boolean value) {
        long b = from;
        while (b <= last) {
            long word = words.get((int) (b >>> 6));
            if (!value) {
                word = ~word;
            }
            long rest = word >>> (b & 63);
            if (rest != -1L >>> (b & 63)) {
                long stop = b + Long.numberOfTrailingZeros(~rest);
                return Math.min(stop, last + 1);
            }
            b = (b | 63) + 1;
        }
        return last + 1;
    }

    /** Sets or clears {@code [first, first + count)}; caller holds the overlay's journal lock. */
    void assign(long first, long count, boolean value) {
        long b = first;
        long end = first + count;
        while (b < end) {
            int w = (int) (b >>> 6);
            long stop = Math.min(end, ((long) w + 1) << 6);
            long mask = (stop - b == 64) ? -1L : ((1L << (stop - b)) - 1) << b;
            long old = words.get(w);
            long updated = value ? old | mask : old & ~mask;
            setCount += Long.bitCount(updated) - Long.bitCount(old);
            words.set(w, updated);
            b = stop;
        }
    }

    long setCount() {
        return setCount;
    }

    /** Runs of set blocks, as (first, count) pairs, for compaction. */
    void forEachRun(RunConsumer consumer) {
        long b = 0;
        while (b < blocks) {
            long end = runEnd(b, blocks - 1, get(b));
            if (get(b)) {
                consumer.run(b, end - b);
            }
            b = end;
        }
    }

    @FunctionalInterface
    interface RunConsumer {
        void run(long first, long count);
    }
}
