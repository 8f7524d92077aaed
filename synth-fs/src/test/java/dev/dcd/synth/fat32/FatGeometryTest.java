package dev.dcd.synth.fat32;

import dev.dcd.synth.SynthesisException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class FatGeometryTest {
    private static final long MIB = 1L << 20;
    private static final long GIB = 1L << 30;

    @Test
    void clusterSizesFollowMicrosoftsFat32Table() {
        assertEquals(0, FatGeometry.sectorsPerCluster(66_600), "32.5 MB and less is no FAT32 volume");
        assertEquals(1, FatGeometry.sectorsPerCluster(66_601));
        assertEquals(1, FatGeometry.sectorsPerCluster(532_480), "up to 260 MB: 512 bytes");
        assertEquals(8, FatGeometry.sectorsPerCluster(532_481));
        assertEquals(8, FatGeometry.sectorsPerCluster(8 * GIB / 512), "up to 8 GB: 4 KiB");
        assertEquals(16, FatGeometry.sectorsPerCluster(8 * GIB / 512 + 1));
        assertEquals(16, FatGeometry.sectorsPerCluster(16 * GIB / 512), "up to 16 GB: 8 KiB");
        assertEquals(32, FatGeometry.sectorsPerCluster(32 * GIB / 512), "up to 32 GB: 16 KiB");
        assertEquals(64, FatGeometry.sectorsPerCluster(32 * GIB / 512 + 1), "larger: 32 KiB");
    }

    @Test
    void theFatsCoverEveryClusterAndTheDataRegionStartsOnA4KiBClusterBoundary() throws Exception {
        for (long size : new long[] {40 * MIB, 62 * MIB, 254 * MIB, 1022 * MIB, 8 * GIB - 2 * MIB, 20 * GIB, 100 * GIB}) {
            FatGeometry g = FatGeometry.of(size);
            assertTrue((g.clusterCount + 2) * 4 <= g.fatBytes(), "FAT too short for " + size);
            assertTrue(g.clusterCount >= FatGeometry.MIN_CLUSTERS);
            long dataStart = g.dataStartSector() * 512;
            assertEquals(0, dataStart % Math.max(4096, g.clusterSize()), "data start for " + size);
            assertTrue(g.clusterOffset(g.clusterLimit()) <= size, "last cluster inside the partition for " + size);
            assertEquals(FatGeometry.RESERVED_SECTORS * 512, g.fatOffset(0));
            assertEquals(g.fatOffset(0) + g.fatBytes(), g.fatOffset(1));
        }
    }

    @Test
    void aPartitionTooSmallForFat32IsRefusedClearly() {
        SynthesisException e = assertThrows(SynthesisException.class, () -> FatGeometry.of(30 * MIB));
        assertTrue(e.getMessage().contains("too small for FAT32"), e.getMessage());
    }
}
