package dev.dcd.tests.bench;

import static dev.dcd.tests.bench.BenchMath.median;
import static dev.dcd.tests.bench.BenchMath.mibPerSecond;

import dev.dcd.backend.Backend;
import dev.dcd.backend.Backends;
import dev.dcd.block.BlockDevice;
import dev.dcd.tests.s3.S3ProxyServer;
import dev.dcd.vdisk.SealedVdisk;
import dev.dcd.vdisk.VdiskWriter;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.core.sync.ResponseTransformer;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Cold sequential read of one large vdisk from S3Proxy: dcd's S3 device (parallel ranged GETs, every 64 KiB
 * chunk CRC32C-verified) against the named peer, a naive single-stream loop of 1 MiB ranged GETs one after
 * another, both against the same S3Proxy in the same run, rounds interleaved. A benchmark, not a timed test:
 * it reports, it does not assert a speed.
 *
 * <pre>
 * mvn -B -o -pl tests -am verify -Dit.test=S3ReadBench -Dtest=NONE -Dsurefire.failIfNoSpecifiedTests=false
 * </pre>
 * Knobs: {@code -Dbench.mib=256} (vdisk size), {@code -Dbench.rounds=3}, {@code -Dbench.warmup=10} (untimed full passes of both first), {@code -Dbench.read-mib=16} (size of each
 * read the caller makes on the device), {@code -Dbench.uri-extra=&piece-kib=1024} (extra backend URI parameters).
 * Output also goes to {@code tests/target/bench/s3-read.txt}.
 *
 * <p>"Cold" means a new backend per round: nothing of the vdisk is buffered in dcd. S3Proxy reads its files
 * from the page cache in both paths alike.
 */
class S3ReadBench {
    private static final int MIB = BenchMath.MIB;
    private static final String BUCKET = "dcd-bench";
    private static final String PREFIX = "bench";

    /** Runs the benchmark outside JUnit (same system properties, plus {@code s3proxy.jar}). */
    public static void main(String[] args) throws Exception {
        new S3ReadBench().coldSequentialReadThroughTheDeviceVersusANaiveGetLoop();
    }

    @Test
    void coldSequentialReadThroughTheDeviceVersusANaiveGetLoop() throws Exception {
        int mib = Integer.getInteger("bench.mib", 256);
        int rounds = Integer.getInteger("bench.rounds", 5);
        int readMib = Integer.getInteger("bench.read-mib", 32);
        String extra = System.getProperty("bench.uri-extra", "");
        Path dir = Files.createTempDirectory("dcd-s3-bench");
        List<String> report = new ArrayList<>();
        try (S3ProxyServer server = S3ProxyServer.start(dir.resolve("server"))) {
            server.exportCredentialsAsSystemProperties();
            server.createBucket(BUCKET);
            SealedVdisk vdisk = build(dir.resolve("bench.vdisk"), mib);
            URI uri = URI.create("s3://" + BUCKET + "/" + PREFIX + "?endpoint=" + server.endpoint()
                    + "&region=us-east-1&path-style=true" + extra);
            long uploadNanos;
            try (Backend backend = Backends.open("bench", uri); InputStream in = Files.newInputStream(vdisk.file())) {
                long start = System.nanoTime();
                backend.put(vdisk.id(), in, vdisk.length(), done -> { });
                uploadNanos = System.nanoTime() - start;
            }
            String key = PREFIX + "/" + vdisk.id().hex() + ".vdisk";
            byte[] sample = sampleOf(vdisk.file(), vdisk.length());
            report.add(String.format(Locale.ROOT, "vdisk %d bytes (%d MiB of file data), device reads of %d MiB, %d rounds, uri extra '%s'",
                    vdisk.length(), mib, readMib, rounds, extra));
            report.add(String.format(Locale.ROOT, "upload (multipart, 16 MiB parts, 4 in flight): %.1f MiB/s",
                    mibPerSecond(vdisk.length(), uploadNanos)));
            // Warm-up of both paths (JIT, connection set-up), not recorded: full passes, several of them. With one
            // 64 MiB warm-up the naive loop's per-GET SDK code was still being compiled in the recorded rounds,
            // which flattered the device (S3ChainBench saw the loop speed up through its eighth warm-up round).
            int warmups = Integer.getInteger("bench.warmup", 10);
            for (int w = 0; w < warmups; w++) {
                naive(server, key, vdisk.length(), null);
                device(uri, vdisk, readMib, vdisk.length(), sample);
            }
            long[] naive = new long[rounds];
            long[] device = new long[rounds];
            double[] ratios = new double[rounds];
            for (int r = 0; r < rounds; r++) {
                ProcessCpu before = ProcessCpu.now(server);
                naive[r] = naive(server, key, vdisk.length(), sample);
                ProcessCpu middle = ProcessCpu.now(server);
                device[r] = device(uri, vdisk, readMib, vdisk.length(), sample);
                ProcessCpu after = ProcessCpu.now(server);
                ratios[r] = (double) naive[r] / device[r];
                report.add(String.format(Locale.ROOT, "round %d: naive 1 MiB GET loop %.1f MiB/s (%.2f s; cpu client %.2f s, "
                                + "s3proxy %.2f s), dcd device %.1f MiB/s (%.2f s; cpu client %.2f s, s3proxy %.2f s), ratio %.2fx",
                        r + 1, mibPerSecond(vdisk.length(), naive[r]), naive[r] / 1e9, middle.client(before), middle.server(before),
                        mibPerSecond(vdisk.length(), device[r]), device[r] / 1e9, after.client(middle), after.server(middle),
                        ratios[r]));
            }
            double[] sortedRatios = ratios.clone();
            Arrays.sort(sortedRatios);
            report.add(String.format(Locale.ROOT, "median: naive %.1f MiB/s, dcd device %.1f MiB/s; median of per-round ratios "
                            + "device/naive %.2fx (min %.2fx, max %.2fx); load average at end %.1f on %d cpus",
                    mibPerSecond(vdisk.length(), median(naive)), mibPerSecond(vdisk.length(), median(device)),
                    sortedRatios[rounds / 2], sortedRatios[0], sortedRatios[rounds - 1],
                    java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage(),
                    Runtime.getRuntime().availableProcessors()));
        } finally {
            BenchFiles.deleteTree(dir);
        }
        BenchFiles.writeReport("S3ReadBench", "s3-read.txt", report);
    }

    /** Files of 8 MiB of random bytes (incompressible, all distinct) until the size is reached. */
    private static SealedVdisk build(Path file, int mib) throws IOException {
        Random random = new Random(42);
        byte[] data = new byte[8 * MIB];
        try (VdiskWriter writer = VdiskWriter.create(file, "bench", "1", Long.MAX_VALUE)) {
            for (int i = 0; i < mib / 8; i++) {
                random.nextBytes(data);
                writer.file(String.format("f%03d", i), 0644, 0, 0, 1_700_000_000L, 0, new ByteArrayInputStream(data), data.length);
            }
            return writer.finish();
        }
    }

    /** The first and the last MiB, to check that both paths read the right bytes without hashing everything. */
    private static byte[] sampleOf(Path file, long length) throws IOException {
        byte[] all = new byte[2 * MIB];
        try (var channel = java.nio.channels.FileChannel.open(file)) {
            channel.read(ByteBuffer.wrap(all, 0, MIB), 0);
            channel.read(ByteBuffer.wrap(all, MIB, MIB), length - MIB);
        }
        return all;
    }

    private static long naive(S3ProxyServer server, String key, long length, byte[] sample) {
        byte[] first = null;
        byte[] last = null;
        try (S3Client client = server.client()) {
            long start = System.nanoTime();
            for (long offset = 0; offset < length; offset += MIB) {
                long end = Math.min(length, offset + MIB) - 1;
                long from = offset;
                byte[] bytes = client.getObject(b -> b.bucket(BUCKET).key(key).range("bytes=" + from + "-" + end),
                        ResponseTransformer.<GetObjectResponse>toBytes()).asByteArrayUnsafe();
                assertEquals(end - offset + 1, bytes.length);
                if (offset == 0) {
                    first = bytes;
                }
                last = bytes;
            }
            long nanos = System.nanoTime() - start;
            if (sample != null) {
                assertArrayEquals(Arrays.copyOf(sample, MIB), first);
                assertTail(sample, last, last.length, length);
            }
            return nanos;
        }
    }

    /** The last {@code n} bytes read must be the vdisk's last {@code n} bytes (when the read reached its end). */
    private static void assertTail(byte[] sample, byte[] read, int n, long lengthRead) {
        if (lengthRead < 2L * MIB || sample.length != 2 * MIB) {
            return;
        }
        int k = Math.min(n, MIB);
        assertArrayEquals(Arrays.copyOfRange(sample, 2 * MIB - k, 2 * MIB), Arrays.copyOfRange(read, n - k, n));
    }

    private static long device(URI uri, SealedVdisk vdisk, int readMib, long length, byte[] sample) throws IOException {
        try (Backend backend = Backends.open("bench", uri); BlockDevice device = backend.open(vdisk.id())) {
            ByteBuffer buffer = ByteBuffer.allocate(readMib * MIB);
            byte[] first = new byte[MIB];
            int lastLength = 0;
            long start = System.nanoTime();
            for (long offset = 0; offset < length; offset += buffer.capacity()) {
                buffer.clear().limit((int) Math.min(buffer.capacity(), length - offset));
                device.read(offset, buffer);
                if (offset == 0) {
                    buffer.get(0, first);
                }
                lastLength = buffer.limit();
            }
            long nanos = System.nanoTime() - start;
            assertArrayEquals(Arrays.copyOf(sample, MIB), first);
            if (length == vdisk.length()) {
                assertTail(sample, buffer.array(), lastLength, length);
            }
            return nanos;
        }
    }

}
