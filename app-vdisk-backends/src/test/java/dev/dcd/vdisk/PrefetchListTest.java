package dev.dcd.vdisk;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The stored form of a start-up trace: what goes in comes out, and any damaged byte is refused with one line. */
class PrefetchListTest {
    private static final ContentId ID = new ContentId("ab".repeat(32));
    private static final ContentId OTHER = new ContentId("cd".repeat(32));
    private static final PrefetchList LIST = new PrefetchList(ID, 30, new int[] {7, 8, 9, 2, 100, 0});

    @Test
    void aListReadsBackAsItWasWritten() throws IOException {
        byte[] bytes = LIST.encode();
        assertEquals(PrefetchList.HEADER_SIZE + 6 * PrefetchList.ENTRY_SIZE, bytes.length);
        PrefetchList back = PrefetchList.decode(bytes, ID, 101, "test");
        assertEquals(LIST, back);
        assertArrayEquals(new int[] {7, 8, 9, 2, 100, 0}, back.chunks(), "trace order is kept");
        assertEquals(30, back.windowSeconds());
        assertEquals(6L * 65536, back.dataBytes());
    }

    @Test
    void everyFlippedByteIsRefused() {
        byte[] good = LIST.encode();
        for (int i = 0; i < good.length; i++) {
            byte[] bad = good.clone();
            bad[i] ^= 0x10;
            IOException e = assertThrows(IOException.class, () -> PrefetchList.decode(bad, ID, 101, "of vdisk abab"),
                    "byte " + i + " flipped");
            assertTrue(e.getMessage().startsWith("prefetch list of vdisk abab is damaged: "), e.getMessage());
        }
    }

    @Test
    void truncatedOrPaddedBytesAreRefused() {
        byte[] good = LIST.encode();
        assertThrows(IOException.class, () -> PrefetchList.decode(Arrays.copyOf(good, good.length - 4), ID, -1, "t"));
        assertThrows(IOException.class, () -> PrefetchList.decode(Arrays.copyOf(good, good.length + 4), ID, -1, "t"));
        assertThrows(IOException.class, () -> PrefetchList.decode(Arrays.copyOf(good, 10), ID, -1, "t"));
    }

    @Test
    void aListOfAnotherVdiskIsRefused() {
        IOException e = assertThrows(IOException.class, () -> PrefetchList.decode(LIST.encode(), OTHER, -1, "t"));
        assertTrue(e.getMessage().contains("belongs to vdisk " + ID.shortHex()), e.getMessage());
    }

    @Test
    void aChunkBeyondTheVdiskIsRefused() {
        IOException e = assertThrows(IOException.class, () -> PrefetchList.decode(LIST.encode(), ID, 100, "t"));
        assertTrue(e.getMessage().contains("names chunk 100 of a vdisk with 100 chunks"), e.getMessage());
    }

    @Test
    void entriesMustBeDistinctChunks() {
        assertThrows(IllegalArgumentException.class, () -> new PrefetchList(ID, 30, new int[] {1, 2, 1}));
        assertThrows(IllegalArgumentException.class, () -> new PrefetchList(ID, 30, new int[] {-1}));
    }
}
