package dev.dcd.mount;

import java.util.Arrays;
import java.util.concurrent.atomic.LongAdder;

/**
 * What one low-level server answered, by FUSE opcode: how many requests, and the nanoseconds from a request read off
 * {@code /dev/fuse} to its reply written back (the server's whole share of a round trip), and of that the nanoseconds
 * READs spent in the disk (the filter chain or the source). Lock-free, a few nanoseconds per request; the benchmark
 * reads them to tell where a cold read's time goes (docs/benchmarks.md, "Where a cold files/ read spends its time").
 */
public final class RequestCounters {
    /** Opcodes above this (CUSE_INIT, 4096) are counted together in the last slot. */
    private static final int SLOTS = 64;

    private final LongAdder[] requests = adders();
    private final LongAdder[] nanos = adders();
    private final LongAdder diskReadNanos = new LongAdder();

    private static LongAdder[] adders() {
        LongAdder[] a = new LongAdder[SLOTS];
        Arrays.setAll(a, i -> new LongAdder());
        return a;
    }

    private static int slot(int opcode) {
        return opcode >= 0 && opcode < SLOTS ? opcode : SLOTS - 1;
    }

    /** One request answered (or, for FORGET and INTERRUPT, taken) in {@code elapsedNanos}. */
    void answered(int opcode, long elapsedNanos) {
        requests[slot(opcode)].increment();
        nanos[slot(opcode)].add(elapsedNanos);
    }

    /** Time a READ spent in the disk. */
    void diskRead(long elapsedNanos) {
        diskReadNanos.add(elapsedNanos);
    }

    public Snapshot snapshot() {
        long[] r = new long[SLOTS];
        long[] n = new long[SLOTS];
        for (int i = 0; i < SLOTS; i++) {
            r[i] = requests[i].sum();
            n[i] = nanos[i].sum();
        }
        return new Snapshot(r, n, diskReadNanos.sum());
    }

    /** Counters at one moment; {@link #minus} gives those of an interval. */
    public record Snapshot(long[] requests, long[] nanos, long diskReadNanos) {
        public Snapshot minus(Snapshot earlier) {
            long[] r = requests.clone();
            long[] n = nanos.clone();
            for (int i = 0; i < r.length; i++) {
                r[i] -= earlier.requests[i];
                n[i] -= earlier.nanos[i];
            }
            return new Snapshot(r, n, diskReadNanos - earlier.diskReadNanos);
        }

        public long requests(int opcode) {
            return requests[slot(opcode)];
        }

        public long nanos(int opcode) {
            return nanos[slot(opcode)];
        }

        public long totalNanos() {
            return Arrays.stream(nanos).sum();
        }

        /**
         * "LOOKUP 697 (7.1 us), OPEN 687 (4.2 us), ...; in the server 65.2 ms, of which READ in the disk 31.0 ms":
         * each opcode seen with its count and mean time in the server.
         */
        public String describe() {
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < requests.length; i++) {
                if (requests[i] > 0) {
                    sb.append(sb.length() == 0 ? "" : ", ").append(FuseWire.opcodeName(i)).append(' ').append(requests[i])
                            .append(String.format(" (%.1f us)", nanos[i] / 1000.0 / requests[i]));
                }
            }
            return sb.append(String.format("; in the server %.1f ms, of which READ in the disk %.1f ms",
                    totalNanos() / 1e6, diskReadNanos / 1e6)).toString();
        }
    }
}
