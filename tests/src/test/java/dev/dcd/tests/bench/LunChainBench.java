package dev.dcd.tests.bench;

import dev.dcd.backend.Backend;
import dev.dcd.backend.Backends;
import dev.dcd.backend.nbd.NbdAddress;
import dev.dcd.backend.nbd.NbdClient;
import dev.dcd.backend.nbd.NbdConfig;
import dev.dcd.block.BlockDevice;
import dev.dcd.filter.BlockCache;
import dev.dcd.filter.DynamicContentDisk;
import dev.dcd.filter.ReadaheadConfig;
import dev.dcd.synth.FileIndex;
import dev.dcd.tests.lun.LunImage;
import dev.dcd.tests.lun.NbdServer;
import dev.dcd.tests.s3.S3Home;
import dev.dcd.vdisk.ContentId;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static dev.dcd.tests.bench.BenchMath.median;
import static dev.dcd.tests.bench.BenchMath.mibPerSecond;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Two apps of one 256 MiB file each imported into a LUN (nbdkit, file plugin, on 127.0.0.1); rounds take them in
 * turn and read the round's file in the same run:
 * <ul>
 *   <li>cold: front to back in 128 KiB requests (what FUSE sends) through the VM disk's full chain (stats, cow,
 *       readahead, redirect, the shared cache), twice: with the host's cache in use (sized for one file and holding
 *       the other app's, so every chunk misses and recycles a slot, as on a host whose cache has filled up; the
 *       NFS and S3 benches measure this way), and with a new empty cache (its first fill);</li>
 *   <li>the same cold read without a cache (readahead only), what the cache costs;</li>
 *   <li>peers: {@code nbdcopy} of the same extent (a second nbdkit with the offset filter exposes exactly it) to
 *       {@code null:}, and a naive loop of 1 MiB reads on one connection of dcd's own client;</li>
 *   <li>the backend's ceiling: the LUN device alone read in 16 MiB requests, with its pool of connections and
 *       with one (what bounds the chain when the parallelism, not the chain, is the limit);</li>
 *   <li>the ceiling of a new cache's first fill on this machine: the same bytes written to a new file in 1 MiB
 *       writes (see {@link BenchData#freshFileWrite});</li>
 *   <li>warm: the chain again right after the cold pass (the cache holds it all), against the same bytes on the
 *       local backend (read once untimed first, so its file is in the page cache as the slab is);</li>
 *   <li>random 4 KiB reads on the LUN device (no cache): p50 and p99 latency.</li>
 * </ul>
 * Before each round the round's extent of the LUN file is read once, untimed, so every reader finds nbdkit's file
 * in the page cache whatever the machine dropped since the last round. Not run by CI (not an *IT). Run:
 * mvn -B -o -pl tests -am verify -Dit.test=LunChainBench -Dtest=NONE -Dsurefire.failIfNoSpecifiedTests=false
 * (knobs -Dlun.bench.rounds=3 -Dlun.bench.mib=256; output also in tests/target/LunChainBench.txt).
 */
class LunChainBench {
    private static final int ROUNDS = Integer.getInteger("lun.bench.rounds", 3);
    private static final int FILE_MIB = Integer.getInteger("lun.bench.mib", 256);
    private static final int FUSE_REQUEST = 128 * 1024;

    @TempDir
    Path dir;

    private record Target(String app, FileIndex.Node node, long crc, ContentId id, LunImage.Extent extent) {
    }

    @Test
    void coldSequentialWarmAndRandomReadsAgainstNbdcopyANaiveLoopAndLocal() throws Exception {
        Path lunFile = dir.resolve("lun.img");
        try (RandomAccessFile f = new RandomAccessFile(lunFile.toFile(), "rw")) {
            f.setLength((2L * FILE_MIB + 64L) << 20);
        }
        String[] apps = {"big", "big2"};
        long[] crcs = new long[2];
        for (int a = 0; a < 2; a++) {
            Path src = Files.createDirectories(dir.resolve("src").resolve(apps[a] + "-1.0/srv/" + apps[a]));
            crcs[a] = BenchData.writeRandom(src.resolve(apps[a] + ".bin"), (long) FILE_MIB << 20, 1 + a);
        }
        try (NbdServer server = NbdServer.nbdkit(dir, List.of(), "file", lunFile.toString())) {
            S3Home home = new S3Home(dir.resolve("home"));
            home.ok("backend", "add", "lun0", server.uri().toString());
            for (String app : apps) {
                home.ok("catalog", "import", dir.resolve("src").resolve(app + "-1.0").toString(), "--backend", "lun0");
            }
            home.ok("vm", "create", "vm", "--size", (2 * FILE_MIB + 64) + "M");
            home.ok("vm", "assign", "vm", "big", "big2");
            home.ok("disk", "build", "vm");
            S3Home local = new S3Home(dir.resolve("local-home"));
            local.ok("catalog", "import", dir.resolve("src").resolve("big-1.0").toString());
            local.ok("vm", "create", "vm", "--size", (FILE_MIB + 64) + "M");
            local.ok("vm", "assign", "vm", "big");
            local.ok("disk", "build", "vm");
            FileIndex index = home.index("vm");
            LunImage image = LunImage.read(lunFile);
            Target[] targets = new Target[2];
            for (int a = 0; a < 2; a++) {
                ContentId id = new ContentId(home.app(apps[a]).contentId());
                targets[a] = new Target(apps[a], index.get("srv/" + apps[a] + "/" + apps[a] + ".bin"), crcs[a], id, image.extent(id.hex()));
            }
            FileIndex.Node localNode = local.index("vm").get("srv/big/big.bin");
            long bytes = targets[0].node().size();
            // Sized for one file: holding the other app's chunks, a cold pass recycles every slot it fills.
            BlockCache shared = BlockCache.open(dir.resolve("shared-cache"), bytes + (1 << 20));
            List<NbdServer> windows = new java.util.ArrayList<>();
            try {
                for (Target t : targets) {
                    windows.add(NbdServer.nbdkit(dir, List.of("--filter=offset", "offset=" + t.extent().offset(),
                            "range=" + t.extent().length()), "file", lunFile.toString()));
                }
                // Untimed: the shared cache takes the second app, so round 1's cold pass of the first evicts it.
                readChain(home, shared, targets[1]);
                long[] chain = new long[ROUNDS];
                long[] fresh = new long[ROUNDS];
                long[] ceiling = new long[ROUNDS];
                long[] copy = new long[ROUNDS];
                long[] naive = new long[ROUNDS];
                long[] warm = new long[ROUNDS];
                long[] localRead = new long[ROUNDS];
                long[] noCache = new long[ROUNDS];
                long[] device = new long[ROUNDS];
                long[] device1 = new long[ROUNDS];
                StringBuilder rounds = new StringBuilder();
                for (int r = 0; r < ROUNDS; r++) {
                    int ti = r % 2;
                    Target t = targets[ti];
                    BenchData.pageIn(lunFile, t.extent().offset(), t.extent().length());
                    long[] cw = readChain(home, shared, t);
                    chain[r] = cw[0];
                    warm[r] = cw[1];
                    try (BlockCache empty = BlockCache.open(Files.createTempDirectory(dir, "cache"), (FILE_MIB + 64L) << 20)) {
                        fresh[r] = readChain(home, empty, t)[0];
                    }
                    // What the cache costs: the same cold read with readahead but no cache (nothing written to disk).
                    try (S3Home view = new S3Home(home.home());
                         DynamicContentDisk disk = view.open("vm", null, Set.of(), ReadaheadConfig.DEFAULT, Set.of("lun0"))) {
                        long t0 = System.nanoTime();
                        assertEquals(t.crc(), S3Home.crc32c(disk, t.node(), FUSE_REQUEST));
                        noCache[r] = System.nanoTime() - t0;
                    }
                    long t0 = System.nanoTime();
                    Process p = new ProcessBuilder("nbdcopy", windows.get(ti).uri().toString(), "null:").inheritIO().start();
                    assertTrue(p.waitFor(300, TimeUnit.SECONDS));
                    assertEquals(0, p.exitValue());
                    copy[r] = System.nanoTime() - t0;
                    naive[r] = naiveLoop(server.uri(), t.extent());
                    device[r] = deviceAlone(server.uri(), t.id(), "");
                    device1[r] = deviceAlone(server.uri(), t.id(), "?connections=1");
                    try (S3Home view = new S3Home(local.home());
                         DynamicContentDisk disk = view.open("vm", null, Set.of(), ReadaheadConfig.DEFAULT, Set.of())) {
                        // Untimed first: the local vdisk file in the page cache, as the warm chain's slab is.
                        S3Home.crc32c(disk, localNode, FUSE_REQUEST);
                        t0 = System.nanoTime();
                        assertEquals(crcs[0], S3Home.crc32c(disk, localNode, FUSE_REQUEST));
                        localRead[r] = System.nanoTime() - t0;
                    }
                    ceiling[r] = BenchData.freshFileWrite(dir.resolve("fresh-" + r), bytes);
                    long ext = t.extent().length();
                    rounds.append(String.format(Locale.ROOT, "  round %d (%s): cold %.0f, cold new cache %.0f, no cache "
                                    + "%.0f, nbdcopy %.0f, naive %.0f, device alone %.0f (1 connection %.0f), new-file write %.0f, warm %.0f, local %.0f MiB/s; "
                                    + "load average %.1f%n", r + 1, t.app(), mibPerSecond(bytes, chain[r]),
                            mibPerSecond(bytes, fresh[r]), mibPerSecond(bytes, noCache[r]), mibPerSecond(ext, copy[r]),
                            mibPerSecond(ext, naive[r]), mibPerSecond(ext, device[r]), mibPerSecond(ext, device1[r]),
                            mibPerSecond(bytes, ceiling[r]), mibPerSecond(bytes, warm[r]),
                            mibPerSecond(bytes, localRead[r]), BenchData.load()));
                }
                double[] lat = randomReads(server.uri(), targets[0].id(), 2000);
                long ext = targets[0].extent().length();
                StringBuilder report = new StringBuilder("LunChainBench (" + FILE_MIB + " MiB, " + ROUNDS
                        + " rounds; " + Runtime.getRuntime().availableProcessors()
                        + " cpus shared with nbdkit and whatever else runs):\n");
                report.append(rounds);
                report.append(line("cold chain", bytes, chain)).append(line("cold, new cache", bytes, fresh))
                        .append(line("cold, no cache", bytes, noCache)).append(line("nbdcopy extent", ext, copy))
                        .append(line("naive 1 MiB loop", ext, naive)).append(line("device alone", ext, device))
                        .append(line("device, 1 conn.", ext, device1)).append(line("new-file write", bytes, ceiling))
                        .append(line("warm chain", bytes, warm)).append(line("local chain", bytes, localRead));
                report.append(String.format(Locale.ROOT, "ratios (median MiB/s): cold/nbdcopy %.2f, cold/naive %.2f, "
                                + "warm/local %.2f; new cache: cold/nbdcopy %.2f, cold/new-file write %.2f; no cache: "
                                + "cold/nbdcopy %.2f, cold/naive %.2f%n", ratio(bytes, chain, ext, copy),
                        ratio(bytes, chain, ext, naive), ratio(bytes, warm, bytes, localRead),
                        ratio(bytes, fresh, ext, copy), ratio(bytes, fresh, bytes, ceiling),
                        ratio(bytes, noCache, ext, copy), ratio(bytes, noCache, ext, naive)));
                report.append(String.format(Locale.ROOT, "random 4 KiB on the LUN device: p50 %.2f ms, p99 %.2f ms, max %.2f ms%n",
                        lat[0], lat[1], lat[2]));
                report.append(String.format(Locale.ROOT, "load average at the end %.1f%n", BenchData.load()));
                System.out.print(report);
                Files.writeString(Path.of("target", "LunChainBench.txt"), report);
            } finally {
                for (NbdServer w : windows) {
                    w.close();
                }
                shared.close();
            }
            home.close();
            local.close();
        }
    }

    /** A cold pass of the target's file through the VM's full chain with {@code cache}, then a warm one: nanoseconds. */
    private static long[] readChain(S3Home home, BlockCache cache, Target t) throws Exception {
        try (S3Home view = new S3Home(home.home());
             DynamicContentDisk disk = view.open("vm", cache, Set.of("lun0"), ReadaheadConfig.DEFAULT, Set.of("lun0"))) {
            long t0 = System.nanoTime();
            assertEquals(t.crc(), S3Home.crc32c(disk, t.node(), FUSE_REQUEST));
            long cold = System.nanoTime() - t0;
            t0 = System.nanoTime();
            assertEquals(t.crc(), S3Home.crc32c(disk, t.node(), FUSE_REQUEST));
            return new long[]{cold, System.nanoTime() - t0};
        }
    }

    private static String line(String what, long bytes, long[] nanos) {
        double[] rates = Arrays.stream(nanos).mapToDouble(n -> mibPerSecond(bytes, n)).sorted().toArray();
        return String.format(Locale.ROOT, "  %-18s median %7.1f MiB/s (min %.1f, max %.1f)%n", what, median(rates),
                rates[0], rates[rates.length - 1]);
    }

    private static double ratio(long bytesA, long[] a, long bytesB, long[] b) {
        double ra = median(Arrays.stream(a).mapToDouble(n -> mibPerSecond(bytesA, n)).toArray());
        double rb = median(Arrays.stream(b).mapToDouble(n -> mibPerSecond(bytesB, n)).toArray());
        return ra / rb;
    }

    /** The peer a careless client would be: one connection, one 1 MiB request at a time, no verification. */
    private static long naiveLoop(URI uri, LunImage.Extent extent) throws Exception {
        NbdConfig one = NbdConfig.builder().connections(1).build();
        try (NbdClient client = NbdClient.open(NbdAddress.parse(uri), one)) {
            ByteBuffer buffer = ByteBuffer.allocate(1 << 20);
            long t = System.nanoTime();
            for (long at = 0; at < extent.length(); at += buffer.capacity()) {
                buffer.clear().limit((int) Math.min(buffer.capacity(), extent.length() - at));
                client.read(extent.offset() + at, buffer, client.deadline());
            }
            return System.nanoTime() - t;
        }
    }

    /**
     * The backend's own ceiling: the LUN device of the vdisk (its connection pool, 1 MiB pieces, every chunk
     * verified) read whole in 16 MiB requests, as readahead windows ask, without the chain or a cache; nanoseconds.
     */
    private static long deviceAlone(URI uri, ContentId id, String query) throws Exception {
        try (Backend lun = Backends.open("bench", URI.create(uri + query)); BlockDevice device = lun.open(id)) {
            ByteBuffer buffer = ByteBuffer.allocateDirect(16 << 20);
            long t = System.nanoTime();
            for (long at = 0; at < device.size(); at += buffer.limit()) {
                buffer.clear().limit((int) Math.min(buffer.capacity(), device.size() - at));
                device.read(at, buffer);
            }
            return System.nanoTime() - t;
        }
    }

    /** Latencies in ms of single 4 KiB reads at random offsets of the vdisk: p50, p99, max. */
    private static double[] randomReads(URI uri, ContentId id, int count) throws Exception {
        try (Backend lun = Backends.open("bench", uri); BlockDevice device = lun.open(id)) {
            Random random = new Random(2);
            long[] nanos = new long[count];
            ByteBuffer four = ByteBuffer.allocate(4096);
            for (int i = 0; i < count; i++) {
                long at = (random.nextLong(device.size() - 4096)) & ~4095L;
                four.clear();
                long t = System.nanoTime();
                device.read(at, four);
                nanos[i] = System.nanoTime() - t;
            }
            Arrays.sort(nanos);
            return new double[]{nanos[count / 2] / 1e6, nanos[count * 99 / 100] / 1e6, nanos[count - 1] / 1e6};
        }
    }

}
