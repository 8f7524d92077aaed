package dev.dcd.backend.lun;

import dev.dcd.block.MemoryBlockDevice;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.zip.CRC32C;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Pins the on-LUN layout docs/san-backend.md documents: every offset here is a literal from the doc, not a
 * constant from the code, so the two cannot drift apart unnoticed.
 */
class LunFormatGoldenTest {
    private static final int MIB = 1024 * 1024;
    private static final byte[] LUN_ID = HexFormat.of().parseHex("00112233445566778899aabbccddeeff");
    private static final Clock CLOCK = Clock.fixed(Instant.ofEpochMilli(1_764_547_200_000L), ZoneOffset.UTC);

    private static ByteBuffer le(byte[] bytes, int from, int to) {
        return ByteBuffer.wrap(Arrays.copyOfRange(bytes, from, to)).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static int crc(byte[] b, int from, int to) {
        CRC32C c = new CRC32C();
        c.update(b, from, to - from);
        return (int) c.getValue();
    }

    @Test
    void aFreshlyFormattedLunHasTheDocumentedBytes() throws IOException {
        MemoryBlockDevice lun = new MemoryBlockDevice(new byte[8 * MIB], true);
        LunVolume.open(lun, LunVolume.Mode.FORMAT_IF_BLANK, CLOCK, LUN_ID::clone);
        byte[] b = lun.bytes();

        // Generation 1 is odd: header copy B at 4096, table slot 1 at 2 MiB; copy A and slot 0 stay zero.
        assertTrue(Arrays.equals(new byte[4096], Arrays.copyOfRange(b, 0, 4096)), "header copy A is unwritten");
        byte[] h = Arrays.copyOfRange(b, 4096, 8192);
        assertEquals("4443444c554e4844" // "DCDLUNHD"
                        + "01000000" + "00100000"                     // version 1, block size 4096
                        + "0100000000000000"                          // generation 1
                        + "0000800000000000"                          // LUN size 8 MiB
                        + "0000200000000000"                          // table offset 2 MiB (slot 1)
                        + "30000000",                                  // table length 48
                HexFormat.of().formatHex(h, 0, 44));
        ByteBuffer f = le(h, 0, 4096);
        assertEquals(3L * MIB, f.getLong(48), "data start");
        assertEquals(65536L, f.getLong(56), "allocation unit");
        assertArrayEquals(LUN_ID, Arrays.copyOfRange(h, 64, 80));
        assertEquals(1_764_547_200_000L, f.getLong(80), "formatted at");
        assertEquals(crc(h, 0, 88), f.getInt(88), "header CRC32C over bytes [0, 88)");
        assertTrue(Arrays.equals(new byte[4096 - 92], Arrays.copyOfRange(h, 92, 4096)), "the rest is zero");

        byte[] t = Arrays.copyOfRange(b, 2 * MIB, 2 * MIB + 48);
        assertEquals(crc(t, 0, 48), f.getInt(44), "table CRC32C over its 48 bytes");
        assertEquals("4443444c554e5442"      // "DCDLUNTB"
                        + "0100000000000000"  // generation 1
                        + "00000000"          // no extents
                        + "01000000"          // one free range
                        + "0000000000000000"  // reserved
                        + "0000300000000000"  // free from 3 MiB
                        + "0000500000000000", // for 5 MiB
                HexFormat.of().formatHex(t));
        assertTrue(Arrays.equals(new byte[MIB], Arrays.copyOfRange(b, MIB, 2 * MIB)), "table slot 0 is unwritten");
    }

    @Test
    void anExtentEntryIsSixtyFourBytesAndTheNextCommitUsesCopyAAndSlotZero() throws IOException {
        MemoryBlockDevice lun = new MemoryBlockDevice(new byte[8 * MIB], true);
        LunVolume v = LunVolume.open(lun, LunVolume.Mode.FORMAT_IF_BLANK, CLOCK, LUN_ID::clone);
        byte[] idBytes = new byte[32];
        Arrays.fill(idBytes, (byte) 0xab);
        ExtentTable.Extent e = v.table().allocate(dev.dcd.vdisk.ContentId.of(idBytes), 70_000).orElseThrow();
        v.commit(v.table().with(e));
        byte[] b = lun.bytes();
        ByteBuffer h = le(b, 0, 4096);
        assertEquals(2, h.getLong(16), "generation 2 went to header copy A");
        assertEquals(MIB, h.getLong(32), "and names table slot 0 at 1 MiB");
        assertEquals(32 + 64 + 16, h.getInt(40));
        byte[] t = Arrays.copyOfRange(b, MIB, MIB + 112);
        assertEquals("ab".repeat(32)
                        + "0000300000000000"   // offset 3 MiB
                        + "7011010000000000"   // length 70,000
                        + "0000020000000000"   // allocated 128 KiB
                        + "01000000"           // state live
                        + "00000000",          // reserved
                HexFormat.of().formatHex(t, 32, 96));
        assertEquals("0000320000000000" + "00004e0000000000", HexFormat.of().formatHex(t, 96, 112),
                "the free range starts where the extent's units end");
    }
}
