package dev.dcd.synth.ext4;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * A file's extent list and its tree: up to four extents live in the inode (depth 0); more go to leaf
 * blocks of 340 extents each, indexed from the inode (depth 1).
 */
final class Extents {
    static final short MAGIC = (short) 0xF30A;
    static final int HEADER = 12;
    static final int ENTRY = 12;
    static final int IN_INODE = 4;
    static final int PER_BLOCK = (Geometry.BLOCK_SIZE - HEADER) / ENTRY; // 340
    /** ext4_extent_tail: the checksum right after the last possible entry. */
    static final int TAIL = HEADER + PER_BLOCK * ENTRY;

    /** Each extent: logical block, physical block, length. */
    final List<long[]> list = new ArrayList<>();
    long blocks;

    void add(long physical, long length) {
        if (!list.isEmpty()) {
            long[] last = list.get(list.size() - 1);
            if (last[1] + last[2] == physical && last[2] + length <= Geometry.MAX_EXTENT_BLOCKS) {
                last[2] += length;
                blocks += length;
                return;
            }
        }
        list.add(new long[] {blocks, physical, length});
        blocks += length;
    }

    int leafBlocksNeeded() {
        return list.size() <= IN_INODE ? 0 : (int) Geometry.ceilDiv(list.size(), PER_BLOCK);
    }

    /**
     * Fills the inode's i_block and returns the leaf blocks to write at {@code leafBlocks} (already
     * allocated, {@link #leafBlocksNeeded()} of them).
     */
    byte[][] build(byte[] iblock, long[] leafBlocks, int inodeSeed) {
        ByteBuffer root = ByteBuffer.wrap(iblock).order(ByteOrder.LITTLE_ENDIAN);
        if (leafBlocks.length == 0) {
            header(root, list.size(), IN_INODE, 0);
            for (int i = 0; i < list.size(); i++) {
                extent(root, HEADER + i * ENTRY, list.get(i));
            }
            return new byte[0][];
        }
        if (leafBlocks.length > IN_INODE) {
            throw new IllegalStateException("extent tree deeper than one level");
        }
        header(root, leafBlocks.length, IN_INODE, 1);
        byte[][] leaves = new byte[leafBlocks.length][];
        for (int l = 0; l < leafBlocks.length; l++) {
            int from = l * PER_BLOCK;
            int to = Math.min(list.size(), from + PER_BLOCK);
            int at = HEADER + l * ENTRY;
            root.putInt(at, (int) list.get(from)[0]);
            root.putInt(at + 4, (int) leafBlocks[l]);
            root.putShort(at + 8, (short) (leafBlocks[l] >>> 32));
            ByteBuffer leaf = ByteBuffer.allocate(Geometry.BLOCK_SIZE).order(ByteOrder.LITTLE_ENDIAN);
            header(leaf, to - from, PER_BLOCK, 0);
            for (int i = from; i < to; i++) {
                extent(leaf, HEADER + (i - from) * ENTRY, list.get(i));
            }
            leaf.putInt(TAIL, Crc32c.update(inodeSeed, leaf.array(), 0, TAIL));
            leaves[l] = leaf.array();
        }
        return leaves;
    }

    private static void header(ByteBuffer b, int entries, int max, int depth) {
        b.putShort(0, MAGIC);
        b.putShort(2, (short) entries);
        b.putShort(4, (short) max);
        b.putShort(6, (short) depth);
        b.putInt(8, 0);
    }

    private static void extent(ByteBuffer b, int at, long[] e) {
        b.putInt(at, (int) e[0]);
        b.putShort(at + 4, (short) e[2]);
        b.putShort(at + 6, (short) (e[1] >>> 32));
        b.putInt(at + 8, (int) e[1]);
    }
}
