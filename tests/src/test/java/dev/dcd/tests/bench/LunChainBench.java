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

import java.io.OutputStream;
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
 * One app of one 256 MiB file imported into a LUN (nbdkit, file plugin, on 127.0.0.1) and read in the same run:
 * <ul>
 *   <li>cold: front to back in 128 KiB requests (what FUSE sends) through the VM disk's full chain (stats, cow,
 *       readahead, redirect, a fresh shared cache), against {@code nbdcopy} of the same extent (a second nbdkit with
 *       the offset filter exposes exactly it) to {@code null:}, and against a naive loop of 1 MiB reads on one
 *       connection of dcd's own client;</li>
 *   <li>warm: the same chain again (the cache holds it all), against the same app on the local backend;</li>
 *   <li>random 4 KiB reads on the LUN device (no cache): p50 and p99 latency.</li>
 * </ul>
 * Not run by CI (not an *IT). Run:
 * mvn -B -o -pl tests -am verify -Dit.test=LunChainBench -Dtest=NONE -Dsurefire.failIfNoSpecifiedTests=false
 */
class LunChainBench {
    private static final int ROUNDS = Integer.getInteger("lun.bench.rounds", 3);
    private static final int FILE_MIB = Integer.getInteger("lun.bench.mib", 256);
    private static final int FUSE_REQUEST = 128 * 1024;

    @TempDir
    Path dir;

    @Test
    void coldSequentialWarmAndRandomReadsAgainstNbdcopyANaiveLoopAndLocal() throws Exception {
        Path lunFile = dir.resolve("lun.img");
        try (RandomAccessFile f = new RandomAccessFile(lunFile.toFile(), "rw")) {
            f.setLength((FILE_MIB + 64L) << 20);
        }
        Path src = Files.createDirectories(dir.resolve("big-1.0/srv/big"));
        byte[] block = new byte[1 << 20];
        Random random = new Random(1);
        try (OutputStream out = Files.newOutputStream(src.resolve("big.bin"))) {
            for (int i = 0; i < FILE_MIB; i++) {
                random.nextBytes(block);
                out.write(block);
            }
        }
        try (NbdServer server = NbdServer.nbdkit(dir, List.of(), "file", lunFile.toString())) {
            S3Home home = new S3Home(dir.resolve("home"));
            home.ok("backend", "add", "lun0", server.uri().toString());
            home.ok("catalog", "import", src.getParent().getParent().toString(), "--backend", "lun0");
            home.ok("vm", "create", "vm", "--size", (FILE_MIB + 64) + "M");
            home.ok("vm", "assign", "vm", "big");
            home.ok("disk", "build", "vm");
            S3Home local = new S3Home(dir.resolve("local-home"));
            local.ok("catalog", "import", src.getParent().getParent().toString());
            local.ok("vm", "create", "vm", "--size", (FILE_MIB + 64) + "M");
            local.ok("vm", "assign", "vm", "big");
            local.ok("disk", "build", "vm");
            FileIndex.Node node = S3Home.files(home.index("vm")).get(0);
            FileIndex.Node localNode = S3Home.files(local.index("vm")).get(0);
            long expectedCrc = crc(src.resolve("big.bin"));
            long bytes = node.size();

            ContentId id = new ContentId(home.app("big").contentId());
            LunImage.Extent extent = LunImage.read(lunFile).extent(id.hex());
            try (NbdServer window = NbdServer.nbdkit(dir, List.of("--filter=offset", "offset=" + extent.offset(),
                    "range=" + extent.length()), "file", lunFile.toString())) {
                long[] chain = new long[ROUNDS];
                long[] copy = new long[ROUNDS];
                long[] naive = new long[ROUNDS];
                long[] warm = new long[ROUNDS];
                long[] localRead = new long[ROUNDS];
                long[] noCache = new long[ROUNDS];
                for (int r = 0; r < ROUNDS; r++) {
                    try (S3Home view = new S3Home(home.home());
                         BlockCache cache = BlockCache.open(Files.createTempDirectory(dir, "cache"), (FILE_MIB + 64L) << 20);
                         DynamicContentDisk disk = view.open("vm", cache, Set.of("lun0"), ReadaheadConfig.DEFAULT, Set.of("lun0"))) {
                        long t = System.nanoTime();
                        assertEquals(expectedCrc, S3Home.crc32c(disk, node, FUSE_REQUEST));
                        chain[r] = System.nanoTime() - t;
                        t = System.nanoTime();
                        assertEquals(expectedCrc, S3Home.crc32c(disk, node, FUSE_REQUEST));
                        warm[r] = System.nanoTime() - t;
                    }
                    // What the cache costs: the same cold read with readahead but no cache (nothing written to disk).
                    try (S3Home view = new S3Home(home.home());
                         DynamicContentDisk disk = view.open("vm", null, Set.of(), ReadaheadConfig.DEFAULT, Set.of("lun0"))) {
                        long t0 = System.nanoTime();
                        assertEquals(expectedCrc, S3Home.crc32c(disk, node, FUSE_REQUEST));
                        noCache[r] = System.nanoTime() - t0;
                    }
                    long t = System.nanoTime();
                    Process p = new ProcessBuilder("nbdcopy", window.uri().toString(), "null:").inheritIO().start();
                    assertTrue(p.waitFor(300, TimeUnit.SECONDS));
                    assertEquals(0, p.exitValue());
                    copy[r] = System.nanoTime() - t;
                    naive[r] = naiveLoop(server.uri(), extent);
                    try (S3Home view = new S3Home(local.home());
                         DynamicContentDisk disk = view.open("vm", null, Set.of(), ReadaheadConfig.DEFAULT, Set.of())) {
                        t = System.nanoTime();
                        assertEquals(expectedCrc, S3Home.crc32c(disk, localNode, FUSE_REQUEST));
                        localRead[r] = System.nanoTime() - t;
                    }
                }
                double[] lat = randomReads(server.uri(), id, 2000);
                StringBuilder report = new StringBuilder("LunChainBench (" + FILE_MIB + " MiB, " + ROUNDS
                        + " rounds; 2 shared cores, other engineers loading the machine):\n");
                report.append(line("cold chain", bytes, chain)).append(line("cold, no cache", bytes, noCache)).append(line("nbdcopy extent", extent.length(), copy))
                        .append(line("naive 1 MiB loop", extent.length(), naive)).append(line("warm chain", bytes, warm))
                        .append(line("local chain", bytes, localRead));
                report.append(String.format(Locale.ROOT, "ratios (median MiB/s): cold/nbdcopy %.2f, cold/naive %.2f, "
                                + "warm/local %.2f%n", ratio(bytes, chain, extent.length(), copy),
                        ratio(bytes, chain, extent.length(), naive), ratio(bytes, warm, bytes, localRead)));
                report.append(String.format(Locale.ROOT, "random 4 KiB on the LUN device: p50 %.2f ms, p99 %.2f ms, max %.2f ms%n",
                        lat[0], lat[1], lat[2]));
                System.out.print(report);
                Files.writeString(Path.of("target", "LunChainBench.txt"), report);
            }
            home.close();
            local.close();
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

    private static long crc(Path file) throws Exception {
        java.util.zip.CRC32C c = new java.util.zip.CRC32C();
        try (var in = Files.newInputStream(file)) {
            byte[] b = new byte[1 << 20];
            int n;
            while ((n = in.read(b)) > 0) {
                c.update(b, 0, n);
            }
        }
        return c.getValue();
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
