package dev.dcd.backend;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** A remote device's read: header and manifest from memory, the data region between them from the backend only. */
class VdiskEndsTest {
    private static final int HEAD = 16;
    private static final long TAIL_START = 64;
    private static final int TAIL = 8;

    /** Byte i of the whole vdisk. */
    private static byte at(long i) {
        return (byte) (i * 7 + 3);
    }

    private static byte[] bytes(long from, int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = at(from + i);
        }
        return b;
    }

    private final List<long[]> dataReads = new ArrayList<>();

    private VdiskEnds ends(boolean dataKnown) {
        return new VdiskEnds(bytes(0, HEAD), TAIL_START, bytes(TAIL_START, TAIL), dataKnown);
    }

    private byte[] read(VdiskEnds ends, long offset, int length) throws Exception {
        ByteBuffer dst = ByteBuffer.allocate(length + 4).position(2).limit(2 + length);
        ends.read(offset, dst, (pos, part) -> {
            dataReads.add(new long[] {pos, part.remaining()});
            assertEquals(0, part.position(), "the data part starts at its own position 0");
            part.put(bytes(pos, part.remaining()));
        });
        assertEquals(2 + length, dst.position(), "dst advanced by what was read");
        byte[] out = new byte[length];
        dst.get(2, out);
        return out;
    }

    @Test
    void aReadAcrossAllThreePartsAsksTheBackendForTheDataRegionOnly() throws Exception {
        assertArrayEquals(bytes(0, (int) TAIL_START + TAIL), read(ends(true), 0, (int) TAIL_START + TAIL));
        assertEquals(1, dataReads.size());
        assertArrayEquals(new long[] {HEAD, TAIL_START - HEAD}, dataReads.get(0));
    }

    @Test
    void headerAndManifestBytesNeverGoToTheBackend() throws Exception {
        assertArrayEquals(bytes(3, 10), read(ends(true), 3, 10));
        assertArrayEquals(bytes(TAIL_START + 2, 5), read(ends(true), TAIL_START + 2, 5));
        assertEquals(0, dataReads.size());
    }

    @Test
    void aReadInsideTheDataRegionIsOnePart() throws Exception {
        assertArrayEquals(bytes(20, 30), read(ends(true), 20, 30));
        assertEquals(1, dataReads.size());
        assertArrayEquals(new long[] {20, 30}, dataReads.get(0));
    }

    @Test
    void theDataRegionCannotBeReadWhileTheDeviceIsStillOpening() throws Exception {
        VdiskEnds opening = ends(false);
        assertArrayEquals(bytes(0, HEAD), read(opening, 0, HEAD));
        assertThrows(IllegalStateException.class, () -> read(opening, HEAD, 4));
    }
}
