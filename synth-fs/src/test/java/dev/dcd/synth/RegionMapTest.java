package dev.dcd.synth;

import dev.dcd.vdisk.ContentId;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class RegionMapTest {
    @TempDir
    Path temp;

    private static final ContentId A = new ContentId("aa".repeat(32));
    private static final ContentId B = new ContentId("bb".repeat(32));

    @Test
    void gapsBecomeZeroRegionsAndTheMapCoversTheDisk() {
        RegionMap map = new RegionMapBuilder(100_000, List.of(A))
                .appData(20_000, 8192, 0, 4096)
                .metadata(0, 4096)
                .build();
        assertEquals(List.of(
                new RegionMap.Region(0, 4096, RegionMap.Kind.METADATA, -1, 0),
                new RegionMap.Region(4096, 15_904, RegionMap.Kind.ZERO, -1, 0),
                new RegionMap.Region(20_000, 8192, RegionMap.Kind.APP_DATA, 0, 4096),
                new RegionMap.Region(28_192, 71_808, RegionMap.Kind.ZERO, -1, 0)), map.regions());
    }

    @Test
    void lookupsFindTheRegionHoldingAnOffset() {
        RegionMap map = new RegionMapBuilder(1 << 20, List.of(A)).metadata(0, 4096).appData(8192, 4096, 0, 0).build();
        assertEquals(RegionMap.Kind.METADATA, map.find(4095).kind());
        assertEquals(RegionMap.Kind.ZERO, map.find(4096).kind());
        assertEquals(RegionMap.Kind.APP_DATA, map.find(8192).kind());
        assertEquals(RegionMap.Kind.ZERO, map.find((1 << 20) - 1).kind());
        assertThrows(IndexOutOfBoundsException.class, () -> map.find(1 << 20));
    }

    @Test
    void touchingRangesMergeOnlyWhenTheyAreContiguousInTheSameVdisk() {
        RegionMap map = new RegionMapBuilder(1 << 20, List.of(A, B))
                .metadata(0, 4096).metadata(4096, 4096)
                .appData(8192, 4096, 0, 0).appData(12_288, 4096, 0, 4096)
                .appData(16_384, 4096, 1, 8192)
                .appData(20_480, 4096, 1, 0)
                .build();
        assertEquals(5, map.regionCount(), map.regions().toString());
        assertEquals(8192, map.region(0).length());
        assertEquals(8192, map.region(1).length());
    }

    @Test
    void overlappingRegionsAreASynthesizerBug() {
        RegionMapBuilder b = new RegionMapBuilder(1 << 20, List.of(A)).metadata(0, 8192).appData(4096, 4096, 0, 0);
        assertThrows(IllegalStateException.class, b::build);
    }

    @Test
    void aSavedMapLoadsBackIdentical() throws Exception {
        RegionMap map = new RegionMapBuilder(1 << 30, List.of(A, B)).metadata(0, 1 << 20)
                .appData(1 << 21, 12_288, 1, 4096).build();
        Path file = temp.resolve("regions.bin");
        map.save(file);
        RegionMap loaded = RegionMap.load(file);
        assertEquals(map.regions(), loaded.regions());
        assertEquals(map.vdisks(), loaded.vdisks());
        assertEquals(map.size(), loaded.size());
    }
}
