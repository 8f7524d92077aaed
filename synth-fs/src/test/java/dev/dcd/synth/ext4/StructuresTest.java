package dev.dcd.synth.ext4;

import dev.dcd.synth.SynthesisException;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.zip.CRC32C;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The on-disk structures in isolation; whole filesystems are judged by e2fsck in Ext4SynthesizerTest. */
class StructuresTest {
    @Test
    void rawCrc32cFromAllOnesIsTheInverseOfTheStandardCrc32c() {
        byte[] data = "123456789 and then some more bytes to pass the 8-byte loop".getBytes(StandardCharsets.US_ASCII);
        CRC32C standard = new CRC32C();
        standard.update(data);
        assertEquals((int) standard.getValue(), ~Crc32c.update(~0, data));
        assertEquals(0xE3069283, ~Crc32c.update(~0, "123456789".getBytes(StandardCharsets.US_ASCII)));
    }

    @Test
    void rawCrc32cChainsAcrossCalls() {
        byte[] data = new byte[300];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) (i * 31);
        }
        int whole = Crc32c.update(0x12345678, data);
        int split = Crc32c.update(Crc32c.update(0x12345678, data, 0, 123), data, 123, 177);
        assertEquals(whole, split);
    }

    @Test
    void intrinsicCrcSteeredToAnySeedEqualsTheTableCrcForEveryLength() {
        java.util.Random random = new java.util.Random(42);
        byte[] data = new byte[5000];
        random.nextBytes(data);
        int[] seeds = {0, ~0, 0x80000000, 1, 0x12345678, random.nextInt(), random.nextInt(), random.nextInt()};
        for (int seed : seeds) {
            for (int len : new int[] {0, 1, 63, 64, 65, 256, 1020, 4084, 4092, 4096, 5000 - 7}) {
                assertEquals(Crc32c.updateTable(seed, data, 7 % (5001 - len), len), Crc32c.update(seed, data, 7 % (5001 - len), len),
                        "seed " + seed + " length " + len);
            }
        }
    }

    @Test
    void forcingWordTakesTheAllOnesRegisterToTheTarget() {
        for (int target : new int[] {0, ~0, 0xDEADBEEF, 0x80000001}) {
            int w = Crc32c.forcing(target);
            byte[] le = {(byte) w, (byte) (w >>> 8), (byte) (w >>> 16), (byte) (w >>> 24)};
            assertEquals(target, Crc32c.updateTable(~0, le, 0, 4));
        }
    }

    @Test
    void superblockChecksumCoversTheFirst1020BytesAndItsMagicIsInPlace() {
        Superblock sb = new Superblock();
        sb.blocks = 262144;
        sb.inodes = 65536;
        sb.inodesPerGroup = 8192;
        sb.uuid = UUID.fromString("3797490f-b285-459c-9d05-a0b18ffd46e4");
        sb.hashSeed = new byte[16];
        sb.journalBlocks = new int[17];
        byte[] b = sb.encode(0);
        ByteBuffer le = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals((short) 0xEF53, le.getShort(Superblock.S_MAGIC));
        assertEquals(~Crc32c.update(~0, b, 0, Superblock.S_CHECKSUM), ~le.getInt(Superblock.S_CHECKSUM));
        byte[] backup = sb.encode(3);
        assertEquals(3, ByteBuffer.wrap(backup).order(ByteOrder.LITTLE_ENDIAN).getShort(Superblock.S_BLOCK_GROUP_NR));
    }

    @Test
    void sparseSuperPutsCopiesInGroupZeroOneAndPowersOfThreeFiveSeven() {
        List<Integer> withSuper = new ArrayList<>();
        for (int g = 0; g < 130; g++) {
            if (Geometry.hasSuper(g)) {
                withSuper.add(g);
            }
        }
        assertEquals(List.of(0, 1, 3, 5, 7, 9, 25, 27, 49, 81, 125), withSuper);
    }

    @Test
    void flexGroupTablesFollowTheFirstGroupsSuperblockCopy() throws SynthesisException {
        Geometry g = Geometry.plan(8L << 30, 100);   // 64 groups, 8192 inodes each
        assertEquals(64, g.groups);
        assertEquals(8192, g.inodesPerGroup);
        assertEquals(1, g.gdtBlocks);
        assertEquals(2, g.blockBitmap(0));          // superblock, one GDT block, then bitmaps
        assertEquals(2 + 16, g.inodeBitmap(0));
        assertEquals(2 + 32, g.inodeTable(0));
        assertEquals(2 + 32 + 512, g.inodeTable(1));
        assertEquals(16L * 32768, g.blockBitmap(16));   // group 16 has no superblock copy
        assertEquals(2 + 32 + 16 * 512, g.overhead(0));
        assertEquals(2, g.overhead(1));
        assertEquals(0, g.overhead(2));
        assertEquals(16384, g.journalBlocks());
    }

    @Test
    void aRuntLastGroupThatCannotHoldItsMetadataIsDropped() throws SynthesisException {
        // 16 full groups and a 1-block 17th, which would have to hold a flex group's bitmaps and table.
        Geometry g = Geometry.plan((16L * 32768 + 1) * 4096, 100);
        assertEquals(16, g.groups);
        assertEquals(16L * 32768, g.blocks);
    }

    @Test
    void moreInodesThanADiskCanIndexFailsWithOneLine() {
        SynthesisException e = assertThrows(SynthesisException.class, () -> Geometry.plan(16L << 20, 10_000_000));
        assertTrue(e.getMessage().contains("inodes"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }

    @Test
    void inodesGrowBeyondTheRatioWhenTheAppsNeedThem() throws SynthesisException {
        Geometry g = Geometry.plan(1L << 30, 200_000);
        assertTrue(g.inodes() >= 250_000, "inodes " + g.inodes());
        assertEquals(0, g.inodesPerGroup % Geometry.INODES_PER_BLOCK);
    }

    @Test
    void timestampsPast2038UseTheEpochBitsAndNanosecondsTheRest() {
        assertEquals(999_999_999 << 2, Inode.extra(1_700_000_000L, 999_999_999));
        assertEquals(1, Inode.extra(4_102_444_800L, 0) & 3);
        assertEquals(0, Inode.extra(-1L, 0) & 3);
    }

    @Test
    void extentsMergeAdjacentRunsUpToTheMaximumLength() {
        Extents e = new Extents();
        e.add(1000, 20000);
        e.add(21000, 12768);    // adjacent, reaches exactly 32768
        e.add(33768, 1);        // adjacent but the extent is full
        e.add(50000, 5);
        assertEquals(3, e.list.size());
        assertEquals(32768, e.list.get(0)[2]);
        assertEquals(32769, e.list.get(2)[0]);   // logical block of the third extent
        assertEquals(0, e.leafBlocksNeeded());
    }

    @Test
    void aLinearDirectoryBlockEndsInAChecksummedTail() {
        List<Directory.Entry> entries = List.of(new Directory.Entry("a".getBytes(), 12, Directory.FT_REG));
        Directory.Blocks b = Directory.build(entries, 2, 2, 0xABCDEF, new int[4], 1);
        assertFalse(b.indexed());
        ByteBuffer blk = ByteBuffer.wrap(b.blocks()[0]).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(12, blk.getShort(Directory.USABLE + 4));
        assertEquals((byte) 0xDE, blk.get(Directory.USABLE + 7));
        assertEquals(Crc32c.update(0xABCDEF, b.blocks()[0], 0, Directory.USABLE), blk.getInt(Directory.USABLE + 8));
        assertEquals(Directory.USABLE - 24, blk.getShort(24 + 4));   // "a" stretches to the tail
    }
}
