package dev.dcd.synth.fat32;

import dev.dcd.synth.SynthesisException;

/**
 * Where everything lies inside the FAT32 partition: reserved sectors, the two FATs, the data region, and
 * how big a cluster is. All offsets returned here are relative to the partition start.
 */
final class FatGeometry {
    static final int SECTOR = 512;
    static final int RESERVED_SECTORS = 32;
    static final int FAT_COUNT = 2;
    /** Below this many clusters every FAT driver takes the volume for FAT12/16 (fatgen103, "FAT type determination"). */
    static final long MIN_CLUSTERS = 65525;
    /** Cluster numbers from 0x0FFFFFF7 up are reserved (bad cluster, end of chain). */
    static final long MAX_CLUSTERS = 0x0FFFFFF5L - 2;
    /** The data region starts on a multiple of this, so 4 KiB app blocks map onto whole disk blocks. */
    static final int DATA_ALIGNMENT = 4096;

    final long totalSectors;
    final int sectorsPerCluster;
    final long fatSectors;
    final long clusterCount;

    private FatGeometry(long totalSectors, int sectorsPerCluster, long fatSectors, long clusterCount) {
        this.totalSectors = totalSectors;
        this.sectorsPerCluster = sectorsPerCluster;
        this.fatSectors = fatSectors;
        this.clusterCount = clusterCount;
    }

    /**
     * Sectors per cluster for a FAT32 volume of {@code totalSectors}, Microsoft's table from fatgen103
     * ("DskTableFAT32"), or 0 when the volume is too small for FAT32.
     */
    static int sectorsPerCluster(long totalSectors) {
        if (totalSectors <= 66_600L) {
            return 0;            // up to 32.5 MB: not FAT32
        } else if (totalSectors <= 532_480L) {
            return 1;            // up to 260 MB: 512 B
        } else if (totalSectors <= 16_777_216L) {
            return 8;            // up to 8 GB: 4 KiB
        } else if (totalSectors <= 33_554_432L) {
            return 16;           // up to 16 GB: 8 KiB
        } else if (totalSectors <= 67_108_864L) {
            return 32;           // up to 32 GB: 16 KiB
        }
        return 64;               // larger: 32 KiB
    }

    static FatGeometry of(long partitionBytes) throws SynthesisException {
        long totalSectors = partitionBytes / SECTOR;
        if (totalSectors > 0xFFFFFFFFL) {
            throw new SynthesisException("the partition of " + partitionBytes + " bytes is larger than FAT32's 2 TiB "
                    + "limit; choose a smaller disk or ext4");
        }
        int spc = sectorsPerCluster(totalSectors);
        if (spc == 0) {
            throw new SynthesisException("the partition of " + partitionBytes + " bytes is too small for FAT32, which "
                    + "needs at least 65525 clusters (about 33 MiB of partition); choose a larger disk");
        }
        // The FAT must hold an entry for every cluster the rest of the partition has room for; iterate to the
        // fixed point, since a larger FAT leaves fewer clusters.
        long fat = 1;
        while (true) {
            long clusters = (totalSectors - RESERVED_SECTORS - FAT_COUNT * fat) / spc;
            long need = ceilDiv((clusters + 2) * 4, SECTOR);
            if (need <= fat) {
                break;
            }
            fat = need;
        }
        // Grow the FATs (never the reserved area, which stays 32 sectors) until the data region starts on a
        // cluster and 4 KiB boundary; a FAT longer than needed is legal, only a short one is not.
        long align = Math.max(spc, DATA_ALIGNMENT / SECTOR);
        while ((RESERVED_SECTORS + FAT_COUNT * fat) % align != 0) {
            fat++;
        }
        long clusters = (totalSectors - RESERVED_SECTORS - FAT_COUNT * fat) / spc;
        if (clusters < MIN_CLUSTERS) {
            throw new SynthesisException("the partition of " + partitionBytes + " bytes has room for only " + clusters
                    + " clusters, fewer than the 65525 FAT32 needs; choose a larger disk");
        }
        if (clusters > MAX_CLUSTERS) {
            throw new SynthesisException("the partition of " + partitionBytes + " bytes would need " + clusters
                    + " clusters, more than FAT32 can number; choose a smaller disk or ext4");
        }
        return new FatGeometry(totalSectors, spc, fat, clusters);
    }

    int clusterSize() {
        return sectorsPerCluster * SECTOR;
    }

    long fatOffset(int copy) {
        return (RESERVED_SECTORS + (long) copy * fatSectors) * SECTOR;
    }

    long fatBytes() {
        return fatSectors * SECTOR;
    }

    long dataStartSector() {
        return RESERVED_SECTORS + FAT_COUNT * fatSectors;
    }

    /** Partition-relative byte offset of cluster {@code cluster} (the first data cluster is number 2). */
    long clusterOffset(long cluster) {
        return (dataStartSector() + (cluster - 2) * sectorsPerCluster) * SECTOR;
    }

    /** One past the highest valid cluster number. */
    long clusterLimit() {
        return clusterCount + 2;
    }

    long clustersFor(long bytes) {
        return ceilDiv(bytes, clusterSize());
    }

    static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }
}
