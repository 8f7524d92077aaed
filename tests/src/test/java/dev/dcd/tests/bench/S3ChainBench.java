package dev.dcd.tests.bench;

import static dev.dcd.tests.bench.BenchData.vdiskOffsetOf;
import static dev.dcd.tests.bench.BenchData.writeRandom;
import static dev.dcd.tests.bench.BenchMath.max;
import static dev.dcd.tests.bench.BenchMath.median;
import static dev.dcd.tests.bench.BenchMath.min;
import static dev.dcd.tests.bench.BenchMath.mibPerSecond;

import dev.dcd.filter.BlockCache;
import dev.dcd.filter.DynamicContentDisk;
import dev.dcd.filter.ReadaheadConfig;
import dev.dcd.synth.FileIndex;
import dev.dcd.tests.s3.S3Home;
import dev.dcd.tests.s3.S3ProxyServer;
import dev.dcd.vdisk.VdiskFormat;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.core.sync.ResponseTransformer;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Two apps of one 256 MiB file each, imported to S3 (S3Proxy) through the real command tree, read front to back in
 * 128 KiB requests (what FUSE sends) through the full chain of their VM's disk: stats, cow, readahead for the S3
 * backend, redirect, the shared cache. Rounds take the two files in turn. In the same run, against the same
 * S3Proxy, rounds interleaved:
 *
 * <ul>
 * <li>cold against the named peer, a naive single-stream loop of 1 MiB ranged GETs of the same bytes (AWS SDK,
 *     Apache client) - target >= 3x. Cold means new backends (nothing of the vdisk in dcd's memory) over the cache
 *     a mount keeps using: sized for one file, so the other file's turn has evicted this one (checked: the pass
 *     must miss every chunk but one). A second cold row ({@code -Dbench.new-cache=false} leaves it out) reads
 *     through a cache created for the pass, whose slab is memory the VM has not touched lately; a third compares
 *     with the naive loop in 128 KiB GETs, the size of the requests the chain itself is asked for;</li>
 * <li>warm (a second pass over the same chain, served by the cache) against the same file imported to the
 *     local backend and read through its VM's chain (page cache warmed by an untimed pass, no dcd cache, as
 *     configured for local backends) - target >= 0.8x.</li>
 * </ul>
 * Every pass checks the CRC32C of all it read against the source file's (hardware-assisted, so the check costs
 * little next to the reads; sha256 would cost as much as the transfers measured). Per round it also reports the
 * CPU time of this JVM and of S3Proxy, and how long this JVM's compilers ran. A benchmark, not a timed test: it
 * reports, it does not assert a speed.
 *
 * <pre>
 * mvn -B -o -pl tests -am verify -Dit.test=S3ChainBench -Dtest=NONE -Dsurefire.failIfNoSpecifiedTests=false
 * </pre>
 * Knobs: {@code -Dbench.mib=256}, {@code -Dbench.rounds=5}, {@code -Dbench.warmup=10} (untimed rounds first),
 * {@code -Dbench.request-kib=128}, {@code -Dbench.naive-kib=1024}, {@code -Dbench.naive-small-kib=128} (0 leaves the
 * second peer out), {@code -Dbench.new-cache=true}, {@code -Dbench.uri-extra=&piece-kib=1024} (extra S3 URI
 * parameters), {@code -Dbench.ra-min-kib}, {@code -Dbench.ra-max-kib}, {@code -Dbench.ra-threads} (readahead instead
 * of the product's default), {@code -Dbench.ceiling-streams=4}, {@code -Dbench.ceiling-kib=32768}. Output also in
 * {@code tests/target/bench/s3-chain.txt}.
 */
class S3ChainBench {
    private static final int MIB = BenchMath.MIB;
    private static final String BUCKET = "dcd-chain-bench";
    private static final String S3 = "s3";
    /** The product's readahead unless -Dbench.ra-min-kib / -Dbench.ra-max-kib / -Dbench.ra-threads override it. */
    private static final ReadaheadConfig READAHEAD = BenchData.readahead();

    @Test
    void coldAndWarmSequentialReadThroughTheFullChain() throws Exception {
        int mib = Integer.getInteger("bench.mib", 256);
        int rounds = Integer.getInteger("bench.rounds", 5);
        int request = Integer.getInteger("bench.request-kib", 128) * 1024;
        int naiveRequest = Integer.getInteger("bench.naive-kib", 1024) * 1024;
        int smallRequest = Integer.getInteger("bench.naive-small-kib", 128) * 1024;
        Path dir = Files.createTempDirectory("dcd-s3-chain-bench");
        List<String> report = new ArrayList<>();
        try (S3ProxyServer server = S3ProxyServer.start(Files.createDirectories(dir.resolve("server")));
             S3Home dcd = new S3Home(dir.resolve("home"))) {
            server.exportCredentialsAsSystemProperties();
            server.createBucket(BUCKET);
            Path app = Files.createDirectories(dir.resolve("src/big-1"));
            long sha = writeRandom(app.resolve("big.bin"), (long) mib * MIB, 7);
            Path other = Files.createDirectories(dir.resolve("src/big2-1"));
            long otherSha = writeRandom(other.resolve("big2.bin"), (long) mib * MIB, 8);
            dcd.ok("backend", "add", S3, "s3://" + BUCKET + "/apps?endpoint=" + server.endpoint()
                    + "&region=us-east-1&path-style=true" + System.getProperty("bench.uri-extra", ""));
            long t0 = System.nanoTime();
            dcd.ok("catalog", "import", app.toString(), "--name", "big", "--version", "1", "--backend", S3);
            long importNanos = System.nanoTime() - t0;
            dcd.ok("catalog", "import", other.toString(), "--name", "big2", "--version", "1", "--backend", S3);
            dcd.ok("catalog", "import", app.toString(), "--name", "bigl", "--version", "1");
            dcd.ok("vm", "create", "remote", "--size", (2 * mib + 64) + "M");
            dcd.ok("vm", "assign", "remote", "big@1");
            dcd.ok("vm", "assign", "remote", "big2@1");
            dcd.ok("disk", "build", "remote");
            dcd.ok("vm", "create", "local", "--size", (mib + 64) + "M");
            dcd.ok("vm", "assign", "local", "bigl@1");
            dcd.ok("disk", "build", "local");
            FileIndex remoteIndex = dcd.index("remote");
            Target[] targets = {
                    new Target(remoteIndex.get("big.bin"), "apps/" + dcd.app("big@1").contentId() + ".vdisk",
                            vdiskOffsetOf(dcd, "remote", remoteIndex.get("big.bin")), sha),
                    new Target(remoteIndex.get("big2.bin"), "apps/" + dcd.app("big2@1").contentId() + ".vdisk",
                            vdiskOffsetOf(dcd, "remote", remoteIndex.get("big2.bin")), otherSha)};
            FileIndex.Node localFile = dcd.index("local").get("big.bin");
            long bytes = targets[0].file.size();
            report.add(String.format(Locale.ROOT, "file %d MiB (two apps of one such file, read in turn), chain requests "
                    + "%d KiB, naive GETs %d KiB (second peer %d KiB), %d rounds, readahead %s, uri extra '%s', import "
                    + "to s3 %.1f MiB/s", mib, request / 1024, naiveRequest / 1024, smallRequest / 1024, rounds,
                    READAHEAD, System.getProperty("bench.uri-extra", ""), mibPerSecond(bytes, importNanos)));

            // The cache a mount keeps using: one size for both apps' turns, so reading one evicts the other (LRU),
            // as in a cache shared by many apps. Its slab's pages stay in memory between rounds. One chunk larger than
            // the file, so one turn leaves at most one chunk of the other's.
            BlockCache shared = BlockCache.open(dir.resolve("shared-cache"), bytes + VdiskFormat.CHECKSUM_CHUNK);
            try {
                // Warm-up of every path (JIT, connections), not recorded, in both JVMs (this one and S3Proxy's).
                // Full size: a 64 MiB warm-up left the naive loop's first recorded round partly interpreted (2+ s of
                // client CPU against 0.4-0.9 s later), which flattered the chain. Several rounds: perf showed the
                // C1/C2 compiler threads of the two JVMs taking about one of the two cores through the first rounds
                // after a single warm-up round, which slowed whichever pass they overlapped by up to 2x.
                int warmups = Integer.getInteger("bench.warmup", 10);
                for (int w = 0; w < warmups; w++) {
                    Target t = targets[w % 2];
                    long jit = jitMillis();
                    naive(server, t, bytes, naiveRequest, false);
                    ceiling(server, t, bytes);
                    Pass warmup = chainColdAndWarm(dcd, shared, t, request, false);
                    if (NEW_CACHE) {
                        chainColdAndWarm(dcd, null, t, request, false);
                    }
                    local(dcd, localFile, request, null);
                    report.add(String.format(Locale.ROOT, "warm-up %d: cold %.1f MiB/s, warm %.1f MiB/s, JIT here %d ms",
                            w + 1, mibPerSecond(bytes, warmup.cold), mibPerSecond(bytes, warmup.warm), jitMillis() - jit));
                }

                long[] naive = new long[rounds];
                long[] ceiling = new long[rounds];
                double[] ceilingRatio = new double[rounds];
                long[] small = new long[rounds];
                double[] smallRatio = new double[rounds];
                long[] cold = new long[rounds];
                long[] fresh = new long[rounds];
                long[] warm = new long[rounds];
                long[] local = new long[rounds];
                double[] coldRatio = new double[rounds];
                double[] freshRatio = new double[rounds];
                double[] warmRatio = new double[rounds];
                for (int r = 0; r < rounds; r++) {
                    Target t = targets[(warmups + r) % 2];
                    long jit = jitMillis();
                    ProcessCpu before = ProcessCpu.now(server);
                    naive[r] = naive(server, t, bytes, naiveRequest, true);
                    ProcessCpu middle = ProcessCpu.now(server);
                    small[r] = smallRequest > 0 ? naive(server, t, bytes, smallRequest, true) : 0;
                    ceiling[r] = ceiling(server, t, bytes);
                    ceilingRatio[r] = (double) naive[r] / ceiling[r];
                    ProcessCpu beforeChain = ProcessCpu.now(server);
                    Pass pass = chainColdAndWarm(dcd, shared, t, request, true);
                    ProcessCpu afterChain = ProcessCpu.now(server);
                    Pass freshPass = NEW_CACHE ? chainColdAndWarm(dcd, null, t, request, true) : new Pass(1, 1);
                    ProcessCpu afterFresh = ProcessCpu.now(server);
                    String cpu = String.format(Locale.ROOT, "cpu naive: client %.2f s, s3proxy %.2f s; chain cold+warm: "
                                    + "client %.2f s, s3proxy %.2f s (cold alone: %.2f s wall)",
                            middle.client(before), middle.server(before), afterChain.client(beforeChain),
                            afterChain.server(beforeChain), pass.cold / 1e9)
                            + (NEW_CACHE ? String.format(Locale.ROOT, "; new-cache cold+warm: client %.2f s, s3proxy "
                                    + "%.2f s (cold alone: %.2f s wall)", afterFresh.client(afterChain),
                            afterFresh.server(afterChain), freshPass.cold / 1e9) : "");
                    cold[r] = pass.cold;
                    fresh[r] = freshPass.cold;
                    warm[r] = pass.warm;
                    local[r] = local(dcd, localFile, request, sha);
                    coldRatio[r] = (double) naive[r] / cold[r];
                    freshRatio[r] = (double) naive[r] / fresh[r];
                    smallRatio[r] = (double) small[r] / cold[r];
                    warmRatio[r] = (double) local[r] / warm[r];
                    report.add(String.format(Locale.ROOT, "round %d (%s): naive GET loop %.1f MiB/s, chain cold %.1f MiB/s "
                                    + "(%.2fx)%s; chain warm %.1f MiB/s, local chain %.1f MiB/s (%.2fx)", r + 1,
                            t.file.name(), mibPerSecond(bytes, naive[r]), mibPerSecond(bytes, cold[r]), coldRatio[r],
                            NEW_CACHE ? String.format(Locale.ROOT, ", in a new cache %.1f MiB/s (%.2fx)",
                                    mibPerSecond(bytes, fresh[r]), freshRatio[r]) : "",
                            mibPerSecond(bytes, warm[r]), mibPerSecond(bytes, local[r]), warmRatio[r]));
                    if (smallRequest > 0) {
                        report.add(String.format(Locale.ROOT, "  second peer: naive %d KiB GET loop %.1f MiB/s, chain cold "
                                + "%.2fx", smallRequest / 1024, mibPerSecond(bytes, small[r]), smallRatio[r]));
                    }
                    report.add(String.format(Locale.ROOT, "  server ceiling: %d streams of %d KiB GETs, bytes discarded, "
                                    + "%.1f MiB/s = %.2fx the naive loop", CEILING_STREAMS, CEILING_REQUEST / 1024,
                            mibPerSecond(bytes, ceiling[r]), ceilingRatio[r]));
                    report.add("  " + lastReadahead);
                    report.add("  " + cpu + String.format(Locale.ROOT, "; JIT here during the round %d ms", jitMillis() - jit));
                }
                report.add(String.format(Locale.ROOT, "median: naive %.1f MiB/s, cold %.1f MiB/s, warm %.1f MiB/s, local "
                                + "%.1f MiB/s; cold/naive median of ratios %.2fx (min %.2fx, max %.2fx), warm/local median "
                                + "of ratios %.2fx (min %.2fx, max %.2fx); load average %.1f on %d cpus",
                        mibPerSecond(bytes, median(naive)), mibPerSecond(bytes, median(cold)),
                        mibPerSecond(bytes, median(warm)), mibPerSecond(bytes, median(local)),
                        median(coldRatio), min(coldRatio), max(coldRatio),
                        median(warmRatio), min(warmRatio), max(warmRatio),
                        java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage(),
                        Runtime.getRuntime().availableProcessors()));
                if (NEW_CACHE) {
                    report.add(String.format(Locale.ROOT, "cold in a new cache: %.1f MiB/s, cold/naive median of ratios "
                                    + "%.2fx (min %.2fx, max %.2fx)", mibPerSecond(bytes, median(fresh)),
                            median(freshRatio), min(freshRatio), max(freshRatio)));
                }
                report.add(String.format(Locale.ROOT, "server ceiling: %.1f MiB/s, ceiling/naive median of ratios %.2fx "
                                + "(min %.2fx, max %.2fx): no client of this server can be faster than that multiple of the "
                                + "naive loop", mibPerSecond(bytes, median(ceiling)), median(ceilingRatio),
                        min(ceilingRatio), max(ceilingRatio)));
                if (smallRequest > 0) {
                    report.add(String.format(Locale.ROOT, "second peer: naive %d KiB GET loop %.1f MiB/s; cold/naive-%d-KiB "
                                    + "median of ratios %.2fx (min %.2fx, max %.2fx)", smallRequest / 1024,
                            mibPerSecond(bytes, median(small)), smallRequest / 1024, median(smallRatio), min(smallRatio),
                            max(smallRatio)));
                }
            } finally {
                shared.close();
            }
        } finally {
            BenchFiles.deleteTree(dir);
        }
        BenchFiles.writeReport("S3ChainBench", "s3-chain.txt", report);
    }

    private static String lastReadahead = "";

    /** Whether each round also reads cold through a brand-new cache (-Dbench.new-cache=false leaves it out). */
    private static final boolean NEW_CACHE = Boolean.parseBoolean(System.getProperty("bench.new-cache", "true"));

    /** Time this JVM's compiler threads have spent so far: compiling during a round takes a core from it. */
    private static long jitMillis() {
        return java.lang.management.ManagementFactory.getCompilationMXBean().getTotalCompilationTime();
    }

    private record Pass(long cold, long warm) {
    }

    /** An app file of the remote VM: where its bytes sit in its vdisk object, and their CRC32C. */
    private record Target(FileIndex.Node file, String key, long dataOffset, long crc) {
    }

    /**
     * New backends (nothing of the vdisk in dcd's memory) over {@code shared} (which does not hold the file: the
     * other app's turn evicted it) or, when null, over a new cache made for the pass and deleted after it; the file
     * read twice through the same chain.
     */
    private static Pass chainColdAndWarm(S3Home dcd, BlockCache shared, Target target, int request, boolean check)
            throws IOException {
        Path cacheDir = shared == null ? Files.createTempDirectory(dcd.home().getParent(), "cache") : null;
        try (S3Home view = new S3Home(dcd.home());
             BlockCache own = shared == null ? BlockCache.open(cacheDir, target.file.size() + 64L * MIB) : null;
             DynamicContentDisk disk = view.open("remote", shared == null ? own : shared, Set.of(S3), READAHEAD,
                     Set.of(S3))) {
            BlockCache cache = shared == null ? own : shared;
            BlockCache.Stats at = cache.stats();
            long start = System.nanoTime();
            long first = S3Home.crc32c(disk, target.file, request);
            long cold = System.nanoTime() - start;
            BlockCache.Stats afterCold = cache.stats();
            start = System.nanoTime();
            long second = S3Home.crc32c(disk, target.file, request);
            long warm = System.nanoTime() - start;
            if (check) {
                assertEquals(target.crc, first, "cold pass");
                assertEquals(target.crc, second, "warm pass");
                // Cold means it: the file's chunks came from S3 in this pass, not from an earlier one (one may be
                // left of the other turn: the shared cache holds one chunk more than the file).
                long chunks = target.file.size() / VdiskFormat.CHECKSUM_CHUNK;
                assertTrue(afterCold.misses() - at.misses() >= chunks - 1,
                        "cold pass missed " + (afterCold.misses() - at.misses()) + " of " + chunks + " chunks");
            }
            long[] ra = disk.readaheadCounters();
            lastReadahead = "readahead prefetches " + ra[0] + ", hits " + ra[1] + ", cache " + cache.stats();
            return new Pass(cold, warm);
        } finally {
            if (cacheDir != null) {
                BenchFiles.deleteTree(cacheDir);
            }
        }
    }

    /**
     * The same file on the local backend, through its VM's chain as configured for local backends. An untimed
     * pass first puts the vdisk file in the page cache: the peer is "local with the page cache warm", and on a
     * shared machine whose page cache other jobs drop now and then, it would otherwise sometimes be measured
     * reading the disk (between 367 and 7343 MiB/s within one run).
     */
    private static long local(S3Home dcd, FileIndex.Node file, int request, Long sha) throws IOException {
        try (S3Home view = new S3Home(dcd.home());
             DynamicContentDisk disk = view.open("local", null, Set.of(), READAHEAD, Set.of(S3))) {
            S3Home.crc32c(disk, file, request);
            long start = System.nanoTime();
            long read = S3Home.crc32c(disk, file, request);
            long nanos = System.nanoTime() - start;
            if (sha != null) {
                assertEquals(sha.longValue(), read, "local pass");
            }
            return nanos;
        }
    }

    /** One ranged GET after another over the file's bytes in the vdisk object, hashed like the chain's reads. */
    private static long naive(S3ProxyServer server, Target target, long length, int request, boolean check)
            throws Exception {
        String key = target.key;
        long from = target.dataOffset;
        java.util.zip.CRC32C digest = new java.util.zip.CRC32C();
        try (S3Client client = server.client()) {
            long start = System.nanoTime();
            for (long offset = 0; offset < length; offset += request) {
                long first = from + offset;
                long last = from + Math.min(length, offset + request) - 1;
                byte[] got = client.getObject(b -> b.bucket(BUCKET).key(key).range("bytes=" + first + "-" + last),
                        ResponseTransformer.<GetObjectResponse>toBytes()).asByteArrayUnsafe();
                assertEquals(last - first + 1, got.length);
                digest.update(got);
            }
            long nanos = System.nanoTime() - start;
            if (check) {
                assertEquals(target.crc, digest.getValue(), "naive pass");
            }
            return nanos;
        }
    }

    static final int CEILING_STREAMS = Integer.getInteger("bench.ceiling-streams", 4);
    static final int CEILING_REQUEST = Integer.getInteger("bench.ceiling-kib", 32 * 1024) * 1024;

    /**
     * The most this S3Proxy delivers right now to a client that does nothing with the bytes: parallel streams of
     * large ranged GETs, drained into one reused buffer. On loopback the server shares the client's cores, so
     * this bounds every client, the chain included; the cold target is only reachable where it exceeds 3x naive.
     */
    private static long ceiling(S3ProxyServer server, Target target, long length) throws Exception {
        String key = target.key;
        long from = target.dataOffset;
        try (S3Client client = server.client()) {
            ExecutorService pool = Executors.newFixedThreadPool(CEILING_STREAMS);
            try {
                long share = (length + CEILING_STREAMS - 1) / CEILING_STREAMS;
                List<Future<Long>> streams = new ArrayList<>();
                long start = System.nanoTime();
                for (int i = 0; i < CEILING_STREAMS; i++) {
                    long begin = Math.min(length, i * share);
                    long end = Math.min(length, begin + share);
                    streams.add(pool.submit(() -> {
                        byte[] sink = new byte[1 << 20];
                        long got = 0;
                        for (long offset = begin; offset < end; offset += CEILING_REQUEST) {
                            long first = from + offset;
                            long last = from + Math.min(end, offset + CEILING_REQUEST) - 1;
                            try (var in = client.getObject(b -> b.bucket(BUCKET).key(key).range("bytes=" + first + "-" + last))) {
                                for (int n; (n = in.read(sink)) > 0; ) {
                                    got += n;
                                }
                            }
                        }
                        return got;
                    }));
                }
                long total = 0;
                for (var f : streams) {
                    total += f.get();
                }
                long nanos = System.nanoTime() - start;
                assertEquals(length, total, "ceiling pass");
                return nanos;
            } finally {
                pool.shutdownNow();
            }
        }
    }
}
