package dev.dcd.synth;

import dev.dcd.vdisk.ContentId;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Collects metadata and app-data ranges in any order; {@link #build()} sorts them, merges touching metadata
 * ranges and fills the gaps with zero regions. Overlaps are synthesizer bugs and fail loudly.
 */
public final class RegionMapBuilder {
    private final long size;
    private final List<ContentId> vdisks;
    private long[] starts = new long[1024];
    private long[] lengths = new long[1024];
    private byte[] kinds = new byte[1024];
    private int[] indexes = new int[1024];
    private long[] offsets = new long[1024];
    private int count;

    public RegionMapBuilder(long size, List<ContentId> vdisks) {
        this.size = size;
        this.vdisks = List.copyOf(vdisks);
    }

    public long size() {
        return size;
    }

    public RegionMapBuilder metadata(long start, long length) {
        return add(start, length, RegionMap.Kind.METADATA, -1, 0);
    }

    public RegionMapBuilder appData(long start, long length, int vdisk, long vdiskOffset) {
        if (vdisk < 0 || vdisk >= vdisks.size()) {
            throw new IllegalArgumentException("no vdisk with index " + vdisk);
        }
        return add(start, length, RegionMap.Kind.APP_DATA, vdisk, vdiskOffset);
    }

    private RegionMapBuilder add(long start, long length, RegionMap.Kind kind, int vdisk, long vdiskOffset) {
        if (length <= 0) {
            return this;
        }
        if (start < 0 || start + length > size) {
            throw new IllegalArgumentException("region [" + start + ", +" + length + ") outside disk of " + size + " bytes");
        }
        if (count == starts.length) {
            int n = count * 2;
            starts = Arrays.copyOf(starts, n);
            lengths = Arrays.copyOf(lengths, n);
            kinds = Arrays.copyOf(kinds, n);
            indexes = Arrays.copyOf(indexes, n);
            offsets = Arrays.copyOf(offsets, n);
        }
        starts[count] = start;
        lengths[count] = length;
        kinds[count] = (byte) kind.ordinal();
        indexes[count] = vdisk;
        offsets[count] = vdiskOffset;
        count++;
        return this;
    }

    public RegionMap build() {
        Integer[] order = new Integer[count];
        for (int i = 0; i < count; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Long.compare(starts[a], starts[b]));
        Out out = new Out(count * 2 + 2);
        long cursor = 0;
        for (int i : order) {
            if (starts[i] < cursor) {
                throw new IllegalStateException("regions overlap at byte " + starts[i] + " (a synthesizer bug)");
            }
            if (starts[i] > cursor) {
                out.add(cursor, starts[i] - cursor, RegionMap.Kind.ZERO.ordinal(), -1, 0);
            }
            out.add(starts[i], lengths[i], kinds[i], indexes[i], offsets[i]);
            cursor = starts[i] + lengths[i];
        }
        if (cursor < size) {
            out.add(cursor, size - cursor, RegionMap.Kind.ZERO.ordinal(), -1, 0);
        }
        return new RegionMap(size, vdisks, Arrays.copyOf(out.starts, out.n), Arrays.copyOf(out.lengths, out.n),
                Arrays.copyOf(out.kinds, out.n), Arrays.copyOf(out.indexes, out.n), Arrays.copyOf(out.offsets, out.n));
    }

    private static final class Out {
        final long[] starts;
        final long[] lengths;
        final byte[] kinds;
        final int[] indexes;
        final long[] offsets;
        int n;

        Out(int capacity) {
            starts = new long[capacity];
            lengths = new long[capacity];
            kinds = new byte[capacity];
            indexes = new int[capacity];
            offsets = new long[capacity];
        }

        void add(long start, long length, int kind, int index, long offset) {
            if (n > 0 && kinds[n - 1] == kind && starts[n - 1] + lengths[n - 1] == start) {
                boolean contiguousData = kind != RegionMap.Kind.APP_DATA.ordinal()
                        || (indexes[n - 1] == index && offsets[n - 1] + lengths[n - 1] == offset);
                if (contiguousData) {
                    lengths[n - 1] += length;
                    return;
                }
            }
            starts[n] = start;
            lengths[n] = length;
            kinds[n] = (byte) kind;
            indexes[n] = index;
            offsets[n] = offset;
            n++;
        }
    }
}
