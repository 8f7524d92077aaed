package dev.dcd.tests.bench;

import dev.dcd.filter.DynamicContentDisk;
import dev.dcd.filter.ReadaheadConfig;
import dev.dcd.synth.FileIndex;
import dev.dcd.synth.RegionMap;
import dev.dcd.tests.s3.S3Home;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.zip.CRC32C;

/** The data the chain benchmarks read: a seeded random file, and where its bytes lie in the imported vdisk. */
final class BenchData {
    /** Generation block; the bytes written do not depend on it (Random.nextBytes is one stream in 4-byte steps). */
    private static final int BLOCK = 4 * BenchMath.MIB;

    private BenchData() {
    }

    /** The product's readahead unless -Dbench.ra-min-kib / -Dbench.ra-max-kib / -Dbench.ra-threads override it. */
    static ReadaheadConfig readahead() {
        return new ReadaheadConfig(true,
                Integer.getInteger("bench.ra-min-kib", ReadaheadConfig.DEFAULT.minWindow() / 1024) * 1024,
                Integer.getInteger("bench.ra-max-kib", ReadaheadConfig.DEFAULT.maxWindow() / 1024) * 1024,
                ReadaheadConfig.DEFAULT.streams(),
                Integer.getInteger("bench.ra-threads", ReadaheadConfig.DEFAULT.threads()));
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
}
