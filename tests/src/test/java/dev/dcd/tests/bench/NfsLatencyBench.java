package dev.dcd.tests.bench;

import static dev.dcd.tests.bench.BenchMath.max;
import static dev.dcd.tests.bench.BenchMath.median;
import static dev.dcd.tests.bench.BenchMath.min;
import static dev.dcd.tests.bench.BenchMath.mibPerSecond;

import dev.dcd.backend.Backend;
import dev.dcd.backend.Backends;
import dev.dcd.block.BlockDevice;
import dev.dcd.filter.BlockCache;
import dev.dcd.filter.DynamicContentDisk;
import dev.dcd.filter.ReadaheadConfig;
import dev.dcd.synth.FileIndex;
import dev.dcd.tests.net.LatencyProxy;
import dev.dcd.tests.nfs.GaneshaServer;
import dev.dcd.tests.s3.S3Home;
import dev.dcd.vdisk.ContentId;
import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;
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
 * The NFS backend (nfs-ganesha on 127.0.0.1) behind two {@link LatencyProxy}s, one for its NFS port and one for its
 * MOUNT port (the backend URI names both: {@code nfs://127.0.0.1:P/export/apps?mount-port=Q}): every RPC turn pays 0,
 * 5 or 20 ms (by default) before it reaches ganesha, as over a real network. For each delay, rounds interleaved: a
 * cold sequential read of one app file through the full chain (stats, cow, readahead, redirect, a new shared cache)
 * against the naive loop of 1 MiB reads through dcd's own NFS device with one worker (no cache, no readahead), through
 * the same proxies. The LatencyChainBench of the NFS backend (issue 19). A benchmark: it reports, and checks every
 * pass's CRC32C, but asserts no speed.
 *
 * <pre>
 * mvn -B -o -pl tests -am verify -Dit.test=NfsLatencyBench -Dtest=NONE -Dsurefire.failIfNoSpecifiedTests=false
 * </pre>
 * Knobs: {@code -Dbench.mib=64}, {@code -Dbench.rounds=3}, {@code -Dbench.warmup=2}, {@code -Dbench.delays=0,5,20},
 * {@code -Dbench.uri-extra=&read-parallelism=8} (added to the chain's backend URI). Output also in
 * {@code tests/target/bench/nfs-latency.txt}.
 */
class NfsLatencyBench {
    private static final int MIB = BenchMath.MIB;
    private static final int REQUEST = 128 * 1024;

    @Test
    void coldSequentialReadAgainstTheNaiveNfsLoopAtAddedLatency() throws Exception {
        int mib = Integer.getInteger("bench.mib", 64);
        int rounds = Integer.getInteger("bench.rounds", 3);
        int[] delays = Arrays.stream(System.getProperty("bench.delays", "0,5,20").split(","))
                .mapToInt(s -> Integer.parseInt(s.trim())).toArray();
        Path dir = Files.createTempDirectory("dcd-nfs-latency-bench");
        List<String> report = new ArrayList<>();
        try (GaneshaServer server = GaneshaServer.start(dir.resolve("export"));
             LatencyProxy proxy = LatencyProxy.builder().target(server.nfsPort()).start();
             LatencyProxy mountProxy = LatencyProxy.builder().target(server.mountPort()).start();
             S3Home dcd = new S3Home(dir.resolve("home"))) {
            Files.createDirectories(server.export().resolve("apps"));
            Path app = Files.createDirectories(dir.resolve("src/big-1"));
            long crc = BenchData.writeRandom(app.resolve("big.bin"), (long) mib * MIB, 7);
            String extra = System.getProperty("bench.uri-extra", "");
            String direct = server.uri("apps", "");
            String far = direct.replace("127.0.0.1:" + server.nfsPort() + "/", "127.0.0.1:" + proxy.port() + "/")
                    .replace("mount-port=" + server.mountPort(), "mount-port=" + mountProxy.port());
            if (far.equals(direct)) {
                throw new IllegalStateException("could not point " + direct + " at the proxies");
            }
            dcd.ok("backend", "add", "nfsfar", far + extra);
            String plain = far + "&read-parallelism=1";
            dcd.ok("catalog", "import", app.toString(), "--name", "big", "--version", "1", "--backend", "nfsfar");
            dcd.ok("vm", "create", "remote", "--size", (mib + 64) + "M");
            dcd.ok("vm", "assign", "remote", "big@1");
            dcd.ok("disk", "build", "remote");
            FileIndex.Node file = dcd.index("remote").get("big.bin");
            ContentId id = new ContentId(dcd.app("big@1").contentId());
            long dataOffset = BenchData.vdiskOffsetOf(dcd, "remote", file);
            long bytes = file.size();
            ReadaheadConfig readahead = BenchData.readahead();
            report.add(String.format(Locale.ROOT, "file %d MiB on NFS (ganesha) behind LatencyProxy, chain requests "
                    + "%d KiB, naive reads 1 MiB through the NFS device with one worker, %d rounds per delay, readahead %s, uri extra "
                    + "'%s'", mib, REQUEST / 1024, rounds, readahead, extra));
            proxy.delay(Duration.ZERO);
            for (int w = 0; w < Integer.getInteger("bench.warmup", 2); w++) {
                naive(plain, id, dataOffset, bytes, crc);
                chainCold(dcd, dir, file, crc, readahead);
            }
            for (int delay : delays) {
                proxy.delay(Duration.ofMillis(delay));
                mountProxy.delay(Duration.ofMillis(delay));
                long[] naive = new long[rounds];
                long[] chain = new long[rounds];
                double[] ratio = new double[rounds];
                for (int r = 0; r < rounds; r++) {
                    long before = proxy.requests() + mountProxy.requests();
                    naive[r] = naive(plain, id, dataOffset, bytes, crc);
                    long naiveTurns = proxy.requests() + mountProxy.requests() - before;
                    before = proxy.requests() + mountProxy.requests();
                    chain[r] = chainCold(dcd, dir, file, crc, readahead);
                    long chainTurns = proxy.requests() + mountProxy.requests() - before;
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
        System.out.print("NfsLatencyBench\n" + text);
        Path out = Path.of("target", "bench");
        Files.createDirectories(out);
        Files.writeString(out.resolve("nfs-latency.txt"), text, StandardCharsets.UTF_8);
    }

    /** New backends and a new cache: nothing of the file is anywhere in dcd; one sequential pass. */
    private static long chainCold(S3Home dcd, Path dir, FileIndex.Node file, long crc, ReadaheadConfig readahead)
            throws Exception {
        Path cacheDir = Files.createTempDirectory(dir, "cache");
        try (S3Home view = new S3Home(dcd.home());
             BlockCache cache = BlockCache.open(cacheDir, file.size() + 64L * MIB);
             DynamicContentDisk disk = view.open("remote", cache, Set.of("nfsfar"), readahead, Set.of("nfsfar"))) {
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

    /** A careless client: one worker, one 1 MiB read at a time, no cache, no readahead. */
    private static long naive(String uri, ContentId id, long from, long length, long crc) throws Exception {
        try (Backend backend = Backends.open("naive", Backends.parse(uri)); BlockDevice device = backend.open(id)) {
            ByteBuffer buffer = ByteBuffer.allocate(MIB);
            CRC32C digest = new CRC32C();
            long start = System.nanoTime();
            for (long at = 0; at < length; at += MIB) {
                buffer.clear().limit((int) Math.min(MIB, length - at));
                device.read(from + at, buffer);
                buffer.flip();
                digest.update(buffer);
            }
            long nanos = System.nanoTime() - start;
            assertEquals(crc, digest.getValue(), "naive pass");
            return nanos;
        }
    }
}
