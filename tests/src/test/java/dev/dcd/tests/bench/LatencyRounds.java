package dev.dcd.tests.bench;

import static dev.dcd.tests.bench.BenchMath.max;
import static dev.dcd.tests.bench.BenchMath.median;
import static dev.dcd.tests.bench.BenchMath.min;
import static dev.dcd.tests.bench.BenchMath.mibPerSecond;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.dcd.filter.BlockCache;
import dev.dcd.filter.DynamicContentDisk;
import dev.dcd.filter.ReadaheadConfig;
import dev.dcd.synth.FileIndex;
import dev.dcd.tests.s3.S3Home;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.LongSupplier;
import java.util.zip.CRC32C;

/**
 * What the latency benchmarks (S3, LUN, NFS behind a {@code LatencyProxy}) share: the delays they step through, the
 * cold pass through the full chain, the naive loop's 1 MiB reads, the interleaved rounds and the per-delay summary.
 * Each bench keeps only what is its own: the server, the proxy, the backend URI and the naive client.
 */
final class LatencyRounds {
    private static final int MIB = BenchMath.MIB;

    private LatencyRounds() {
    }

    /** One timed pass; answers nanoseconds. */
    @FunctionalInterface
    interface Pass {
        long nanos() throws Exception;
    }

    /** A naive client's positional read into {@code buffer} (its position to its limit). */
    @FunctionalInterface
    interface Reader {
        void read(long offset, ByteBuffer buffer) throws IOException;
    }

    /**
     * A cold pass: its time, the proxy requests sent during it, the chain's readahead counters, and where its time
     * went ({@link Timeline}; empty when not sampled).
     */
    record Cold(long nanos, long requests, long[] readahead, String detail) {
        String readaheadText() {
            return "readahead prefetches " + readahead[0] + ", hits " + readahead[1] + ", slow streams " + readahead[2]
                    + (readahead.length > 3 ? ", deep by latency " + readahead[3] : "");
        }
    }

    /** A cold pass with its detail. */
    @FunctionalInterface
    interface ColdPass {
        Cold pass() throws Exception;
    }

    /**
     * Samples the proxy's counters every 2 ms while a pass runs, to say where its time went: when the first response
     * bytes reached the client, when a quarter, half and all of the file's bytes had (the proxy also counts protocol
     * headers, so "all" comes a little early), and requests sent and MiB received per tenth of the pass (the ramp:
     * how many requests were under way and how fast bytes came in at each point).
     */
    static final class Timeline implements AutoCloseable {
        private static final long STEP_NANOS = 2_000_000L;
        private final LongSupplier bytesDown;
        private final LongSupplier requests;
        private final long baseBytes;
        private final long baseRequests;
        private final long start = System.nanoTime();
        private final java.util.List<long[]> samples = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
        private final Thread sampler;
        private volatile boolean stop;

        Timeline(LongSupplier bytesDown, LongSupplier requests) {
            this.bytesDown = bytesDown;
            this.requests = requests;
            this.baseBytes = bytesDown.getAsLong();
            this.baseRequests = requests.getAsLong();
            sampler = new Thread(() -> {
                while (!stop) {
                    sample();
                    java.util.concurrent.locks.LockSupport.parkNanos(STEP_NANOS);
                }
            }, "bench-timeline");
            sampler.setDaemon(true);
            sampler.start();
        }

        private void sample() {
            samples.add(new long[] {System.nanoTime() - start, bytesDown.getAsLong() - baseBytes,
                    requests.getAsLong() - baseRequests});
        }

        @Override
        public void close() throws InterruptedException {
            stop = true;
            sampler.join();
            sample();
        }

        /** The summary line for a pass of {@code bytes} that took {@code nanos}. */
        String describe(long bytes, long nanos) {
            List<long[]> all;
            synchronized (samples) {
                all = List.copyOf(samples);
            }
            StringBuilder b = new StringBuilder("first bytes at ").append(ms(firstAt(all, 1))).append(" ms, 1/4 at ")
                    .append(ms(firstAt(all, bytes / 4))).append(", 1/2 at ").append(ms(firstAt(all, bytes / 2)))
                    .append(", all at ").append(ms(firstAt(all, bytes))).append(" of ").append(ms(nanos))
                    .append(" ms; per tenth (requests sent, MiB in):");
            long prevBytes = 0;
            long prevRequests = 0;
            for (int t = 1; t <= 10; t++) {
                long[] at = lastBefore(all, nanos * t / 10);
                b.append(' ').append(at[2] - prevRequests).append('/')
                        .append(String.format(Locale.ROOT, "%.1f", (at[1] - prevBytes) / (double) MIB));
                prevBytes = at[1];
                prevRequests = at[2];
            }
            return b.toString();
        }

        private static long firstAt(List<long[]> all, long bytes) {
            for (long[] s : all) {
                if (s[1] >= bytes) {
                    return s[0];
                }
            }
            return -1;
        }

        private static long[] lastBefore(List<long[]> all, long nanos) {
            long[] last = {0, 0, 0};
            for (long[] s : all) {
                if (s[0] > nanos) {
                    break;
                }
                last = s;
            }
            return last;
        }

        private static String ms(long nanos) {
            return nanos < 0 ? "-" : String.format(Locale.ROOT, "%.0f", nanos / 1e6);
        }
    }

    /** The added delays in milliseconds: {@code -Dbench.delays}, by default 0, 5 and 20. */
    static int[] delays() {
        return Arrays.stream(System.getProperty("bench.delays", "0,5,20").split(","))
                .mapToInt(s -> Integer.parseInt(s.trim())).toArray();
    }

    /**
     * New backends and a new cache: nothing of the file is anywhere in dcd; one sequential pass of
     * {@code request}-byte reads through the full chain, checked against {@code crc}. {@code requests} counts what
     * the proxy saw; only the timed read is counted, not opening the disk.
     */
    static Cold chainCold(S3Home dcd, Path dir, String backend, FileIndex.Node file, ReadaheadConfig readahead,
            int request, long crc, LongSupplier requests) throws Exception {
        return chainCold(dcd, dir, backend, file, readahead, request, crc, requests, null);
    }

    /**
     * As above; with {@code bytesDown} (the proxy's bytes to the client) the pass is sampled by a {@link Timeline},
     * and its detail also gives readahead's measured time to first byte and any failed prefetches.
     */
    static Cold chainCold(S3Home dcd, Path dir, String backend, FileIndex.Node file, ReadaheadConfig readahead,
            int request, long crc, LongSupplier requests, LongSupplier bytesDown) throws Exception {
        Path cacheDir = Files.createTempDirectory(dir, "cache");
        try (S3Home view = new S3Home(dcd.home());
             BlockCache cache = BlockCache.open(cacheDir, file.size() + 64L * MIB);
             DynamicContentDisk disk = view.open("remote", cache, Set.of(backend), readahead, Set.of(backend))) {
            long before = requests.getAsLong();
            Timeline timeline = bytesDown == null ? null : new Timeline(bytesDown, requests);
            long start = System.nanoTime();
            long read = S3Home.crc32c(disk, file, request);
            long nanos = System.nanoTime() - start;
            String detail = "";
            if (timeline != null) {
                timeline.close();
                String failures = disk.readaheadFailures();
                detail = timeline.describe(file.size(), nanos) + String.format(Locale.ROOT,
                        "; readahead's time to first byte %.1f ms", disk.readaheadLatencyNanos(0) / 1e6)
                        + (failures.isEmpty() ? "" : "; prefetches " + failures);
            }
            assertEquals(crc, read, "chain pass");
            return new Cold(nanos, requests.getAsLong() - before, disk.readaheadCounters(), detail);
        } finally {
            BenchFiles.deleteTree(cacheDir);
        }
    }

    /** {@link #chainCold(S3Home, Path, String, FileIndex.Node, ReadaheadConfig, int, long, LongSupplier)}'s time. */
    static long chainCold(S3Home dcd, Path dir, String backend, FileIndex.Node file, ReadaheadConfig readahead,
            int request, long crc) throws Exception {
        return chainCold(dcd, dir, backend, file, readahead, request, crc, () -> 0).nanos();
    }

    /**
     * A careless client's loop: one 1 MiB read at a time over {@code [from, from + length)}, bytes hashed but not
     * verified per chunk; the whole is checked against {@code crc}. Nanoseconds.
     */
    static long naivePass(Reader reader, long from, long length, long crc) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(MIB);
        CRC32C digest = new CRC32C();
        long start = System.nanoTime();
        for (long at = 0; at < length; at += MIB) {
            buffer.clear().limit((int) Math.min(MIB, length - at));
            reader.read(from + at, buffer);
            buffer.flip();
            digest.update(buffer);
        }
        long nanos = System.nanoTime() - start;
        assertEquals(crc, digest.getValue(), "naive pass");
        return nanos;
    }

    /**
     * Warm-up ({@code -Dbench.warmup}, 2 by default, not recorded, no delay), then for each delay {@code rounds}
     * rounds of the naive pass and the chain's cold pass interleaved, each round's line and the delay's summary into
     * {@code report}. {@code turns} counts the delayed turns of the proxies, around each whole pass.
     */
    static void run(int[] delays, int rounds, long bytes, Consumer<Duration> delay, LongSupplier turns, Pass naive,
            Pass chain, List<String> report) throws Exception {
        run(delays, rounds, bytes, delay, turns, naive, chain, ms -> { }, report);
    }

    /** Something a bench measures after each timed round, at that round's delay, outside the counted passes. */
    @FunctionalInterface
    interface AfterRound {
        void run(int delayMs) throws Exception;
    }

    /** As above, with {@code after} run after each timed round (not during the warm-up). */
    static void run(int[] delays, int rounds, long bytes, Consumer<Duration> delay, LongSupplier turns, Pass naive,
            Pass chain, AfterRound after, List<String> report) throws Exception {
        run(delays, rounds, bytes, delay, turns, naive, () -> new Cold(chain.nanos(), 0, new long[4], ""), after, report);
    }

    /** As above, with the chain pass's detail (where its time went) after each round's line. */
    static void run(int[] delays, int rounds, long bytes, Consumer<Duration> delay, LongSupplier turns, Pass naive,
            ColdPass chain, List<String> report) throws Exception {
        run(delays, rounds, bytes, delay, turns, naive, chain, ms -> { }, report);
    }

    /** As above, with {@code after} run after each timed round (not during the warm-up). */
    static void run(int[] delays, int rounds, long bytes, Consumer<Duration> delay, LongSupplier turns, Pass naive,
            ColdPass chain, AfterRound after, List<String> report) throws Exception {
        delay.accept(Duration.ZERO);
        for (int w = 0; w < Integer.getInteger("bench.warmup", 2); w++) {
            naive.nanos();
            chain.pass();
        }
        for (int ms : delays) {
            delay.accept(Duration.ofMillis(ms));
            long[] naiveNanos = new long[rounds];
            long[] chainNanos = new long[rounds];
            double[] ratio = new double[rounds];
            for (int r = 0; r < rounds; r++) {
                long before = turns.getAsLong();
                naiveNanos[r] = naive.nanos();
                long naiveTurns = turns.getAsLong() - before;
                before = turns.getAsLong();
                Cold cold = chain.pass();
                chainNanos[r] = cold.nanos();
                long chainTurns = turns.getAsLong() - before;
                ratio[r] = (double) naiveNanos[r] / chainNanos[r];
                report.add(String.format(Locale.ROOT, "delay %d ms round %d: naive %.1f MiB/s (%d delayed turns), "
                                + "chain cold %.1f MiB/s (%d delayed turns), %.2fx", ms, r + 1,
                        mibPerSecond(bytes, naiveNanos[r]), naiveTurns, mibPerSecond(bytes, chainNanos[r]), chainTurns,
                        ratio[r]) + (cold.detail().isEmpty() ? "" : "\n    " + cold.readaheadText() + "; " + cold.detail()));
                after.run(ms);
            }
            report.add(summary(ms, bytes, naiveNanos, chainNanos, ratio));
        }
    }

    /** The delay's line: median throughputs, the median of the per-round ratios with their spread, the load. */
    static String summary(int delay, long bytes, long[] naive, long[] chain, double[] ratio) {
        return String.format(Locale.ROOT, "delay %d ms: naive %.1f MiB/s, chain cold %.1f MiB/s (medians), "
                        + "median of ratios %.2fx (min %.2fx, max %.2fx); load average %.1f", delay,
                mibPerSecond(bytes, median(naive)), mibPerSecond(bytes, median(chain)), median(ratio), min(ratio),
                max(ratio), BenchData.load());
    }
}
