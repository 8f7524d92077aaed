package dev.dcd.synth.fat32;

import dev.dcd.backend.Progress;
import dev.dcd.synth.AppLayer;
import dev.dcd.synth.DiskSpec;
import dev.dcd.synth.FileIndex;
import dev.dcd.synth.FsType;
import dev.dcd.synth.RegionMap;
import dev.dcd.synth.SynthesizedDisk;
import dev.dcd.synth.Synthesizers;
import dev.dcd.vdisk.ContentId;
import dev.dcd.vdisk.Entry;
import dev.dcd.vdisk.EntryType;
import dev.dcd.vdisk.Manifest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The synthesizer's own output read back field by field; the real tools judge it in the tests module. */
class Fat32SynthesizerTest {
    @TempDir
    Path temp;

    private static Entry dir(String path) {
        return new Entry(path, EntryType.DIRECTORY, 0755, 0, 0, 1_700_000_000L, 0, 0, 0, Entry.NO_HASH, "");
    }

    private static Entry file(String path, long size, long offset) {
        return new Entry(path, EntryType.FILE, 0644, 0, 0, 1_700_000_000L, 0, size, offset, new byte[32], "");
    }

    private SynthesizedDisk build() throws Exception {
        Manifest m = new Manifest("app", "1", List.of(dir(""), dir("d"), file("d/a.bin", 10_000, 4096),
                file("d/empty", 0, 0), file("b.txt", 5, 16384)), 4096, 20_000, new int[0]);
        AppLayer layer = new AppLayer("app", "1", ContentId.of(new byte[32]), m, 0);
        DiskSpec spec = DiskSpec.builder().vmId("unit").fsType(FsType.FAT32).diskSize(1L << 30).build();
        return Synthesizers.forType(FsType.FAT32).synthesize(spec, List.of(layer), temp.resolve("gen"), Progress.NONE);
    }

    private static ByteBuffer read(Path image, long offset, int length) throws Exception {
        ByteBuffer b = ByteBuffer.allocate(length).order(ByteOrder.LITTLE_ENDIAN);
        try (FileChannel ch = FileChannel.open(image)) {
            ch.read(b, offset);
        }
        return b.flip();
    }

    @Test
    void theSmallestBuildableDiskBuildsAndOneBlockLessCannot() throws Exception {
        long min = Fat32Synthesizer.MIN_DISK_SIZE;
        assertEquals(0, min % 4096);
        assertTrue(min > 16L << 20 && min < 64L << 20, "about 34 MiB: " + min);
        Manifest m = new Manifest("app", "1", List.of(dir(""), file("b.txt", 5, 4096)), 4096, 8192, new int[0]);
        AppLayer layer = new AppLayer("app", "1", ContentId.of(new byte[32]), m, 0);
        DiskSpec fits = DiskSpec.builder().vmId("unit").fsType(FsType.FAT32).diskSize(min).build();
        SynthesizedDisk disk = Synthesizers.forType(FsType.FAT32).synthesize(fits, List.of(layer), temp.resolve("min"), Progress.NONE);
        assertTrue(FatGeometry.of(disk.partitionLength()).clusterCount >= FatGeometry.MIN_CLUSTERS);
        DiskSpec tooSmall = DiskSpec.builder().vmId("unit").fsType(FsType.FAT32).diskSize(min - 4096).build();
        assertThrows(dev.dcd.synth.SynthesisException.class, () -> Synthesizers.forType(FsType.FAT32)
                .synthesize(tooSmall, List.of(layer), temp.resolve("small"), Progress.NONE));
    }

    @Test
    void theServiceLoaderFindsTheFat32Synthesizer() {
        assertInstanceOf(Fat32Synthesizer.class, Synthesizers.forType(FsType.FAT32));
    }

    @Test
    void bootSectorBackupAndFsInfoDescribeTheVolumeHonestly() throws Exception {
        SynthesizedDisk disk = build();
        long base = disk.partitionOffset();
        ByteBuffer boot = read(disk.image(), base, 512);
        assertEquals(boot, read(disk.image(), base + 6 * 512, 512), "backup boot sector at 6");
        assertEquals(8, boot.get(Fat32Synthesizer.BPB_SEC_PER_CLUS), "1 GiB disk: 4 KiB clusters");
        assertEquals(32, boot.getShort(Fat32Synthesizer.BPB_RSVD_SEC_CNT));
        assertEquals((byte) 0xF8, boot.get(Fat32Synthesizer.BPB_MEDIA));
        assertEquals(disk.partitionLength() / 512, boot.getInt(Fat32Synthesizer.BPB_TOT_SEC32) & 0xFFFFFFFFL);
        assertEquals(0xAA55, boot.getShort(510) & 0xFFFF);
        FatGeometry g = FatGeometry.of(disk.partitionLength());
        ByteBuffer info = read(disk.image(), base + 512, 512);
        // root, d, then files in directory order: b.txt (1 cluster), d/a.bin (3 clusters)
        assertEquals(g.clusterCount - 6, info.getInt(Fat32Synthesizer.FSI_FREE_COUNT));
        assertEquals(8, info.getInt(Fat32Synthesizer.FSI_NXT_FREE));
        assertEquals(info, read(disk.image(), base + 7 * 512, 512));
        ByteBuffer fat = read(disk.image(), base + g.fatOffset(1), 40);
        int[] expected = {0x0FFFFFF8, 0x0FFFFFFF, 0x0FFFFFFF, 0x0FFFFFFF, 0x0FFFFFFF, 6, 7, 0x0FFFFFFF, 0, 0};
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], fat.getInt(4 * i), "FAT 2 entry " + i);
        }
    }

    @Test
    void fileClustersMapToTheAppVdiskAndEverythingElseIsMetadataOrZero() throws Exception {
        SynthesizedDisk disk = build();
        FatGeometry g = FatGeometry.of(disk.partitionLength());
        long aBin = disk.partitionOffset() + g.clusterOffset(5);
        RegionMap.Region r = disk.regionMap().find(aBin);
        assertEquals(RegionMap.Kind.APP_DATA, r.kind());
        assertEquals(4096, r.vdiskOffset());
        assertEquals(12_288, r.length(), "alignUp(10 000, 4096)");
        RegionMap.Region b = disk.regionMap().find(disk.partitionOffset() + g.clusterOffset(4));
        assertEquals(16384, b.vdiskOffset());
        assertEquals(4096, b.length());
        assertEquals(RegionMap.Kind.ZERO, disk.regionMap().find(disk.partitionOffset() + g.clusterOffset(8)).kind());
        assertEquals(RegionMap.Kind.METADATA, disk.regionMap().find(disk.partitionOffset() + g.fatOffset(1)
                + g.fatBytes() - 1).kind(), "the unused tail of FAT 2 is declared metadata");
        FileIndex index = FileIndex.load(disk.dir().resolve(FileIndex.FILE_NAME));
        assertArrayEquals(new long[] {aBin, 12_288}, index.get("d/a.bin").extents());
        assertEquals(0, index.get("d/empty").extentCount());
        assertEquals(List.of("b.txt", "d"), index.list(""));
        assertEquals(10_005, disk.appBytes());
    }
}
