package dev.dcd.tests.bench;

import dev.dcd.tests.vmmount.VmCli;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A reader at full speed through a REAL mount while {@code dcd catalog move} moves its app back and forth
 * between two local backends N times. The reader reads every file whole with O_DIRECT, in 128 KiB calls, so each
 * call reaches the serving process (not the kernel's page cache) and is checked against the source. Reports failed and wrong reads (must be 0) and the cost of the cutover two
 * ways, each next to the same reader with NO move in the same run (stretches of reading before the first and after
 * the last move):
 * <ul>
 *   <li>per move: the longest single read that overlapped the move's command (p50, p90, p99, max over the moves,
 *       nearest rank; with fewer than 100 moves p99 is the max, and the report says so), against the longest read
 *       in no-move windows of the same length;</li>
 *   <li>per read: the distribution (p50, p99, p99.9, max) of every read call that overlapped a move, against every
 *       read call of the no-move stretches: thousands of samples each, so p99 is not one outlier.</li>
 * </ul>
 * And the move's throughput against {@code cp} of the vdisk file, with the load average at start and end.
 *
 * <p>Run (FUSE; the jar must be packaged, which {@code -am verify} does):
 * {@code mvn -B -o -pl tests -am verify -Dit.test=LiveMoveBench -Dtest=NONE -Dsurefire.failIfNoSpecifiedTests=false}.
 * {@code -Dbench.mib} (default 64), {@code -Dbench.moves} (default 40), {@code -Dbench.quiet-ms} (no-move reading
 * before the first and again after the last move, default 15000 each). Output also in
 * tests/target/bench/live-move.txt.
 */
class LiveMoveBench {
    private static final int MIB = Integer.getInteger("bench.mib", 64);
    private static final int MOVES = Integer.getInteger("bench.moves", 40);
    private static final int READ = 128 << 10;
    private static final int ALIGNMENT = 4096;
    private static final long QUIET_MILLIS = Long.getLong("bench.quiet-ms", 15_000);

    @TempDir
    Path tmp;

    /** One read call: when it started and ended (nanoTime). */
    record Read(long start, long end) {
        long nanos() {
            return end - start;
        }
    }

    @Test
    void aReaderKeepsReadingWhileTheAppMovesBackAndForth() throws Exception {
        Path tree = tmp.resolve("tree");
        long total = FuseReads.makeTree(tree, MIB);
        List<String> files = FuseReads.list(tree);
        Path home = tmp.resolve("home");
        Path store2 = Files.createDirectories(tmp.resolve("store2"));
        VmCli.dcdOk(home, "catalog", "import", tree.toString(), "--name", "bench", "--version", "1");
        VmCli.dcdOk(home, "backend", "add", "store2", "local://" + store2);
        VmCli.dcdOk(home, "vm", "create", "bench", "--size", Long.toString(((long) MIB * 2 << 20) + (256L << 20)));
        VmCli.dcdOk(home, "vm", "assign", "bench", "bench");
        VmCli.dcdOk(home, "disk", "build", "bench");
        Path vdisk;
        try (var s = Files.list(home.resolve("vdisks"))) {
            vdisk = s.filter(p -> p.toString().endsWith(".vdisk")).findFirst().orElseThrow();
        }
        long vdiskBytes = Files.size(vdisk);

        Path mnt = Files.createDirectories(tmp.resolve("mnt"));
        VmCli.dcdOk(home, "mount", "bench", mnt.toString());
        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong failed = new AtomicLong();
        AtomicLong wrong = new AtomicLong();
        AtomicLong bytes = new AtomicLong();
        ConcurrentLinkedQueue<Read> reads = new ConcurrentLinkedQueue<>();
        List<String> errors = new ArrayList<>();
        Thread reader = new Thread(() -> {
            byte[] got = new byte[READ];
            byte[] want = new byte[READ];
            ByteBuffer buffer = ByteBuffer.allocateDirect(READ + ALIGNMENT).alignedSlice(ALIGNMENT);
            while (!stop.get()) {
                for (String f : files) {
                    if (stop.get()) {
                        break;
                    }
                    // O_DIRECT: every read reaches the serving process, and through it the backend. Without it
                    // the kernel keeps the files' pages across opens and the reader would measure its page cache.
                    try (FileChannel in = FileChannel.open(mnt.resolve("files").resolve(f), StandardOpenOption.READ,
                            com.sun.nio.file.ExtendedOpenOption.DIRECT);
                         InputStream ref = Files.newInputStream(tree.resolve(f))) {
                        long size = in.size();
                        for (long pos = 0; pos < size; ) { // whole aligned calls; only the last one is short
                            buffer.clear().limit(READ);
                            long start = System.nanoTime();
                            int n = in.read(buffer, pos);
                            reads.add(new Read(start, System.nanoTime()));
                            if (n <= 0) {
                                throw new IOException("read at " + pos + " of " + size + " returned " + n);
                            }
                            buffer.flip().get(got, 0, n);
                            int m = ref.readNBytes(want, 0, n);
                            if (n != m || !Arrays.equals(got, 0, n, want, 0, m)) {
                                wrong.incrementAndGet();
                            }
                            bytes.addAndGet(n);
                            pos += n;
                        }
                        if (ref.read() >= 0) {
                            wrong.incrementAndGet();
                        }
                    } catch (IOException e) {
                        failed.incrementAndGet();
                        synchronized (errors) {
                            if (errors.size() < 5) {
                                errors.add(f + ": " + e);
                            }
                        }
                    }
                }
            }
        }, "bench-reader");
        long[] moveNanos = new long[MOVES];
        long[][] windows = new long[MOVES][2];
        long[][] quietStretches = new long[2][2];
        String loadAtStart = loadAverage();
        try {
            reader.start();
            // Warm up: one full pass before the first move, so the first cutover is not a cold-start figure.
            long warm = System.nanoTime() + 60_000_000_000L;
            while (bytes.get() < total && System.nanoTime() < warm) {
                Thread.onSpinWait();
            }
            // Then a stretch of reading without a move, as long as a few moves, for the baseline the stalls are
            // compared with: on a loaded machine reads stall anyway. Timed reading, not synchronisation.
            quietStretches[0] = quietStretch();
            for (int i = 0; i < MOVES; i++) {
                String to = i % 2 == 0 ? "store2" : "local";
                long start = System.nanoTime();
                VmCli.dcdOk(home, "catalog", "move", "bench", "--to", to);
                long end = System.nanoTime();
                moveNanos[i] = end - start;
                windows[i] = new long[] {start, end};
            }
            // And again after the last move, so that a load that drifts during the run weighs on both sides.
            quietStretches[1] = quietStretch();
        } finally {
            stop.set(true);
            reader.join(120_000);
            VmCli.quietly("java", "-jar", VmCli.JAR.toString(), "--home", home.toString(), "umount", mnt.toString());
            VmCli.quietly("fusermount", "-u", "-z", mnt.toString());
        }

        // cp of the vdisk file, the plain local-to-local copy a move is compared with (same run, same machine).
        Path copy = tmp.resolve("cp-copy.vdisk");
        long[] cpNanos = new long[3];
        for (int i = 0; i < cpNanos.length; i++) {
            Files.deleteIfExists(copy);
            long start = System.nanoTime();
            VmCli.ok("cp", findVdisk(home, store2).toString(), copy.toString());
            VmCli.ok("sync", copy.toString());
            cpNanos[i] = System.nanoTime() - start;
        }

        List<Read> all = new ArrayList<>(reads);
        long[] stalls = new long[MOVES];
        for (int i = 0; i < MOVES; i++) {
            stalls[i] = longestIn(all, windows[i][0], windows[i][1]);
        }
        // The same statistic in windows without a move: what the loaded machine does to reads anyway.
        long[] quiet = quietWindows(all, quietStretches, BenchMath.median(moveNanos));
        long[] duringMoves = durations(all, windows);
        long[] withoutMoves = durations(all, quietStretches);
        long[] sortedStalls = stalls.clone();
        Arrays.sort(sortedStalls);
        Arrays.sort(quiet);
        String loadAtEnd = loadAverage();
        StringBuilder report = new StringBuilder();
        report.append(String.format("LiveMoveBench: %d files, %.0f MiB app (vdisk %.1f MiB), %d moves local <-> store2 under"
                + " one reader (%d KiB reads); load average at start %s, at end %s%n", files.size(), total / 1048576.0,
                vdiskBytes / 1048576.0, MOVES, READ >> 10, loadAtStart, loadAtEnd));
        report.append(String.format("reads: %d, %.0f MiB, failed %d, wrong %d%n", all.size(), bytes.get() / 1048576.0,
                failed.get(), wrong.get()));
        report.append(String.format("per move, longest read overlapping the move command (n=%d%s): p50 %.1f ms, p90 %.1f ms,"
                + " p99 %.1f ms, max %.1f ms%n", MOVES, MOVES < 100 ? ", so p99 = max" : "",
                percentile(sortedStalls, 0.50) / 1e6, percentile(sortedStalls, 0.90) / 1e6,
                percentile(sortedStalls, 0.99) / 1e6, sortedStalls[MOVES - 1] / 1e6));
        report.append(String.format("  no move, longest read in windows of the same length (n=%d): p50 %.1f ms, p90 %.1f ms,"
                + " max %.1f ms%n", quiet.length, percentile(quiet, 0.50) / 1e6, percentile(quiet, 0.90) / 1e6,
                quiet.length == 0 ? 0 : quiet[quiet.length - 1] / 1e6));
        report.append(distribution("per read, every read call overlapping a move", duringMoves));
        report.append(distribution("  no move, every read call of the no-move stretches", withoutMoves));
        double moveMibs = BenchMath.mibPerSecond(vdiskBytes, BenchMath.median(moveNanos));
        double cpMibs = BenchMath.mibPerSecond(vdiskBytes, BenchMath.median(cpNanos));
        report.append(String.format("move (whole command: JVM start, copy, verify, switch, delete): median %.0f ms = %.1f MiB/s;"
                + " cp + sync of the vdisk: median %.0f ms = %.1f MiB/s; ratio %.2fx%n", BenchMath.median(moveNanos) / 1e6,
                moveMibs, BenchMath.median(cpNanos) / 1e6, cpMibs, moveMibs / cpMibs));
        BenchFiles.writeReport("live-move.txt", report);
        assertEquals(List.of(), errors, "failed reads");
        assertEquals(0, failed.get(), "failed reads");
        assertEquals(0, wrong.get(), "wrong reads");
        assertTrue(all.size() > MOVES, "the reader ran");
    }

    /** Wherever the vdisk lives after the moves (local or store2). */
    private static Path findVdisk(Path home, Path store2) throws IOException {
        for (Path dir : List.of(home.resolve("vdisks"), store2)) {
            try (var s = Files.list(dir)) {
                var found = s.filter(p -> p.getFileName().toString().endsWith(".vdisk")).findFirst();
                if (found.isPresent()) {
                    return found.get();
                }
            }
        }
        throw new IOException("no vdisk found");
    }

    private static long longestIn(List<Read> reads, long from, long to) {
        long longest = 0;
        for (Read r : reads) {
            if (r.end() >= from && r.start() <= to) {
                longest = Math.max(longest, r.nanos());
            }
        }
        return longest;
    }

    /** Reads on without a move for {@link #QUIET_MILLIS}; returns that stretch (nanoTime). Timed reading, not a wait. */
    private static long[] quietStretch() throws InterruptedException {
        long start = System.nanoTime();
        Thread.sleep(QUIET_MILLIS);
        return new long[] {start, System.nanoTime()};
    }

    /** The longest read in each window of {@code length} that fits in the no-move stretches. */
    private static long[] quietWindows(List<Read> reads, long[][] stretches, long length) {
        List<Long> out = new ArrayList<>();
        for (long[] stretch : stretches) {
            for (long from = stretch[0]; length > 0 && from + length <= stretch[1]; from += length) {
                out.add(longestIn(reads, from, from + length));
            }
        }
        return out.stream().mapToLong(Long::longValue).toArray();
    }

    /** The durations of every read call that overlapped one of {@code windows}, sorted. */
    private static long[] durations(List<Read> reads, long[][] windows) {
        long[] out = reads.stream().filter(r -> {
            for (long[] w : windows) {
                if (r.end() >= w[0] && r.start() <= w[1]) {
                    return true;
                }
            }
            return false;
        }).mapToLong(Read::nanos).sorted().toArray();
        return out;
    }

    private static String distribution(String what, long[] sorted) {
        if (sorted.length == 0) {
            return what + ": no reads\n";
        }
        return String.format("%s (n=%d): p50 %.2f ms, p99 %.1f ms, p99.9 %.1f ms, max %.1f ms%n", what, sorted.length,
                percentile(sorted, 0.50) / 1e6, percentile(sorted, 0.99) / 1e6, percentile(sorted, 0.999) / 1e6,
                sorted[sorted.length - 1] / 1e6);
    }

    private static String loadAverage() throws IOException {
        String[] f = Files.readString(Path.of("/proc/loadavg")).strip().split("\\s+");
        return f[0] + " " + f[1] + " " + f[2];
    }

    private static long percentile(long[] sorted, double p) {
        if (sorted.length == 0) {
            return 0;
        }
        int index = (int) Math.ceil(p * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, index))];
    }
}
