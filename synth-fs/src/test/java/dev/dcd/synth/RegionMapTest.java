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

    private Path saved() throws Exception {
        RegionMap map = new RegionMapBuilder(1 << 30, List.of(A, B)).metadata(0, 1 << 20)
                .appData(1 << 21, 12_288, 1, 4096).appData(1 << 22, 8192, 0, 65536).build();
        Path file = temp.resolve("vms").resolve("vc").resolve("gen-3").resolve("regions.bin");
        java.nio.file.Files.createDirectories(file.getParent());
        map.save(file);
        return file;
    }

    /** The one line a damaged map gives: names the file, says what to do, no Java exception text. */
    private static void assertOneClearLine(Path file, String message) {
        assertTrue(message.startsWith("region map " + file + " is damaged: "), message);
        assertTrue(message.endsWith("'dcd disk build vc' builds a new generation"), message);
        assertFalse(message.contains("\n") || message.contains("null") || message.contains("Exception"), message);
    }

    @Test
    void everySingleFlippedByteIsRefusedWithOneLineNamingTheFile() throws Exception {
        Path file = saved();
        byte[] good = java.nio.file.Files.readAllBytes(file);
        for (int i = 0; i < good.length; i++) {
            for (int bit : new int[] {0x01, 0x80}) {
                byte[] bad = good.clone();
                bad[i] ^= (byte) bit;
                java.nio.file.Files.write(file, bad);
                java.io.IOException e = assertThrows(java.io.IOException.class, () -> RegionMap.load(file),
                        "flip of bit " + bit + " in byte " + i);
                assertOneClearLine(file, e.getMessage());
            }
        }
    }

    @Test
    void emptyAndTruncatedMapsAreRefusedWithOneLine() throws Exception {
        Path file = saved();
        byte[] good = java.nio.file.Files.readAllBytes(file);
        for (int length : new int[] {0, 7, 8, 47, 48, good.length - 32, good.length - 1}) {
            java.nio.file.Files.write(file, java.util.Arrays.copyOf(good, length));
            java.io.IOException e = assertThrows(java.io.IOException.class, () -> RegionMap.load(file));
            assertOneClearLine(file, e.getMessage());
        }
        java.nio.file.Files.delete(file);
        java.io.IOException e = assertThrows(java.io.IOException.class, () -> RegionMap.load(file));
        assertEquals("region map " + file + " is missing; 'dcd disk build vc' builds a new generation", e.getMessage());
    }

    /** Damage that keeps the checksums right (a bug, or a hand edit) still meets every structural check. */
    private static byte[] resealed(byte[] bytes) {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(bytes).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        b.putInt(RegionMap.H_BODY_CRC, Checks.crc32c(bytes, RegionMap.HEADER_SIZE, bytes.length - RegionMap.HEADER_SIZE));
        b.putInt(RegionMap.H_CRC, Checks.crc32c(bytes, 0, RegionMap.H_CRC));
        return bytes;
    }

    @Test
    void resealedMapsThatBreakTheRulesAreRefusedNamingTheRule() throws Exception {
        Path file = saved();
        byte[] good = java.nio.file.Files.readAllBytes(file);
        int regions = RegionMap.HEADER_SIZE + 2 * RegionMap.VDISK_RECORD;
        int second = regions + RegionMap.REGION_RECORD;
        record Case(int offset, long value, int width, String expected) { }
        for (Case c : List.of(
                new Case(second + RegionMap.R_START, 4096, 8, "region 1 starts at 4096, not at 1048576"),
                new Case(second + RegionMap.R_LENGTH, 0, 8, "region 1 has length 0"),
                new Case(second + RegionMap.R_KIND, 7, 1, "region 1 has unknown kind 7"),
                new Case(regions + 2 * RegionMap.REGION_RECORD + RegionMap.R_VDISK, 90, 4, "region 2 names vdisk 90 of 2"),
                new Case(regions + RegionMap.R_VDISK, 0, 4, "region 0 is not app data but names a vdisk"),
                new Case(RegionMap.H_DISK_SIZE, 1L << 40, 8, "its regions end at 1073741824, not at the disk's end"),
                new Case(RegionMap.H_VERSION, 3, 4, "it has format version 3"))) {
            byte[] bad = good.clone();
            java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(bad).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            switch (c.width()) {
                case 1 -> b.put(c.offset(), (byte) c.value());
                case 4 -> b.putInt(c.offset(), (int) c.value());
                default -> b.putLong(c.offset(), c.value());
            }
            java.nio.file.Files.write(file, resealed(bad));
            java.io.IOException e = assertThrows(java.io.IOException.class, () -> RegionMap.load(file), c.expected());
            assertOneClearLine(file, e.getMessage());
            assertTrue(e.getMessage().contains(c.expected()), e.getMessage());
        }
    }

    /** Format 1, as dcd wrote it before the header checksum: read with the same structural checks. */
    private static byte[] formatOne(long size, List<ContentId> ids, List<RegionMap.Region> regions) {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(24 + 32 * ids.size() + 29 * regions.size())
                .order(java.nio.ByteOrder.LITTLE_ENDIAN);
        b.put("DCDREGN1".getBytes(java.nio.charset.StandardCharsets.US_ASCII)).putLong(size).putInt(ids.size())
                .putInt(regions.size());
        ids.forEach(id -> b.put(id.bytes()));
        for (RegionMap.Region r : regions) {
            b.putLong(r.start()).putLong(r.length()).put((byte) r.kind().ordinal()).putInt(r.vdisk()).putLong(r.vdiskOffset());
        }
        return b.array();
    }

    @Test
    void mapsOfOlderGenerationsInFormatOneAreReadAndChecked() throws Exception {
        RegionMap map = RegionMap.load(saved());
        Path file = temp.resolve("old-regions.bin");
        java.nio.file.Files.write(file, formatOne(map.size(), map.vdisks(), map.regions()));
        RegionMap old = RegionMap.load(file);
        assertEquals(map.regions(), old.regions());
        assertEquals(map.vdisks(), old.vdisks());

        List<RegionMap.Region> broken = new java.util.ArrayList<>(map.regions());
        RegionMap.Region app = broken.get(2);
        broken.set(2, new RegionMap.Region(app.start(), app.length(), app.kind(), 90, app.vdiskOffset()));
        java.nio.file.Files.write(file, formatOne(map.size(), map.vdisks(), broken));
        java.io.IOException e = assertThrows(java.io.IOException.class, () -> RegionMap.load(file));
        assertTrue(e.getMessage().contains("region 2 names vdisk 90 of 2"), e.getMessage());
        java.nio.file.Files.write(file, java.util.Arrays.copyOf(formatOne(map.size(), map.vdisks(), map.regions()), 100));
        e = assertThrows(java.io.IOException.class, () -> RegionMap.load(file));
        assertTrue(e.getMessage().contains("is damaged: it holds 100 bytes where its header describes"), e.getMessage());
    }
}
