package dev.dcd.tests.bench;

import dev.dcd.filter.DynamicContentDisk;
import dev.dcd.filter.ReadaheadConfig;
import dev.dcd.synth.FileIndex;
import dev.dcd.synth.RegionMap;
import dev.dcd.tests.s3.S3Home;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.StandardOpenOption;
import java.nio.file.Path;
import java.util.Random;
import java.util.zip.CRC32C;

/** The data the chain benchmarks read: a seeded random file, and where its bytes lie in the imported vdisk. */
final class BenchData {
    /** Generation block; the bytes written do not depend on it (Random.nextBytes is one stream in 4-byte steps). */
    private static final int BLOCK = 4 * BenchMath.MIB;

    private BenchData() {
    }

    /**
     * The product's readahead unless -Dbench.ra-min-kib / -Dbench.ra-max-kib / -Dbench.ra-threads /
     * -Dbench.ra-slow-rate-mib (MiB/s a far stream's windows are sized for; 0 turns the latency rule off) override it.
     */
    static ReadaheadConfig readahead() {
        return new ReadaheadConfig(true,
                Integer.getInteger("bench.ra-min-kib", ReadaheadConfig.DEFAULT.minWindow() / 1024) * 1024,
                Integer.getInteger("bench.ra-max-kib", ReadaheadConfig.DEFAULT.maxWindow() / 1024) * 1024,
                ReadaheadConfig.DEFAULT.streams(),
                Integer.getInteger("bench.ra-threads", ReadaheadConfig.DEFAULT.threads()))
                .withLatencyRule(ReadaheadConfig.DEFAULT.slowLatency(), Long.getLong("bench.ra-slow-rate-mib",
                        ReadaheadConfig.DEFAULT.slowRate() >> 20) << 20);
    }

    /** Writes {@code size} bytes of {@code new Random(seed)} to {@code file}; returns their CRC32C. */
    static long writeRandom(Path file, long size, long seed) throws IOException {
        CRC32C digest = new CRC32C();
        Random random = new Random(seed);
        byte[] block = new byte[BLOCK];
        try (OutputStream out = Files.newOutputStream(file)) {
            for (long done = 0; done < size; done += block.length) {
                random.nextBytes(block);
                int n = (int) Math.min(block.length, size - done);
                out.write(block, 0, n);
                digest.update(block, 0, n);
            }
        }
        return digest.getValue();
    }

    /** Where the file's bytes start in VM {@code vm}'s vdisk: the region map entry of its first disk extent. */
    static long vdiskOffsetOf(S3Home dcd, String vm, FileIndex.Node file) throws IOException {
        RegionMap map = RegionMap.load(dcd.currentGeneration(vm).resolve(DynamicContentDisk.REGION_MAP));
        var region = map.find(file.extentOffset(0));
        return region.vdiskOffset() + (file.extentOffset(0) - region.start());
    }

    /**
     * The ceiling of any first fill of a cache file on this machine: {@code bytes} written into a new file in 1 MiB
     * positional writes (as the cache stores a readahead window's pieces), nothing forced; nanoseconds. The file is
     * kept (deleting it would hand its pages to whatever runs next, which would then not pay for new memory).
     * On a VM whose free memory is returned to the hypervisor, every page the page cache takes for the first time
     * is a fault on the host; that, not the cache's code, is what this measures.
     */
    static long freshFileWrite(Path file, long bytes) throws IOException {
        ByteBuffer block = ByteBuffer.allocateDirect(BenchMath.MIB);
        byte[] random = new byte[BenchMath.MIB];
        new Random(3).nextBytes(random);
        block.put(random).flip();
        try (FileChannel out = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            long start = System.nanoTime();
            for (long at = 0; at < bytes; at += BenchMath.MIB) {
                ByteBuffer b = block.duplicate().limit((int) Math.min(BenchMath.MIB, bytes - at));
                while (b.hasRemaining()) {
                    out.write(b, at + b.position());
                }
            }
            return System.nanoTime() - start;
        }
    }

    /**
     * Reads {@code [offset, offset + length)} of a server's backing file, untimed, so that every timed reader of the
     * round finds it in the page cache: otherwise the first reader of a round pays for pages the machine dropped
     * since the last, and the figures depend on the order they run in.
     */
    static void pageIn(Path file, long offset, long length) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocateDirect(4 * BenchMath.MIB);
        try (FileChannel in = FileChannel.open(file, StandardOpenOption.READ)) {
            for (long at = offset; at < offset + length; ) {
                buffer.clear().limit((int) Math.min(buffer.capacity(), offset + length - at));
                int n = in.read(buffer, at);
                if (n < 0) {
                    break;
                }
                at += n;
            }
        }
    }

    /** The one-minute load average. */
    static double load() {
        return java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
    }
}
