package dev.dcd.filter;

import dev.dcd.block.MemoryBlockDevice;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class OverlayFilterTest {
    private static final int SIZE = 1 << 20;

    @TempDir
    Path dir;

    private final byte[] lowerBytes = TestGeneration.bytes(new Random(5), SIZE);
    private final byte[] lowerCopy = lowerBytes.clone();

    private OverlayFilter open() throws IOException {
        return OverlayFilter.open(ExtendedBlockDevice.of(MemoryBlockDevice.readOnly(lowerBytes)), dir);
    }

    private static byte[] read(ExtendedBlockDevice d, long offset, int length) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(length);
        d.read(offset, b);
        return b.array();
    }

    private static void write(ExtendedBlockDevice d, long offset, byte[] data) throws IOException {
        d.write(offset, ByteBuffer.wrap(data));
    }

    private static byte[] filled(int n, int value) {
        byte[] b = new byte[n];
        Arrays.fill(b, (byte) value);
        return b;
    }

    @Test
    void theOverlayAddsWriteFlushTrimZeroAndExtentsToAReadOnlyLayer() throws IOException {
        try (OverlayFilter overlay = open()) {
            var caps = overlay.capabilities();
            assertTrue(caps.writable() && caps.flush() && caps.trim() && caps.zero() && caps.extents());
        }
    }

    @Test
    void aPartialBlockWriteIsMergedOverTheLowerDataAndTheLowerLayerNeverChanges() throws IOException {
        try (OverlayFilter overlay = open()) {
            write(overlay, 5000, filled(10, 7));
            byte[] expected = Arrays.copyOfRange(lowerCopy, 4096, 8192);
            Arrays.fill(expected, 5000 - 4096, 5010 - 4096, (byte) 7);
            assertArrayEquals(expected, read(overlay, 4096, 4096));
            assertArrayEquals(Arrays.copyOfRange(lowerCopy, 0, 4096), read(overlay, 0, 4096));
            assertEquals(1, overlay.writtenBlocks());
        }
        assertArrayEquals(lowerCopy, lowerBytes);
    }

    @Test
    void concurrentPartialWritesSharingBlocksLoseNoUpdate() throws Exception {
        int threads = 8;
        int blocks = 64;
        try (OverlayFilter overlay = open()) {
            java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(threads);
            try {
                List<java.util.concurrent.Future<?>> futures = new java.util.ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    int id = t;
                    futures.add(pool.submit(() -> {
                        // Thread t owns bytes [t*512, (t+1)*512) of every block: disjoint, but every block shared.
                        for (int b = 0; b < blocks; b++) {
                            write(overlay, (long) b * 4096 + id * 512, filled(512, id + 1));
                        }
                        return null;
                    }));
                }
                for (var f : futures) {
                    f.get();
                }
            } finally {
                pool.shutdown();
            }
            byte[] got = read(overlay, 0, blocks * 4096);
            for (int b = 0; b < blocks; b++) {
                for (int t = 0; t < threads; t++) {
                    int at = b * 4096 + t * 512;
                    assertArrayEquals(filled(512, t + 1), Arrays.copyOfRange(got, at, at + 512), "block " + b + " thread " + t);
                }
            }
        }
    }

    @Test
    void trimDropsWholeBlocksBackToTheLowerLayerAndLeavesPartialEdgesAlone() throws IOException {
        try (OverlayFilter overlay = open()) {
            write(overlay, 0, filled(5 * 4096, 9));
            overlay.trim(100, 3 * 4096);   // covers block 1 and 2 whole, 0 and 3 partly
            byte[] got = read(overlay, 0, 5 * 4096);
            assertArrayEquals(filled(4096, 9), Arrays.copyOfRange(got, 0, 4096));
            assertArrayEquals(Arrays.copyOfRange(lowerCopy, 4096, 3 * 4096), Arrays.copyOfRange(got, 4096, 3 * 4096));
            assertArrayEquals(filled(2 * 4096, 9), Arrays.copyOfRange(got, 3 * 4096, 5 * 4096));
            assertEquals(3, overlay.writtenBlocks());
        }
    }

    @Test
    void zeroMakesTheRangeReadAsZeros() throws IOException {
        try (OverlayFilter overlay = open()) {
            overlay.zero(1000, 10_000);
            assertArrayEquals(new byte[10_000], read(overlay, 1000, 10_000));
            assertArrayEquals(Arrays.copyOfRange(lowerCopy, 11_000, 12_288), read(overlay, 11_000, 1288));
        }
    }

    @Test
    void extentsReportOverlayBlocksAsDataAndAskTheLowerLayerForTheRest() throws IOException {
        try (OverlayFilter overlay = open()) {
            write(overlay, 8192, filled(4096, 1));
            List<Extent> extents = overlay.extents(0, 5 * 4096);
            assertEquals(List.of(new Extent(0, 5 * 4096, Extent.Type.DATA)), extents);
        }
    }

    @Test
    void onlyFlushedWritesCountAsWrittenOnDiskAndTheyReadBackAfterReopen() throws IOException {
        try (OverlayFilter overlay = open()) {
            write(overlay, 12_345, filled(50_000, 3));
            assertFalse(OverlayFilter.hasWrites(dir), "nothing is marked before a flush");
            overlay.flush();
            assertTrue(OverlayFilter.hasWrites(dir));
        }
        try (OverlayFilter overlay = open()) {
            assertArrayEquals(filled(50_000, 3), read(overlay, 12_345, 50_000));
            overlay.trim(0, SIZE);
            overlay.flush();
        }
        assertFalse(OverlayFilter.hasWrites(dir), "a generation whose writes were all trimmed has none");
    }

    @Test
    void aTornJournalTailIsIgnoredAndCutAtOpen() throws IOException {
        try (OverlayFilter overlay = open()) {
            write(overlay, 0, filled(4096, 4));
        }
        Path map = dir.resolve(OverlayJournal.FILE);
        long good = Files.size(map);
        try (FileChannel c = FileChannel.open(map, StandardOpenOption.WRITE, StandardOpenOption.APPEND)) {
            ByteBuffer torn = ByteBuffer.allocate(OverlayJournal.RECORD_SIZE + 7);
            torn.put(0, OverlayJournal.WRITTEN).putInt(4, 10).putLong(8, 20); // a record whose checksum is missing
            c.write(torn);
        }
        try (OverlayFilter overlay = open()) {
            assertEquals(1, overlay.writtenBlocks(), "the torn record did not mark blocks 20..29");
            assertArrayEquals(Arrays.copyOfRange(lowerCopy, 20 * 4096, 30 * 4096), read(overlay, 20 * 4096, 10 * 4096));
            assertArrayEquals(filled(4096, 4), read(overlay, 0, 4096));
        }
        assertEquals(good, Files.size(map));
    }

    @Test
    void aJournalOfManySmallRecordsIsCompactedAtOpen() throws IOException {
        try (OverlayFilter overlay = open()) {
            for (int i = 0; i < 200; i++) {
                write(overlay, (long) ((i * 37) % 200) * 4096, filled(4096, i));
                overlay.trim((long) ((i * 53) % 200) * 4096, 4096);
                overlay.flush();
            }
        }
        Path map = dir.resolve(OverlayJournal.FILE);
        long before = Files.size(map);
        byte[] expected;
        try (OverlayFilter overlay = open()) {
            expected = read(overlay, 0, 200 * 4096);
        }
        assertTrue(Files.size(map) < before / 4, "compacted from " + before + " to " + Files.size(map));
        try (OverlayFilter overlay = open()) {
            assertArrayEquals(expected, read(overlay, 0, 200 * 4096));
        }
    }

    @Test
    void anOverlayMadeForAnotherDiskSizeIsRefused() throws IOException {
        try (OverlayFilter overlay = open()) {
            write(overlay, 0, filled(10, 1));
        }
        IOException e = assertThrows(IOException.class,
                () -> OverlayFilter.open(ExtendedBlockDevice.of(MemoryBlockDevice.readOnly(new byte[8192])), dir));
        assertTrue(e.getMessage().contains("not this generation"), e.getMessage());
    }

    @Test
    void writesAtTheVeryEndOfADiskWhoseSizeIsNotBlockAlignedWork() throws IOException {
        byte[] odd = TestGeneration.bytes(new Random(2), 3 * 4096 + 100);
        try (OverlayFilter overlay = OverlayFilter.open(ExtendedBlockDevice.of(MemoryBlockDevice.readOnly(odd)), dir)) {
            write(overlay, odd.length - 150, filled(150, 8));
            assertArrayEquals(filled(150, 8), read(overlay, odd.length - 150, 150));
            overlay.trim(3 * 4096, 100);
            assertArrayEquals(Arrays.copyOfRange(odd, 3 * 4096, odd.length), read(overlay, 3 * 4096, 100));
        }
    }
}
