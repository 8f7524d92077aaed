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
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Reading a generation's guest writes for export: what a flush made durable, without touching the overlay. */
class OverlayWritesTest {
    private static final int SIZE = (1 << 20) + 1000;   // the last block is short

    @TempDir
    Path dir;

    private final byte[] lower = TestGeneration.bytes(new Random(5), SIZE);

    private OverlayFilter open() throws IOException {
        return OverlayFilter.open(ExtendedBlockDevice.of(MemoryBlockDevice.readOnly(lower)), dir);
    }

    private Set<String> files() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).collect(Collectors.toSet());
        }
    }

    @Test
    void noOverlayMeansNoWritesAndNothingIsCreated() throws IOException {
        OverlayWrites writes = OverlayWrites.read(dir, SIZE);
        assertTrue(writes.isEmpty());
        assertEquals(0, writes.bytes());
        assertEquals(Set.of(), files());
    }

    @Test
    void flushedWritesAreRunsOfWholeBlocksAndCopyGivesTheBytesTheOverlayServes() throws IOException {
        byte[] a = TestGeneration.bytes(new Random(1), 5000);     // into blocks 1 and 2, partly: copied up
        byte[] b = TestGeneration.bytes(new Random(3), 4096);     // straddles blocks 48 and 49
        byte[] tail = TestGeneration.bytes(new Random(2), 700);   // inside the short last block
        byte[] served;
        try (OverlayFilter overlay = open()) {
            overlay.write(4096 + 100, ByteBuffer.wrap(a));
            overlay.write(200_000, ByteBuffer.wrap(b));
            overlay.write(SIZE - 700, ByteBuffer.wrap(tail));
            overlay.flush();
            ByteBuffer all = ByteBuffer.allocate(SIZE);
            overlay.read(0, all);
            served = all.array();
        }
        OverlayWrites writes = OverlayWrites.read(dir, SIZE);
        long lastBlock = (SIZE / 4096) * 4096L;
        assertEquals(List.of(new OverlayWrites.Run(4096, 2 * 4096), new OverlayWrites.Run(48 * 4096, 2 * 4096),
                new OverlayWrites.Run(lastBlock, SIZE - lastBlock)), writes.runs());
        assertEquals(4 * 4096 + (SIZE - lastBlock), writes.bytes());

        // The pristine base with the writes copied over is, byte for byte, what the overlay serves.
        Path out = dir.resolve("export.raw");
        Files.write(out, lower);
        Set<String> before = files();
        try (FileChannel ch = FileChannel.open(out, StandardOpenOption.WRITE)) {
            writes.copyTo(dir, ch);
        }
        assertEquals(before, files(), "reading the overlay creates nothing");
        assertArrayEquals(served, Files.readAllBytes(out));
    }

    @Test
    void aWriteNotYetFlushedIsNotPartOfWhatIsRead() throws IOException {
        try (OverlayFilter overlay = open()) {
            overlay.write(8192, ByteBuffer.wrap(new byte[4096]));
            overlay.flush();
            overlay.write(65536, ByteBuffer.wrap(new byte[4096]));
            assertEquals(List.of(new OverlayWrites.Run(8192, 4096)), OverlayWrites.read(dir, SIZE).runs(),
                    "only what the last flush made durable, as a crash of the mount would leave it");
        }
        assertEquals(2, OverlayWrites.read(dir, SIZE).runs().size(), "close flushes the second write");
    }
}
