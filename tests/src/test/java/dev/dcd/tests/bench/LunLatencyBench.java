package dev.dcd.tests.bench;

import static dev.dcd.tests.bench.BenchMath.max;
import static dev.dcd.tests.bench.BenchMath.median;
import static dev.dcd.tests.bench.BenchMath.min;
import static dev.dcd.tests.bench.BenchMath.mibPerSecond;

import dev.dcd.backend.nbd.NbdAddress;
import dev.dcd.backend.nbd.NbdClient;
import dev.dcd.backend.nbd.NbdConfig;
import dev.dcd.filter.BlockCache;
import dev.dcd.filter.DynamicContentDisk;
import dev.dcd.filter.ReadaheadConfig;
import dev.dcd.synth.FileIndex;
import dev.dcd.tests.lun.LunImage;
import dev.dcd.tests.lun.NbdServer;
import dev.dcd.tests.net.LatencyProxy;
import dev.dcd.tests.s3.S3Home;
import dev.dcd.vdisk.ContentId;
import org.junit.jupiter.api.Test;

import java.io.RandomAccessFile;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Stream;
import java.util.zip.CRC32C;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The LUN backend (nbdkit's file plugin on 127.0.0.1) behind a {@link LatencyProxy}: every NBD request turn pays 0,
 * 5 or 20 ms (by default) before it reaches nbdkit, as over a real network. For each delay, rounds interleaved: a cold
 * sequential read of one app file through the full chain (stats, cow, readahead, redirect, a new shared cache)
 * against the naive loop of 1 MiB NBD reads on one connection of dcd's own client over the same extent, through the
 * same proxy. The LatencyChainBench of the LUN backend (issue 19). A benchmark: it reports, and checks every pass's
 * CRC32C, but asserts no speed.
 *
 * <p>Why the proxy and not nbdkit's {@code --filter=delay}: the filter's delay is fixed when nbdkit starts and the
 * catalog's backend names one address, so stepping 0, 5, 20 ms over one imported app needs a delay that can change
 * under a running server; the proxy delays each turn of each connection (requests pipelined in one turn share its
 * wait, as on a real link).
 *
 * <pre>
 * mvn -B -o -pl tests -am verify -Dit.test=LunLatencyBench -Dtest=NONE -Dsurefire.failIfNoSpecifiedTests=false
 * </pre>
 * Knobs: {@code -Dbench.mib=64}, {@code -Dbench.rounds=3}, {@code -Dbench.warmup=2}, {@code -Dbench.delays=0,5,20},
 * {@code -Dbench.uri-extra=connections=8} (query of the LUN backend's URI; the naive loop always uses one connection).
 * Output also in {@code tests/target/bench/lun-latency.txt}.
 */
class LunLatencyBench {
    private static final int MIB = BenchMath.MIB;
    private static final int REQUEST = 128 * 1024;

    @Test
    void coldSequentialReadAgainstTheNaiveNbdLoopAtAddedLatency() throws Exception {
        int mib = Integer.getInteger("bench.mib", 64);
        int rounds = Integer.getInteger("bench.rounds", 3);
        int[] delays = Arrays.stream(System.getProperty("bench.delays", "0,5,20").split(","))
                .mapToInt(s -> Integer.parseInt(s.trim())).toArray();
        Path dir = Files.createTempDirectory("dcd-lun-latency-bench");
        List<String> report = new ArrayList<>();
        Path lunFile = dir.resolve("lun.img");
        try (RandomAccessFile f = new RandomAccessFile(lunFile.toFile(), "rw")) {
            f.setLength((mib + 64L) * MIB);
        }
        try (NbdServer server = NbdServer.nbdkit(dir, List.of(), "file", lunFile.toString());
             LatencyProxy proxy = LatencyProxy.builder().target(server.port()).start();
             S3Home dcd = new S3Home(dir.resolve("home"))) {
            Path app = Files.createDirectories(dir.resolve("src/big-1"));
            long crc = BenchData.writeRandom(app.resolve("big.bin"), (long) mib * MIB, 7);
            String extra = System.getProperty("bench.uri-extra", "");
            URI plain = URI.create("nbd://127.0.0.1:" + proxy.port() + "/" + server.export());
            URI uri = extra.isEmpty() ? plain : URI.create(plain + "?" + extra);
            dcd.ok("backend", "add", "lunfar", uri.toString());
            dcd.ok("catalog", "import", app.toString(), "--name", "big", "--version", "1", "--backend", "lunfar");
            dcd.ok("vm", "create", "remote", "--size", (mib + 64) + "M");
            dcd.ok("vm", "assign", "remote", "big@1");
            dcd.ok("disk", "build", "remote");
            FileIndex.Node file = dcd.index("remote").get("big.bin");
            ContentId id = new ContentId(dcd.app("big@1").contentId());
            LunImage.Extent extent = LunImage.read(lunFile).extent(id.hex());
            long dataOffset = extent.offset() + (BenchData.vdiskOffsetOf(dcd, "remote", file));
            long bytes = file.size();
            ReadaheadConfig readahead = BenchData.readahead();
            report.add(String.format(Locale.ROOT, "file %d MiB on a LUN (nbdkit file) behind LatencyProxy, chain requests "
                    + "%d KiB, naive NBD reads 1 MiB on one connection, %d rounds per delay, readahead %s, uri extra "
                    + "'%s'", mib, REQUEST / 1024, rounds, readahead, extra));
            proxy.delay(Duration.ZERO);
            for (int w = 0; w < Integer.getInteger("bench.warmup", 2); w++) {
                naive(plain, dataOffset, bytes, crc);
                chainCold(dcd, dir, file, crc, readahead);
            }
            for (int delay : delays) {
                proxy.delay(Duration.ofMillis(delay));
                long[] naive = new long[rounds];
                long[] chain = new long[rounds];
                double[] ratio = new double[rounds];
                for (int r = 0; r < rounds; r++) {
                    long before = proxy.requests();
                    naive[r] = naive(plain, dataOffset, bytes, crc);
                    long naiveTurns = proxy.requests() - before;
                    before = proxy.requests();
                    chain[r] = chainCold(dcd, dir, file, crc, readahead);
                    long chainTurns = proxy.requests() - before;
                    ratio[r] = (double) naive[r] / chain[r];
                    report.add(String.format(Locale.ROOT, "delay %d ms round %d: naive %.1f MiB/s (%d delayed turns), "
                                    + "chain cold %.1f MiB/s (%d delayed turns), %.2fx", delay, r + 1,
                            mibPerSecond(bytes, naive[r]), naiveTurns, mibPerSecond(bytes, chain[r]), chainTurns, ratio[r]));
                }
                report.add(String.format(Locale.ROOT, "delay %d ms: naive %.1f MiB/s, chain cold %.1f MiB/s (medians), "
                                + "median of ratios %.2fx (min %.2fx, max %.2fx); load average %.1f", delay,
                        mibPerSecond(bytes, median(naive)), mibPerSecond(bytes, median(chain)), median(ratio), min(ratio),
                        max(ratio), ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage()));
            }
        } finally {
            try (Stream<Path> files = Files.walk(dir)) {
                files.sorted((a, b) -> b.compareTo(a)).forEach(p -> p.toFile().delete());
            }
        }
        String text = String.join("\n", report) + "\n";
        System.out.print("LunLatencyBench\n" + text);
        Path out = Path.of("target", "bench");
        Files.createDirectories(out);
        Files.writeString(out.resolve("lun-latency.txt"), text, StandardCharsets.UTF_8);
    }

    /** New backends and a new cache: nothing of the file is anywhere in dcd; one sequential pass. */
    private static long chainCold(S3Home dcd, Path dir, FileIndex.Node file, long crc, ReadaheadConfig readahead)
            throws Exception {
        Path cacheDir = Files.createTempDirectory(dir, "cache");
        try (S3Home view = new S3Home(dcd.home());
             BlockCache cache = BlockCache.open(cacheDir, file.size() + 64L * MIB);
             DynamicContentDisk disk = view.open("remote", cache, Set.of("lunfar"), readahead, Set.of("lunfar"))) {
            long start = System.nanoTime();
            long read = S3Home.crc32c(disk, file, REQUEST);
            long nanos = System.nanoTime() - start;
            assertEquals(crc, read, "chain pass");
            return nanos;
        } finally {
            try (Stream<Path> files = Files.walk(cacheDir)) {
                files.sorted((a, b) -> b.compareTo(a)).forEach(p -> p.toFile().delete());
            }
        }
    }

    /** A careless client: one connection, one 1 MiB request at a time, bytes hashed but not verified per chunk. */
    private static long naive(URI uri, long from, long length, long crc) throws Exception {
        NbdConfig one = NbdConfig.builder().connections(1).build();
        try (NbdClient client = NbdClient.open(NbdAddress.parse(uri), one)) {
            ByteBuffer buffer = ByteBuffer.allocate(MIB);
            CRC32C digest = new CRC32C();
            long start = System.nanoTime();
            for (long at = 0; at < length; at += MIB) {
                buffer.clear().limit((int) Math.min(MIB, length - at));
                client.read(from + at, buffer, client.deadline());
                buffer.flip();
                digest.update(buffer);
            }
            long nanos = System.nanoTime() - start;
            assertEquals(crc, digest.getValue(), "naive pass");
            return nanos;
        }
    }
}
