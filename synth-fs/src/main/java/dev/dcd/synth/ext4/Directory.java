package dev.dcd.synth.ext4;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Directory blocks. A directory that fits one block is a linear block; a larger one becomes a hashed
 * (dir_index) tree: block 0 is the dx_root, leaves hold entries in hash order, and with more than 507
 * leaves a level of dx_node blocks sits between. Every block carries its metadata_csum tail.
 */
final class Directory {
    static final int FT_REG = 1;
    static final int FT_DIR = 2;
    static final int FT_SYMLINK = 7;

    static final int BS = Geometry.BLOCK_SIZE;
    /** struct ext4_dir_entry_tail: a fake 12-byte entry at the end of each leaf block. */
    static final int TAIL_SIZE = 12;
    static final int TAIL_FT = 0xDE;
    static final int USABLE = BS - TAIL_SIZE;

    // dx_root: "." (12 bytes), ".." (12 bytes), dx_root_info (8 bytes), then count/limit and entries.
    static final int ROOT_INFO = 24;
    static final int ROOT_ENTRIES = 32;
    // dx_node: a fake empty entry covering the block (8 bytes), then count/limit and entries.
    static final int NODE_ENTRIES = 8;
    static final int DX_ENTRY = 8;
    /** struct dx_tail: reserved word and checksum after the last possible entry. */
    static final int DX_TAIL = 8;
    static final int ROOT_LIMIT = (BS - ROOT_ENTRIES - DX_TAIL) / DX_ENTRY;   // 507
    static final int NODE_LIMIT = (BS - NODE_ENTRIES - DX_TAIL) / DX_ENTRY;   // 510

    record Entry(byte[] name, int ino, int type) {
    }

    /** Result: the blocks in logical order, and whether the directory is hashed. */
    record Blocks(byte[][] blocks, boolean indexed) {
    }

    private Directory() {
    }

    static int recLen(int nameLength) {
        return 8 + ((nameLength + 3) & ~3);
    }

    static Blocks build(List<Entry> entries, int self, int parent, int inodeSeed, int[] hashSeed, int minBlocks) {
        List<byte[]> linear = linear(entries, self, parent, inodeSeed, minBlocks);
        if (linear.size() == 1 || minBlocks > 1) {
            return new Blocks(linear.toArray(new byte[0][]), false);
        }
        return new Blocks(indexed(entries, self, parent, inodeSeed, hashSeed), true);
    }

    private static List<byte[]> linear(List<Entry> entries, int self, int parent, int inodeSeed, int minBlocks) {
        List<byte[]> blocks = new ArrayList<>();
        Leaf leaf = new Leaf();
        leaf.add(".".getBytes(), self, FT_DIR);
        leaf.add("..".getBytes(), parent, FT_DIR);
        for (Entry e : entries) {
            if (!leaf.fits(e.name.length)) {
                blocks.add(leaf.finish(inodeSeed));
                leaf = new Leaf();
            }
            leaf.add(e.name, e.ino, e.type);
        }
        blocks.add(leaf.finish(inodeSeed));
        while (blocks.size() < minBlocks) {
            blocks.add(new Leaf().finish(inodeSeed));
        }
        return blocks;
    }

    private static byte[][] indexed(List<Entry> entries, int self, int parent, int inodeSeed, int[] hashSeed) {
        int n = entries.size();
        long[] keys = new long[n];
        Integer[] order = new Integer[n];
        int[] minor = new int[n];
        for (int i = 0; i < n; i++) {
            int[] h = DxHash.halfMd4(entries.get(i).name, hashSeed, true);
            keys[i] = h[0] & 0xFFFFFFFFL;
            minor[i] = h[1];
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> {
            int c = Long.compare(keys[a], keys[b]);
            if (c == 0) {
                c = Integer.compareUnsigned(minor[a], minor[b]);
            }
            return c != 0 ? c : Arrays.compareUnsigned(entries.get(a).name, entries.get(b).name);
        });
        List<byte[]> leaves = new ArrayList<>();
        List<Integer> leafHashes = new ArrayList<>();
        Leaf leaf = null;
        long lastHash = -1;
        for (int i : order) {
            Entry e = entries.get(i);
            if (leaf == null || !leaf.fits(e.name.length)) {
                if (leaf != null) {
                    leaves.add(leaf.finish(inodeSeed));
                }
                leaf = new Leaf();
                // A hash continuing from the previous leaf gets the collision bit, so lookups go on reading.
                leafHashes.add((int) keys[i] | (keys[i] == lastHash ? 1 : 0));
            }
            leaf.add(e.name, e.ino, e.type);
            lastHash = keys[i];
        }
        leaves.add(leaf.finish(inodeSeed));

        int leafCount = leaves.size();
        List<byte[]> out = new ArrayList<>();
        if (leafCount <= ROOT_LIMIT) {
            int[] blocks = new int[leafCount];
            int[] hashes = new int[leafCount];
            for (int i = 0; i < leafCount; i++) {
                blocks[i] = 1 + i;
                hashes[i] = leafHashes.get(i);
            }
            out.add(root(self, parent, 0, blocks, hashes, inodeSeed));
            out.addAll(leaves);
            return out.toArray(new byte[0][]);
        }
        int nodeCount = (int) Geometry.ceilDiv(leafCount, NODE_LIMIT);
        if (nodeCount > ROOT_LIMIT) {
            throw new IllegalStateException("directory too large for a two-level htree");
        }
        int[] nodeBlocks = new int[nodeCount];
        int[] nodeHashes = new int[nodeCount];
        List<byte[]> nodes = new ArrayList<>();
        for (int j = 0; j < nodeCount; j++) {
            int from = j * NODE_LIMIT;
            int to = Math.min(leafCount, from + NODE_LIMIT);
            int[] blocks = new int[to - from];
            int[] hashes = new int[to - from];
            for (int i = from; i < to; i++) {
                blocks[i - from] = 1 + i;
                hashes[i - from] = leafHashes.get(i);
            }
            nodes.add(node(blocks, hashes, inodeSeed));
            nodeBlocks[j] = 1 + leafCount + j;
            nodeHashes[j] = leafHashes.get(from);
        }
        out.add(root(self, parent, 1, nodeBlocks, nodeHashes, inodeSeed));
        out.addAll(leaves);
        out.addAll(nodes);
        return out.toArray(new byte[0][]);
    }

    private static byte[] root(int self, int parent, int levels, int[] blocks, int[] hashes, int inodeSeed) {
        ByteBuffer b = ByteBuffer.allocate(BS).order(ByteOrder.LITTLE_ENDIAN);
        dirent(b, 0, self, 12, ".".getBytes(), FT_DIR);
        dirent(b, 12, parent, BS - 12, "..".getBytes(), FT_DIR);
        b.putInt(ROOT_INFO, 0);
        b.put(ROOT_INFO + 4, (byte) DxHash.HALF_MD4);
        b.put(ROOT_INFO + 5, (byte) 8);
        b.put(ROOT_INFO + 6, (byte) levels);
        b.put(ROOT_INFO + 7, (byte) 0);
        dxEntries(b, ROOT_ENTRIES, ROOT_LIMIT, blocks, hashes, inodeSeed);
        return b.array();
    }

    private static byte[] node(int[] blocks, int[] hashes, int inodeSeed) {
        ByteBuffer b = ByteBuffer.allocate(BS).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0, 0);
        b.putShort(4, (short) BS);
        dxEntries(b, NODE_ENTRIES, NODE_LIMIT, blocks, hashes, inodeSeed);
        return b.array();
    }

    /** The first entry's hash slot holds limit and count; the dx_tail checksum covers entries in use. */
    private static void dxEntries(ByteBuffer b, int at, int limit, int[] blocks, int[] hashes, int inodeSeed) {
        b.putShort(at, (short) limit);
        b.putShort(at + 2, (short) blocks.length);
        b.putInt(at + 4, blocks[0]);
        for (int i = 1; i < blocks.length; i++) {
            b.putInt(at + i * DX_ENTRY, hashes[i]);
            b.putInt(at + i * DX_ENTRY + 4, blocks[i]);
        }
        int tail = at + limit * DX_ENTRY;
        int crc = Crc32c.update(inodeSeed, b.array(), 0, at + blocks.length * DX_ENTRY);
        crc = Crc32c.update(crc, new byte[8], 0, 8); // dt_reserved, then the checksum field as zero
        b.putInt(tail, 0);
        b.putInt(tail + 4, crc);
    }

    static void dirent(ByteBuffer b, int at, int ino, int recLen, byte[] name, int type) {
        b.putInt(at, ino);
        b.putShort(at + 4, (short) recLen);
        b.put(at + 6, (byte) name.length);
        b.put(at + 7, (byte) type);
        System.arraycopy(name, 0, b.array(), at + 8, name.length);
    }

    /** A linear block being filled; the last entry's rec_len stretches to the tail. */
    private static final class Leaf {
        final ByteBuffer b = ByteBuffer.allocate(BS).order(ByteOrder.LITTLE_ENDIAN);
        int used;
        int last = -1;

        boolean fits(int nameLength) {
            return used + recLen(nameLength) <= USABLE;
        }

        void add(byte[] name, int ino, int type) {
            int len = recLen(name.length);
            dirent(b, used, ino, len, name, type);
            last = used;
            used += len;
        }

        byte[] finish(int inodeSeed) {
            if (last < 0) {
                b.putInt(0, 0);
                b.putShort(4, (short) USABLE);
            } else {
                b.putShort(last + 4, (short) (USABLE - last));
            }
            b.putInt(USABLE, 0);
            b.putShort(USABLE + 4, (short) TAIL_SIZE);
            b.put(USABLE + 6, (byte) 0);
            b.put(USABLE + 7, (byte) TAIL_FT);
            b.putInt(USABLE + 8, Crc32c.update(inodeSeed, b.array(), 0, USABLE));
            return b.array();
        }
    }
}
