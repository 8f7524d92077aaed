package dev.dcd.filter;

import dev.dcd.synth.RegionMap;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.IntFunction;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.LongSupplier;

/**
 * Counts every request at the top of the chain: per operation (requests, bytes, errors, latency histogram)
 * and, for reads, per app and per backend by looking the range up in the region map. Attribution is by
 * where the guest's bytes are mapped, so a read of an app's file counts for that app even if the overlay
 * served a block the guest rewrote. Recording is lock-free (adders), so the hot path only pays the clock.
 */
final class StatsFilter extends Filter {
    enum Op { READ, WRITE, FLUSH, TRIM, ZERO, EXTENTS }

    private static final int APP_DATA = RegionMap.Kind.APP_DATA.ordinal();

    private final String vm;
    private final RegionMap map;
    /** The label of vdisk i now: its app, and the backend serving it (which changes when the app moves). */
    private final IntFunction<VdiskLabel> labels;
    private final LongSupplier overlayBlocks;
    private final Counter[] ops = new Counter[Op.values().length];
    /**
     * Per vdisk, a counter per backend that served it: after a move the old backend's counters stop growing and
     * the new one's start. Almost always one entry, so the look-up on the read path is one small hash probe.
     */
    private final ConcurrentHashMap<String, Counter>[] vdisks;

    StatsFilter(ExtendedBlockDevice next, String vm, RegionMap map, List<VdiskLabel> labels, LongSupplier overlayBlocks) {
        this(next, vm, map, labels.size(), List.copyOf(labels)::get, overlayBlocks);
    }

    @SuppressWarnings("unchecked")
    StatsFilter(ExtendedBlockDevice next, String vm, RegionMap map, int vdiskCount, IntFunction<VdiskLabel> labels,
                LongSupplier overlayBlocks) {
        super(next);
        this.vm = vm;
        this.map = map;
        this.labels = labels;
        this.overlayBlocks = overlayBlocks;
        for (int i = 0; i < ops.length; i++) {
            ops[i] = new Counter();
        }
        vdisks = new ConcurrentHashMap[vdiskCount];
        for (int i = 0; i < vdisks.length; i++) {
            vdisks[i] = new ConcurrentHashMap<>();
        }
    }

    private Counter vdiskCounter(int vdisk) {
        String backend = labels.apply(vdisk).backend();
        Counter c = vdisks[vdisk].get(backend);
        return c != null ? c : vdisks[vdisk].computeIfAbsent(backend, b -> new Counter());
    }

    private static final class Counter {
        final LongAdder ops = new LongAdder();
        final LongAdder bytes = new LongAdder();
        final LongAdder errors = new LongAdder();
        final LatencyHistogram latency = new LatencyHistogram();
    }

    @Override
    protected String filterName() {
        return "stats";
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        int length = dst.remaining();
        long start = System.nanoTime();
        boolean ok = false;
        try {
            next.read(offset, dst);
            ok = true;
        } finally {
            long nanos = System.nanoTime() - start;
            record(Op.READ, length, nanos, ok);
            if (ok && vdisks.length > 0 && length > 0) {
                attribute(offset, length, nanos);
            }
        }
    }

    private void attribute(long offset, int length, long nanos) {
        long end = offset + length;
        long pos = offset;
        int index = map.indexOf(pos);
        int lastVdisk = -1;
        while (pos < end) {
            RegionMap.Region r = map.region(index++);
            long n = Math.min(end, r.end()) - pos;
            if (r.kind().ordinal() == APP_DATA) {
                Counter c = vdiskCounter(r.vdisk());
                c.bytes.add(n);
                if (r.vdisk() != lastVdisk) {
                    c.ops.increment();
                    c.latency.record(nanos);
                    lastVdisk = r.vdisk();
                }
            }
            pos += n;
        }
    }

    @Override
    public void write(long offset, ByteBuffer src) throws IOException {
        int length = src.remaining();
        long start = System.nanoTime();
        boolean ok = false;
        try {
            next.write(offset, src);
            ok = true;
        } finally {
            record(Op.WRITE, length, System.nanoTime() - start, ok);
        }
    }

    @Override
    public void flush() throws IOException {
        long start = System.nanoTime();
        boolean ok = false;
        try {
            next.flush();
            ok = true;
        } finally {
            record(Op.FLUSH, 0, System.nanoTime() - start, ok);
        }
    }

    @Override
    public void trim(long offset, long length) throws IOException {
        long start = System.nanoTime();
        boolean ok = false;
        try {
            next.trim(offset, length);
            ok = true;
        } finally {
            record(Op.TRIM, length, System.nanoTime() - start, ok);
        }
    }

    @Override
    public void zero(long offset, long length) throws IOException {
        long start = System.nanoTime();
        boolean ok = false;
        try {
            next.zero(offset, length);
            ok = true;
        } finally {
            record(Op.ZERO, length, System.nanoTime() - start, ok);
        }
    }

    @Override
    public List<Extent> extents(long offset, long length) throws IOException {
        long start = System.nanoTime();
        boolean ok = false;
        try {
            List<Extent> result = next.extents(offset, length);
            ok = true;
            return result;
        } finally {
            record(Op.EXTENTS, length, System.nanoTime() - start, ok);
        }
    }

    private void record(Op op, long bytes, long nanos, boolean ok) {
        Counter c = ops[op.ordinal()];
        c.ops.increment();
        if (ok) {
            c.bytes.add(bytes);
        } else {
            c.errors.increment();
        }
        c.latency.record(nanos);
    }

    StatsSnapshot snapshot() {
        List<StatsSnapshot.OpStats> opStats = new ArrayList<>();
        for (Op op : Op.values()) {
            Counter c = ops[op.ordinal()];
            long[] h = c.latency.counts();
            opStats.add(new StatsSnapshot.OpStats(op.name().toLowerCase(java.util.Locale.ROOT), c.ops.sum(),
                    c.bytes.sum(), c.errors.sum(), LatencyHistogram.percentile(h, 0.50),
                    LatencyHistogram.percentile(h, 0.99), h));
        }
        Map<String, long[]> apps = new TreeMap<>();
        Map<String, long[]> backends = new TreeMap<>();
        Map<String, String> serving = new TreeMap<>();
        for (int i = 0; i < vdisks.length; i++) {
            VdiskLabel label = labels.apply(i);
            serving.put(label.app(), label.backend());
            apps.computeIfAbsent(label.app(), k -> new long[2 + LatencyHistogram.BUCKETS]);
            backends.computeIfAbsent(label.backend(), k -> new long[2 + LatencyHistogram.BUCKETS]);
            for (Map.Entry<String, Counter> e : vdisks[i].entrySet()) {
                Counter c = e.getValue();
                long[] h = c.latency.counts();
                merge(apps, label.app(), c, h);
                merge(backends, e.getKey(), c, h);
            }
        }
        return new StatsSnapshot(vm, opStats, groups(apps), groups(backends), overlayBlocks.getAsLong(), serving);
    }

    /** Accumulates {reads, bytes, histogram...} under {@code key}. */
    private static void merge(Map<String, long[]> into, String key, Counter c, long[] histogram) {
        long[] acc = into.computeIfAbsent(key, k -> new long[2 + LatencyHistogram.BUCKETS]);
        acc[0] += c.ops.sum();
        acc[1] += c.bytes.sum();
        for (int b = 0; b < histogram.length; b++) {
            acc[2 + b] += histogram[b];
        }
    }

    private static List<StatsSnapshot.GroupStats> groups(Map<String, long[]> byName) {
        List<StatsSnapshot.GroupStats> out = new ArrayList<>();
        byName.forEach((name, acc) -> {
            long[] h = java.util.Arrays.copyOfRange(acc, 2, acc.length);
            out.add(new StatsSnapshot.GroupStats(name, acc[0], acc[1], LatencyHistogram.percentile(h, 0.50),
                    LatencyHistogram.percentile(h, 0.99)));
        });
        return out;
    }
}
