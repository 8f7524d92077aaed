package dev.dcd.tests.bench;

import static dev.dcd.tests.bench.BenchData.writeRandom;
import static dev.dcd.tests.bench.BenchMath.max;
import static dev.dcd.tests.bench.BenchMath.median;
import static dev.dcd.tests.bench.BenchMath.min;
import static dev.dcd.tests.bench.BenchMath.mibPerSecond;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dcd.backend.Backend;
import dev.dcd.backend.Backends;
import dev.dcd.block.BlockDevice;
import dev.dcd.filter.BlockCache;
import dev.dcd.filter.DynamicContentDisk;
import dev.dcd.filter.ReadaheadConfig;
import dev.dcd.synth.FileIndex;
import dev.dcd.tests.nfs.GaneshaServer;
import dev.dcd.tests.s3.S3Home;
import dev.dcd.vdisk.ContentId;
import dev.dcd.vdisk.VdiskFormat;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;

/**
 * Two apps of one 256 MiB file each, imported to an {@code nfs://} backend on nfs-ganesha (127.0.0.1) through the
 * real command tree, read front to back in 128 KiB requests (what FUSE sends) through the full chain of their VM's
 * disk (stats, cow, readahead, redirect, the shared cache). Rounds take the two files in turn, so each cold pass
 * finds the other file in the cache, not its own (checked: it must miss every chunk but one). In the same run,
 * against the same server, interleaved:
 *
 * <ul>
 * <li>cold against {@code nfs-cat} of the whole vdisk file (libnfs-utils, C, bytes discarded) - target >= 1.5x;</li>
 * <li>cold against a naive single stream of 1 MiB reads with dcd's own client (the backend's device, one worker,
 *     no cache, no readahead);</li>
 * <li>warm (a second pass over the same chain, served by the cache) against the same file on the local backend
 *     through its VM's chain (page cache warmed by an untimed pass) - target >= 0.8x;</li>
 * <li>two ceilings: dcd's NFS device alone reading 16 MiB requests, with the workers the backend chose and with 8 named (what bounds the chain
 *     if the server does), and a new file written in 1 MiB writes (what bounds a cache filling new memory).</li>
 * </ul>
 * Each round first reads its vdisk file on the export once, untimed, so every reader of the round finds it in the
 * server's page cache (nfs-cat, which runs first, used to pay alone for pages the machine dropped in between).
 * Every chain pass checks the CRC32C of what it read against the source. A benchmark, not a timed test: it reports,
 * it does not assert a speed.
 *
 * <pre>
 * mvn -B -o -pl tests -am verify -Dit.test=NfsChainBench -Dtest=NONE -Dsurefire.failIfNoSpecifiedTests=false
 * </pre>
 * Knobs: {@code -Dbench.mib=256}, {@code -Dbench.rounds=5}, {@code -Dbench.warmup=3}, {@code -Dbench.request-kib=128},
 * {@code -Dbench.uri-extra=&read-parallelism=8}. Output also in {@code tests/target/bench/nfs-chain.txt}.
 */
class NfsChainBench {
    private static final int MIB = BenchMath.MIB;
    private static final String NFS = "nas";

    private record Target(FileIndex.Node file, ContentId id, long crc) {
    }

    private record Pass(long cold, long warm) {
    }

    @Test
    void coldAndWarmSequentialReadThroughTheFullChain() throws Exception {
        int mib = Integer.getInteger("bench.mib", 256);
        int rounds = Integer.getInteger("bench.rounds", 5);
        int warmups = Integer.getInteger("bench.warmup", 3);
        int request = Integer.getInteger("bench.request-kib", 128) * 1024;
        Path dir = Files.createTempDirectory("dcd-nfs-chain-bench");
        List<String> report = new ArrayList<>();
        try (GaneshaServer server = GaneshaServer.start(dir.resolve("export"));
             S3Home dcd = new S3Home(dir.resolve("home"))) {
            Files.createDirectories(server.export().resolve("apps"));
            Path app = Files.createDirectories(dir.resolve("src/big-1"));
            long crc = writeRandom(app.resolve("big.bin"), (long) mib * MIB, 7);
            Path other = Files.createDirectories(dir.resolve("src/big2-1"));
            long otherCrc = writeRandom(other.resolve("big2.bin"), (long) mib * MIB, 8);
            dcd.ok("backend", "add", NFS, server.uri("apps", System.getProperty("bench.uri-extra", "")));
            long t0 = System.nanoTime();
            dcd.ok("catalog", "import", app.toString(), "--name", "big", "--version", "1", "--backend", NFS);
            long importNanos = System.nanoTime() - t0;
            dcd.ok("catalog", "import", other.toString(), "--name", "big2", "--version", "1", "--backend", NFS);
            dcd.ok("catalog", "import", app.toString(), "--name", "bigl", "--version", "1");
            dcd.ok("vm", "create", "remote", "--size", (2 * mib + 64) + "M");
            dcd.ok("vm", "assign", "remote", "big@1", "big2@1");
            dcd.ok("disk", "build", "remote");
            dcd.ok("vm", "create", "local", "--size", (mib + 64) + "M");
            dcd.ok("vm", "assign", "local", "bigl@1");
            dcd.ok("disk", "build", "local");
            FileIndex index = dcd.index("remote");
            Target[] targets = {
                    new Target(index.get("big.bin"), new ContentId(dcd.app("big@1").contentId()), crc),
                    new Target(index.get("big2.bin"), new ContentId(dcd.app("big2@1").contentId()), otherCrc)};
            FileIndex.Node localFile = dcd.index("local").get("big.bin");
            long bytes = targets[0].file.size();
            report.add(String.format(Locale.ROOT, "file %d MiB (two apps of one such file, read in turn), chain requests "
                            + "%d KiB, %d rounds after %d untimed, uri extra '%s', import to nfs %.1f MiB/s", mib,
                    request / 1024, rounds, warmups, System.getProperty("bench.uri-extra", ""),
                    mibPerSecond(bytes, importNanos)));
            BlockCache shared = BlockCache.open(dir.resolve("shared-cache"), bytes + VdiskFormat.CHECKSUM_CHUNK);
            try {
                for (int w = 0; w < warmups; w++) {
                    Target t = targets[w % 2];
                    nfsCat(server, t, true);
                    naive(dcd, server, t, false);
                    chain(dcd, shared, t, request, false);
                    local(dcd, localFile, request, null);
                }
                long[] cat = new long[rounds];
                long[] catBytes = new long[rounds];
                long[] naive = new long[rounds];
                long[] cold = new long[rounds];
                long[] warm = new long[rounds];
                long[] local = new long[rounds];
                long[] parallel = new long[rounds];
                long[] parallel2 = new long[rounds];
                long[] ceiling = new long[rounds];
                double[] catRatio = new double[rounds];
                double[] naiveRatio = new double[rounds];
                double[] warmRatio = new double[rounds];
                for (int r = 0; r < rounds; r++) {
                    Target t = targets[(warmups + r) % 2];
                    // Untimed: the round's vdisk file in the server's page cache whatever the machine dropped since
                    // the last round, so nfs-cat (first in the round) does not pay for disk reads the others skip.
                    Path vdisk = server.export().resolve("apps/" + t.id.hex() + ".vdisk");
                    BenchData.pageIn(vdisk, 0, Files.size(vdisk));
                    long[] c = nfsCat(server, t, false);
                    cat[r] = c[0];
                    catBytes[r] = c[1];
                    naive[r] = naive(dcd, server, t, true);
                    Pass pass = chain(dcd, shared, t, request, true);
                    cold[r] = pass.cold;
                    warm[r] = pass.warm;
                    local[r] = local(dcd, localFile, request, crc);
                    parallel[r] = parallel(dcd, server, t, "");
                    parallel2[r] = parallel(dcd, server, t, "&read-parallelism=8");
                    ceiling[r] = BenchData.freshFileWrite(dir.resolve("fresh-" + r), bytes);
                    double catMib = mibPerSecond(catBytes[r], cat[r]);
                    catRatio[r] = mibPerSecond(bytes, cold[r]) / catMib;
                    naiveRatio[r] = (double) naive[r] / cold[r];
                    warmRatio[r] = (double) local[r] / warm[r];
                    report.add(String.format(Locale.ROOT, "round %d (%s): nfs-cat %.1f MiB/s, naive 1 MiB loop %.1f MiB/s, "
                                    + "chain cold %.1f MiB/s (%.2fx nfs-cat, %.2fx naive); chain warm %.1f MiB/s, local "
                                    + "chain %.1f MiB/s (%.2fx); device alone %.1f MiB/s (8 workers %.1f); new-file write %.1f MiB/s; "
                                    + "load average %.1f", r + 1, t.file.name(), catMib,
                            mibPerSecond(bytes, naive[r]), mibPerSecond(bytes, cold[r]), catRatio[r], naiveRatio[r],
                            mibPerSecond(bytes, warm[r]), mibPerSecond(bytes, local[r]), warmRatio[r],
                            mibPerSecond(bytes, parallel[r]), mibPerSecond(bytes, parallel2[r]),
                            mibPerSecond(bytes, ceiling[r]), load()));
                }
                report.add(String.format(Locale.ROOT, "median: nfs-cat %.1f MiB/s, naive %.1f MiB/s, cold %.1f MiB/s, "
                                + "warm %.1f MiB/s, local %.1f MiB/s; cold/nfs-cat median of ratios %.2fx (min %.2fx, "
                                + "max %.2fx); cold/naive %.2fx (min %.2fx, max %.2fx); warm/local %.2fx (min %.2fx, "
                                + "max %.2fx); load average %.1f on %d cpus",
                        mibPerSecond(catBytes[0], median(cat)), mibPerSecond(bytes, median(naive)),
                        mibPerSecond(bytes, median(cold)), mibPerSecond(bytes, median(warm)),
                        mibPerSecond(bytes, median(local)), median(catRatio), min(catRatio), max(catRatio),
                        median(naiveRatio), min(naiveRatio), max(naiveRatio), median(warmRatio), min(warmRatio),
                        max(warmRatio), load(), Runtime.getRuntime().availableProcessors()));
                report.add(String.format(Locale.ROOT, "ceilings (median): dcd's NFS device alone, 16 MiB reads on its "
                                + "workers as the backend chose them (no chain, no cache) %.1f MiB/s = %.2fx nfs-cat, with 8 workers named %.1f MiB/s = %.2fx; a new file written in 1 MiB "
                                + "writes %.1f MiB/s (what a cache's first fill of new memory can reach here)",
                        mibPerSecond(bytes, median(parallel)),
                        mibPerSecond(bytes, median(parallel)) / mibPerSecond(catBytes[0], median(cat)),
                        mibPerSecond(bytes, median(parallel2)),
                        mibPerSecond(bytes, median(parallel2)) / mibPerSecond(catBytes[0], median(cat)),
                        mibPerSecond(bytes, median(ceiling))));
            } finally {
                shared.close();
            }
        } finally {
            BenchFiles.deleteTree(dir);
        }
        BenchFiles.writeReport("NfsChainBench", "nfs-chain.txt", report);
    }

    private static double load() {
        return java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
    }

    /**
     * nfs-cat of the whole vdisk file, as a user would time it: {@code nfs-cat URL > /dev/null}. Its stdout goes
     * straight to /dev/null, so the peer pays no pipe and no reader on the same two cores (an earlier version
     * counted the bytes through a pipe into this JVM, which cost nfs-cat up to half its speed and made it swing
     * 380-1350 MiB/s). The warm-up rounds count the bytes through a pipe once to prove it reads the whole file.
     * Returns nanoseconds and bytes.
     */
    private static long[] nfsCat(GaneshaServer server, Target t, boolean count) throws Exception {
        long start = System.nanoTime();
        ProcessBuilder builder = new ProcessBuilder("nfs-cat", server.libnfsUrl("apps/" + t.id.hex() + ".vdisk"))
                .redirectError(ProcessBuilder.Redirect.INHERIT);
        if (!count) {
            builder.redirectOutput(ProcessBuilder.Redirect.DISCARD);
        }
        Process p = builder.start();
        long got = 0;
        if (count) {
            byte[] sink = new byte[1 << 20];
            try (InputStream in = p.getInputStream()) {
                for (int n; (n = in.read(sink)) > 0; ) {
                    got += n;
                }
            }
        }
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        long nanos = System.nanoTime() - start;
        assertEquals(0, p.exitValue(), "nfs-cat");
        Path vdisk = server.export().resolve("apps/" + t.id.hex() + ".vdisk");
        if (count) {
            assertEquals(Files.size(vdisk), got, "nfs-cat read the whole vdisk");
        }
        return new long[] {nanos, count ? got : Files.size(vdisk)};
    }

    /** One 1 MiB device read after another over the file's bytes: dcd's client, one worker, no cache or readahead. */
    private static long naive(S3Home dcd, GaneshaServer server, Target t, boolean check) throws Exception {
        try (Backend backend = Backends.open("naive", Backends.parse(server.uri("apps", "&read-parallelism=1")));
             BlockDevice device = backend.open(t.id)) {
            var map = dev.dcd.synth.RegionMap.load(dcd.currentGeneration("remote").resolve(DynamicContentDisk.REGION_MAP));
            var region = map.find(t.file.extentOffset(0));
            long from = region.vdiskOffset() + (t.file.extentOffset(0) - region.start());
            long length = t.file.size();
            CRC32C digest = new CRC32C();
            ByteBuffer buffer = ByteBuffer.allocate(MIB);
            long start = System.nanoTime();
            for (long done = 0; done < length; done += buffer.limit()) {
                buffer.clear().limit((int) Math.min(MIB, length - done));
                device.read(from + done, buffer);
                buffer.flip();
                digest.update(buffer);
                buffer.rewind();
            }
            long nanos = System.nanoTime() - start;
            if (check) {
                assertEquals(t.crc, digest.getValue(), "naive pass");
            }
            return nanos;
        }
    }

    /**
     * The backend's own ceiling: dcd's NFS device with its workers (parallel libnfs contexts; the default number, or
     * what {@code extra} sets), the file read
     * in 16 MiB requests (a readahead window), each chunk verified, nothing cached or copied on; nanoseconds.
     */
    private static long parallel(S3Home dcd, GaneshaServer server, Target t, String extra) throws Exception {
        try (Backend backend = Backends.open("parallel", Backends.parse(server.uri("apps", extra)));
             BlockDevice device = backend.open(t.id)) {
            var map = dev.dcd.synth.RegionMap.load(dcd.currentGeneration("remote").resolve(DynamicContentDisk.REGION_MAP));
            var region = map.find(t.file.extentOffset(0));
            long from = region.vdiskOffset() + (t.file.extentOffset(0) - region.start());
            long length = t.file.size();
            ByteBuffer buffer = ByteBuffer.allocateDirect(16 * MIB);
            long start = System.nanoTime();
            for (long done = 0; done < length; done += buffer.limit()) {
                buffer.clear().limit((int) Math.min(buffer.capacity(), length - done));
                device.read(from + done, buffer);
            }
            return System.nanoTime() - start;
        }
    }

    private static Pass chain(S3Home dcd, BlockCache shared, Target t, int request, boolean check) throws IOException {
        try (S3Home view = new S3Home(dcd.home());
             DynamicContentDisk disk = view.open("remote", shared, Set.of(NFS), ReadaheadConfig.DEFAULT, Set.of(NFS))) {
            BlockCache.Stats at = shared.stats();
            long start = System.nanoTime();
            long first = S3Home.crc32c(disk, t.file, request);
            long cold = System.nanoTime() - start;
            BlockCache.Stats afterCold = shared.stats();
            start = System.nanoTime();
            long second = S3Home.crc32c(disk, t.file, request);
            long warm = System.nanoTime() - start;
            if (check) {
                assertEquals(t.crc, first, "cold pass");
                assertEquals(t.crc, second, "warm pass");
                long chunks = t.file.size() / VdiskFormat.CHECKSUM_CHUNK;
                assertTrue(afterCold.misses() - at.misses() >= chunks - 1,
                        "cold pass missed " + (afterCold.misses() - at.misses()) + " of " + chunks + " chunks");
            }
            return new Pass(cold, warm);
        }
    }

    private static long local(S3Home dcd, FileIndex.Node file, int request, Long crc) throws IOException {
        try (S3Home view = new S3Home(dcd.home());
             DynamicContentDisk disk = view.open("local", null, Set.of(), ReadaheadConfig.DEFAULT, Set.of(NFS))) {
            S3Home.crc32c(disk, file, request);
            long start = System.nanoTime();
            long read = S3Home.crc32c(disk, file, request);
            long nanos = System.nanoTime() - start;
            if (crc != null) {
                assertEquals(crc.longValue(), read, "local pass");
            }
            return nanos;
        }
    }
}
