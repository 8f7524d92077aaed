package dev.dcd.tests.bench;

import static dev.dcd.tests.bench.BenchMath.max;
import static dev.dcd.tests.bench.BenchMath.median;
import static dev.dcd.tests.bench.BenchMath.min;
import static dev.dcd.tests.bench.BenchMath.mibPerSecond;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dcd.filter.BlockCache;
import dev.dcd.filter.DynamicContentDisk;
import dev.dcd.filter.ReadaheadConfig;
import dev.dcd.synth.FileIndex;
import dev.dcd.vdisk.ContentId;
import dev.dcd.vdisk.VdiskFormat;
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
     * One of the two apps a latency bench alternates between, so that each cold pass through the shared cache finds
     * the other app's chunks there and none of its own: its file on the VM's disk, the file's CRC32C and its content
     * id (hex).
     */
    record App(String name, FileIndex.Node file, long crc, String contentId) {
    }

    /** The VM every latency bench reads through. */
    static final String VM = "remote";

    /**
     * Imports two apps of {@code mib} MiB of random bytes each ({@code big@1} and {@code big2@1}, one file each) onto
     * {@code backend}, and builds VM {@value #VM} with both.
     */
    static List<App> importTwoApps(S3Home dcd, Path dir, String backend, int mib) throws Exception {
        String[] names = {"big", "big2"};
        long[] crcs = new long[names.length];
        for (int a = 0; a < names.length; a++) {
            Path src = Files.createDirectories(dir.resolve("src").resolve(names[a] + "-1"));
            crcs[a] = BenchData.writeRandom(src.resolve(names[a] + ".bin"), (long) mib * MIB, 7 + a);
            dcd.ok("catalog", "import", src.toString(), "--name", names[a], "--version", "1", "--backend", backend);
        }
        dcd.ok("vm", "create", VM, "--size", (names.length * mib + 64) + "M");
        dcd.ok("vm", "assign", VM, names[0] + "@1", names[1] + "@1");
        dcd.ok("disk", "build", VM);
        FileIndex index = dcd.index(VM);
        List<App> apps = new java.util.ArrayList<>();
        for (int a = 0; a < names.length; a++) {
            apps.add(new App(names[a], index.get(names[a] + ".bin"), crcs[a], dcd.app(names[a] + "@1").contentId()));
        }
        return List.copyOf(apps);
    }

    /**
     * The host's cache as it is once in use: sized for one app's file and, after the warm-up, holding the other
     * app's, so every cold pass misses every chunk and recycles slots whose pages already exist (as
     * {@code NfsChainBench}, {@code S3ChainBench} and {@code LunChainBench} measure). The cold pass into a new empty
     * cache is measured beside it: on this VM a new file's pages are first written at about 300 MiB/s, which bounds
     * that pass whatever the latency.
     */
    static BlockCache sharedCache(Path dir, List<App> apps) throws IOException {
        return BlockCache.open(dir.resolve("shared-cache"), apps.get(0).file().size() + MIB);
    }

    /**
     * New backends (the disk opens its remote vdisks ahead, untimed, as a serving disk does) and either {@code shared} (see {@link #sharedCache}; the pass must
     * miss every chunk but one) or, when null, a new empty cache: nothing of the file is in dcd's cache. One
     * sequential pass of {@code request}-byte reads through the full chain, checked against the app's CRC32C.
     * {@code requests} counts what the proxy saw during the timed read; with {@code bytesDown} (the proxy's bytes to
     * the client) the pass is sampled by a {@link Timeline}, and its detail also gives readahead's measured time to
     * first byte and any failed prefetches.
     */
    static Cold chainCold(S3Home dcd, Path dir, String backend, App app, BlockCache shared, ReadaheadConfig readahead,
            int request, LongSupplier requests, LongSupplier bytesDown) throws Exception {
        FileIndex.Node file = app.file();
        Path cacheDir = shared == null ? Files.createTempDirectory(dir, "cache") : null;
        try (S3Home view = new S3Home(dcd.home());
             BlockCache fresh = shared == null ? BlockCache.open(cacheDir, file.size() + 64L * MIB) : null;
             DynamicContentDisk disk = view.open(VM, shared == null ? fresh : shared, Set.of(backend), readahead,
                     Set.of(backend))) {
            BlockCache cache = shared == null ? fresh : shared;
            // As a serving disk does once it serves: the remote vdisks open in the background (a mount is made before
            // the guest reads). Waited for here, untimed, as the naive loops open their connection before timing.
            long openStart = System.nanoTime();
            disk.openAhead();
            assertTrue(disk.awaitOpenAhead(120_000), "vdisks did not open within 120 s");
            long openNanos = System.nanoTime() - openStart;
            assertEquals(0, disk.openAheadCounters()[1], "a vdisk failed to open ahead");
            long missesBefore = cache.stats().misses();
            long before = requests.getAsLong();
            Timeline timeline = bytesDown == null ? null : new Timeline(bytesDown, requests);
            long start = System.nanoTime();
            long read = S3Home.crc32c(disk, file, request);
            long nanos = System.nanoTime() - start;
            String detail = "";
            if (timeline != null) {
                timeline.close();
                String failures = disk.readaheadFailures();
                detail = String.format(Locale.ROOT, "opened ahead in %.0f ms (untimed); ", openNanos / 1e6)
                        + timeline.describe(file.size(), nanos) + String.format(Locale.ROOT,
                        "; readahead's time to first byte %.1f ms", disk.readaheadLatencyNanos(
                                disk.regionMap().vdisks().indexOf(new ContentId(app.contentId()))) / 1e6)
                        + (failures.isEmpty() ? "" : "; prefetches " + failures);
            }
            assertEquals(app.crc(), read, "chain pass of " + app.name());
            long chunks = file.size() / VdiskFormat.CHECKSUM_CHUNK;
            long missed = cache.stats().misses() - missesBefore;
            assertTrue(missed >= chunks - 1, "cold pass of " + app.name() + " missed only " + missed + " of "
                    + chunks + " chunks: it was not cold");
            return new Cold(nanos, requests.getAsLong() - before, disk.readaheadCounters(), detail);
        } finally {
            if (cacheDir != null) {
                BenchFiles.deleteTree(cacheDir);
            }
        }
    }

    /**
     * A careless client's loop: one 1 MiB read at a time over {@code [from, from + length)}, bytes hashed but not
     * verified per chunk; the whole is checked against {@code crc}. Nanoseconds.
     */
    static long naivePass(Reader reader, long from, long length, long crc) throws IOException {
        return sequentialPass(reader, from, length, MIB, crc, "naive pass");
    }

    /**
     * One {@code request}-byte read after another over {@code [from, from + length)}, the whole checked against
     * {@code crc} ({@code what} names the pass if it read wrong bytes). Nanoseconds of the reads.
     */
    static long sequentialPass(Reader reader, long from, long length, int request, long crc, String what)
            throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(request);
        CRC32C digest = new CRC32C();
        long start = System.nanoTime();
        for (long at = 0; at < length; at += request) {
            buffer.clear().limit((int) Math.min(request, length - at));
            reader.read(from + at, buffer);
            buffer.flip();
            digest.update(buffer);
        }
        long nanos = System.nanoTime() - start;
        assertEquals(crc, digest.getValue(), what);
        return nanos;
    }

    /** A naive client's timed pass over one app's bytes: nanoseconds. */
    @FunctionalInterface
    interface Naive {
        long nanos(App app) throws Exception;
    }

    /** A cold pass of one app through the full chain, into {@code shared} or (null) a new cache. */
    @FunctionalInterface
    interface Chain {
        Cold pass(App app, BlockCache shared) throws Exception;
    }

    /** Something a bench measures after each timed round, at that round's delay, outside the counted passes. */
    @FunctionalInterface
    interface AfterRound {
        void run(int delayMs) throws Exception;
    }

    /**
     * Warm-up ({@code -Dbench.warmup}, 2 by default, not recorded, no delay: each app's naive pass and cold pass
     * through {@code shared}, the second app last so that the first timed round finds the other app's chunks in
     * the cache), then for each delay {@code rounds} rounds, the apps in turn, each round: the naive pass, the cold
     * pass through the shared cache in use, the cold pass into a new empty cache; each round's line and the delay's
     * summary into {@code report}. {@code turns} counts the delayed turns of the proxies around each whole pass;
     * {@code after} runs after each timed round.
     */
    static void run(int[] delays, int rounds, List<App> apps, BlockCache shared, Consumer<Duration> delay,
            LongSupplier turns, Naive naive, Chain chain, AfterRound after, List<String> report) throws Exception {
        long bytes = apps.get(0).file().size();
        delay.accept(Duration.ZERO);
        for (int w = 0; w < Integer.getInteger("bench.warmup", 2); w++) {
            for (App app : apps) {
                naive.nanos(app);
                chain.pass(app, shared);
            }
        }
        chain.pass(apps.get(0), null);
        int turn = 0;
        for (int ms : delays) {
            delay.accept(Duration.ofMillis(ms));
            long[] naiveNanos = new long[rounds];
            long[] chainNanos = new long[rounds];
            long[] freshNanos = new long[rounds];
            double[] ratio = new double[rounds];
            double[] freshRatio = new double[rounds];
            for (int r = 0; r < rounds; r++) {
                App app = apps.get(turn++ % apps.size());
                long before = turns.getAsLong();
                naiveNanos[r] = naive.nanos(app);
                long naiveTurns = turns.getAsLong() - before;
                before = turns.getAsLong();
                Cold cold = chain.pass(app, shared);
                chainNanos[r] = cold.nanos();
                long chainTurns = turns.getAsLong() - before;
                Cold fresh = chain.pass(app, null);
                freshNanos[r] = fresh.nanos();
                ratio[r] = (double) naiveNanos[r] / chainNanos[r];
                freshRatio[r] = (double) naiveNanos[r] / freshNanos[r];
                report.add(String.format(Locale.ROOT, "delay %d ms round %d (%s): naive %.1f MiB/s (%d delayed turns), "
                                + "chain cold %.1f MiB/s (%d delayed turns), %.2fx; into a new cache %.1f MiB/s, %.2fx",
                        ms, r + 1, app.name(), mibPerSecond(bytes, naiveNanos[r]), naiveTurns,
                        mibPerSecond(bytes, chainNanos[r]), chainTurns, ratio[r], mibPerSecond(bytes, freshNanos[r]),
                        freshRatio[r])
                        + (cold.detail().isEmpty() ? "" : "\n    " + cold.readaheadText() + "; " + cold.detail())
                        + (fresh.detail().isEmpty() ? "" : "\n    new cache: " + fresh.detail()));
                after.run(ms);
            }
            report.add(summary(ms, bytes, naiveNanos, chainNanos, ratio, freshNanos, freshRatio));
        }
    }

    /**
     * The delay's line: median throughputs, the medians of the per-round ratios with their spread (cache in use, then
     * a new cache), the load.
     */
    static String summary(int delay, long bytes, long[] naive, long[] chain, double[] ratio, long[] fresh,
            double[] freshRatio) {
        return String.format(Locale.ROOT, "delay %d ms: naive %.1f MiB/s, chain cold %.1f MiB/s (medians), "
                        + "median of ratios %.2fx (min %.2fx, max %.2fx); into a new cache %.1f MiB/s, %.2fx (min %.2fx, "
                        + "max %.2fx); load average %.1f", delay,
                mibPerSecond(bytes, median(naive)), mibPerSecond(bytes, median(chain)), median(ratio), min(ratio),
                max(ratio), mibPerSecond(bytes, median(fresh)), median(freshRatio), min(freshRatio), max(freshRatio),
                BenchData.load());
    }
}
