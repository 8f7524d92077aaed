package dev.dcd.backend.lun;

import dev.dcd.block.BlockDevice;
import dev.dcd.block.Capabilities;
import dev.dcd.block.MemoryBlockDevice;
import dev.dcd.vdisk.ContentId;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static dev.dcd.backend.lun.LunFormat.*;
import static org.junit.jupiter.api.Assertions.*;

/** How dcd's layout opens, formats, refuses and survives a crash at any write, on an in-memory LUN. */
class LunVolumeTest {
    private static final Clock CLOCK = Clock.fixed(Instant.parse("2026-12-01T00:00:00Z"), ZoneOffset.UTC);
    private static final int MIB = 1024 * 1024;

    static ContentId id(int n) {
        byte[] b = new byte[32];
        Arrays.fill(b, (byte) n);
        return ContentId.of(b);
    }

    private static LunVolume open(BlockDevice lun, LunVolume.Mode mode) throws IOException {
        return LunVolume.open(lun, mode, CLOCK, () -> new byte[16]);
    }

    private static MemoryBlockDevice blank(int mib) {
        return new MemoryBlockDevice(new byte[mib * MIB], true);
    }

    @Test
    void aBlankLunIsFormattedOnFirstUseWithEverythingFree() throws IOException {
        MemoryBlockDevice lun = blank(16);
        LunVolume v = open(lun, LunVolume.Mode.FORMAT_IF_BLANK);
        assertTrue(v.formattedNow());
        assertEquals(1, v.header().generation());
        assertEquals(16L * MIB - DATA_START, v.table().free());
        LunVolume again = open(lun, LunVolume.Mode.FORMAT_IF_BLANK);
        assertFalse(again.formattedNow());
        assertEquals(1, again.header().generation());
    }

    @Test
    void allocationIsFirstFitAndFreedSpaceIsReused() throws IOException {
        LunVolume v = open(blank(16), LunVolume.Mode.FORMAT_IF_BLANK);
        ExtentTable.Extent a = v.table().allocate(id(1), 100_000).orElseThrow();
        v.commit(v.table().with(a));
        ExtentTable.Extent b = v.table().allocate(id(2), 3 * MIB).orElseThrow();
        v.commit(v.table().with(b));
        assertEquals(DATA_START, a.offset());
        assertEquals(2 * ALLOCATION_UNIT, a.allocated(), "100,000 bytes take two 64 KiB units");
        assertEquals(a.end(), b.offset());
        v.commit(v.table().without(id(1)));
        ExtentTable.Extent c = v.table().allocate(id(3), 50_000).orElseThrow();
        assertEquals(DATA_START, c.offset(), "the freed hole is used first");
        assertTrue(v.table().allocate(id(4), 64L * MIB).isEmpty(), "nothing larger than the LUN is allocated");
        assertThrows(IllegalStateException.class, () -> v.table().with(new ExtentTable.Extent(id(5), b.offset(), 10, ALLOCATION_UNIT)),
                "an allocated range is never handed out twice");
    }

    @Test
    void aLunTooSmallIsRefusedAndLeftUntouched() {
        MemoryBlockDevice lun = blank(2);
        IOException e = assertThrows(LunVolume.Refused.class, () -> open(lun, LunVolume.Mode.FORMAT_IF_BLANK));
        assertEquals("the LUN has 2097152 bytes; dcd needs at least 4 MiB (3 MiB of layout and room for a vdisk)", e.getMessage());
        assertTrue(allZero(lun.bytes()));
    }

    @Test
    void foreignSignaturesAreNamedAndNothingIsWritten() throws IOException {
        record Case(int offset, byte[] bytes, String name) {
        }
        List<Case> cases = List.of(
                new Case(1080, new byte[]{0x53, (byte) 0xef}, "an ext2/3/4 filesystem"),
                new Case(512, "EFI PART".getBytes(StandardCharsets.US_ASCII), "a GPT partition table"),
                new Case(510, new byte[]{0x55, (byte) 0xaa}, "an MBR partition table or boot sector"),
                new Case(4086, "SWAPSPACE2".getBytes(StandardCharsets.US_ASCII), "a swap area"),
                new Case(700_000, new byte[]{1}, "data (it is not all zeros)"));
        for (Case c : cases) {
            MemoryBlockDevice lun = blank(8);
            System.arraycopy(c.bytes(), 0, lun.bytes(), c.offset(), c.bytes().length);
            byte[] before = lun.bytes().clone();
            IOException e = assertThrows(LunVolume.Refused.class, () -> open(lun, LunVolume.Mode.FORMAT_IF_BLANK));
            assertEquals("the LUN carries " + c.name() + ", not a dcd layout; dcd formats only all-zero LUNs unless "
                    + "told to erase one (backend add NAME URI --format)", e.getMessage());
            assertArrayEquals(before, lun.bytes(), "a refused LUN is not written");
        }
    }

    @Test
    void formatAnythingErasesAForeignLunAndItsSignature() throws IOException {
        MemoryBlockDevice lun = blank(8);
        lun.bytes()[1080] = 0x53;
        lun.bytes()[1081] = (byte) 0xef;
        LunVolume v = open(lun, LunVolume.Mode.FORMAT_ANYTHING);
        assertTrue(v.formattedNow());
        assertEquals(0, lun.bytes()[1080], "the ext4 signature is gone");
        assertFalse(open(lun, LunVolume.Mode.FORMAT_IF_BLANK).formattedNow());
    }

    @Test
    void aCorruptedExtentTableIsDetectedByItsCrcAndNothingIsOverwritten() throws IOException {
        MemoryBlockDevice lun = blank(8);
        LunVolume v = open(lun, LunVolume.Mode.FORMAT_IF_BLANK);
        v.commit(v.table().with(v.table().allocate(id(1), 5000).orElseThrow()));
        long g = v.header().generation();
        lun.bytes()[(int) tableOffset(g) + T_ENTRIES + E_OFFSET] ^= 0x01;
        byte[] before = lun.bytes().clone();
        IOException e = assertThrows(LunVolume.Refused.class, () -> open(lun, LunVolume.Mode.FORMAT_IF_BLANK));
        assertEquals("the LUN's extent table is corrupt (extent table of generation " + g + " fails its CRC32C); "
                + "nothing was changed (backend add NAME URI --format erases the LUN and its vdisks)", e.getMessage());
        assertArrayEquals(before, lun.bytes());
    }

    @Test
    void bothHeadersDamagedIsRefusedNotFormatted() throws IOException {
        MemoryBlockDevice lun = blank(8);
        LunVolume v = open(lun, LunVolume.Mode.FORMAT_IF_BLANK);
        v.commit(v.table());
        lun.bytes()[(int) HEADER_A_OFFSET + H_GENERATION] ^= 0x40;
        lun.bytes()[(int) HEADER_B_OFFSET + H_GENERATION] ^= 0x40;
        IOException e = assertThrows(LunVolume.Refused.class, () -> open(lun, LunVolume.Mode.FORMAT_IF_BLANK));
        assertTrue(e.getMessage().startsWith("both dcd layout headers on the LUN are damaged"), e.getMessage());
    }

    @Test
    void theNewerValidHeaderWinsAndATornOneFallsBackToTheOlder() throws IOException {
        MemoryBlockDevice lun = blank(8);
        LunVolume v = open(lun, LunVolume.Mode.FORMAT_IF_BLANK);
        v.commit(v.table().with(v.table().allocate(id(1), 5000).orElseThrow()));
        assertEquals(2, v.header().generation());
        assertEquals(1, open(lun, LunVolume.Mode.FORMAT_IF_BLANK).table().extents().size());
        lun.bytes()[(int) headerOffset(2) + 20] ^= 0x01;
        LunVolume reopened = open(lun, LunVolume.Mode.FORMAT_IF_BLANK);
        assertEquals(1, reopened.header().generation(), "the torn generation 2 header loses to generation 1");
        assertEquals(0, reopened.table().extents().size());
    }

    /**
     * The heart of crash safety: a commit cut short after any number of its writes (and with the write it was in
     * torn at any of several points) opens to exactly the old table or exactly the new one.
     */
    @Test
    void aCrashAtAnyPointOfACommitOpensToTheOldOrTheNewTableNeverAMix() throws IOException {
        Random random = new Random(3);
        int checked = 0;
        for (int round = 0; round < 6; round++) {
            MemoryBlockDevice base = blank(16);
            LunVolume v = open(base, LunVolume.Mode.FORMAT_IF_BLANK);
            for (int i = 0; i <= round; i++) {
                v.commit(v.table().with(v.table().allocate(id(10 + i), 1 + random.nextInt(300_000)).orElseThrow()));
            }
            if (round % 2 == 1) {
                v.commit(v.table().without(id(10)));
            }
            List<ContentId> old = v.table().extents().stream().map(ExtentTable.Extent::id).toList();
            byte[] image = base.bytes().clone();
            for (int crashAfter = 0; crashAfter <= 4; crashAfter++) {
                for (int tear : new int[]{-1, 0, 7, 50, 4095}) {
                    CrashingDevice lun = new CrashingDevice(image.clone(), crashAfter, tear);
                    LunVolume live = open(lun, LunVolume.Mode.FORMAT_IF_BLANK);
                    ExtentTable next = live.table().with(live.table().allocate(id(99), 70_000).orElseThrow());
                    List<ContentId> neu = next.extents().stream().map(ExtentTable.Extent::id).toList();
                    try {
                        live.commit(next);
                    } catch (CrashingDevice.Crash expected) {
                        // The process died here.
                    }
                    LunVolume after = open(new MemoryBlockDevice(lun.bytes(), true), LunVolume.Mode.FORMAT_IF_BLANK);
                    List<ContentId> seen = after.table().extents().stream().map(ExtentTable.Extent::id).toList();
                    assertTrue(seen.equals(old) || seen.equals(neu), "crash after " + crashAfter + " writes, tear "
                            + tear + ": " + seen);
                    if (!lun.crashed()) {
                        assertEquals(neu, seen, "a commit that finished is what opens");
                    }
                    checked++;
                }
            }
        }
        assertTrue(checked >= 150);
    }

    private static boolean allZero(byte[] b) {
        for (byte x : b) {
            if (x != 0) {
                return false;
            }
        }
        return true;
    }

    /**
     * A LUN whose process dies after {@code writesBefore} writes: the next write lands only up to {@code tear}
     * bytes (-1: not at all), later ones never. Flushes do nothing: the memory is the durable state.
     */
    static final class CrashingDevice implements BlockDevice {
        static final class Crash extends IOException {
            Crash() {
                super("crashed");
            }
        }

        private final byte[] bytes;
        private final int tear;
        private int writesLeft;
        private boolean crashed;

        CrashingDevice(byte[] bytes, int writesBefore, int tear) {
            this.bytes = bytes;
            this.writesLeft = writesBefore;
            this.tear = tear;
        }

        byte[] bytes() {
            return bytes;
        }

        boolean crashed() {
            return crashed;
        }

        @Override
        public long size() {
            return bytes.length;
        }

        @Override
        public Capabilities capabilities() {
            return Capabilities.READ_WRITE;
        }

        @Override
        public void read(long offset, ByteBuffer dst) throws IOException {
            BlockDevice.checkRange(this, offset, dst.remaining());
            dst.put(bytes, (int) offset, dst.remaining());
        }

        @Override
        public void write(long offset, ByteBuffer src) throws IOException {
            if (crashed) {
                throw new Crash();
            }
            if (writesLeft-- > 0) {
                src.get(bytes, (int) offset, src.remaining());
                return;
            }
            crashed = true;
            if (tear > 0) {
                src.get(bytes, (int) offset, Math.min(tear, src.remaining()));
            }
            throw new Crash();
        }
    }
}
