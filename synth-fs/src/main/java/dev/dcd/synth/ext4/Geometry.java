package dev.dcd.synth.ext4;

import dev.dcd.synth.SynthesisException;

/**
 * Where every group's fixed metadata lies. With flex_bg the bitmaps and inode tables of 16 groups are
 * packed into the first group of the flex group, right after its superblock copy (if it has one), so
 * each group's fixed metadata is a single run at the group's start and everything after it is free.
 * No resize inode, so no reserved GDT blocks.
 */
final class Geometry {
    static final int BLOCK_SIZE = 4096;
    static final int LOG_BLOCK_SIZE = 2;               // 1024 << 2
    static final int BLOCKS_PER_GROUP = 8 * BLOCK_SIZE;
    static final int INODE_SIZE = 256;
    static final int INODES_PER_BLOCK = BLOCK_SIZE / INODE_SIZE;
    static final int DESC_SIZE = 64;
    static final int LOG_GROUPS_PER_FLEX = 4;
    static final int FLEX = 1 << LOG_GROUPS_PER_FLEX;
    /** mke2fs's default "inode_ratio" for ext4: one inode per 16 KiB. */
    static final int BYTES_PER_INODE = 16384;
    static final int MAX_EXTENT_BLOCKS = 32768;

    final long blocks;
    final int groups;
    final int inodesPerGroup;
    final int inodeTableBlocks;
    final int gdtBlocks;

    private Geometry(long blocks, int groups, int inodesPerGroup) {
        this.blocks = blocks;
        this.groups = groups;
        this.inodesPerGroup = inodesPerGroup;
        this.inodeTableBlocks = inodesPerGroup / INODES_PER_BLOCK;
        this.gdtBlocks = (int) ceilDiv((long) groups * DESC_SIZE, BLOCK_SIZE);
    }

    /**
     * Chooses the inode count: mke2fs's ratio, or more when the apps need more (with a quarter extra for the
     * guest), within what one group's bitmap and one flex group's tables can hold.
     */
    static Geometry plan(long partitionBytes, long inodesNeeded) throws SynthesisException {
        long blocks = partitionBytes / BLOCK_SIZE;
        if (blocks >= 1L << 32) {
            throw new SynthesisException("partition of " + partitionBytes + " bytes is too large for this ext4 layout");
        }
        long wanted = Math.max(blocks * BLOCK_SIZE / BYTES_PER_INODE, inodesNeeded + inodesNeeded / 4);
        while (true) {
            int groups = (int) ceilDiv(blocks, BLOCKS_PER_GROUP);
            long perGroup = roundUp(ceilDiv(wanted, groups), INODES_PER_BLOCK);
            int ipg = (int) Math.min(perGroup, maxInodesPerGroup(groups));
            if ((long) ipg * groups < inodesNeeded) {
                throw new SynthesisException("the apps need " + inodesNeeded + " inodes but a disk of this size holds at most "
                        + (long) ipg * groups + "; choose a larger --size");
            }
            Geometry g = new Geometry(blocks, groups, ipg);
            int last = groups - 1;
            if (g.overhead(last) + 1 < g.groupBlocks(last)) {
                return g;
            }
            if (groups == 1) {
                throw new SynthesisException("partition of " + partitionBytes + " bytes is too small for ext4");
            }
            blocks = (long) last * BLOCKS_PER_GROUP;   // a runt last group cannot even hold its metadata: drop it
        }
    }

    private static int maxInodesPerGroup(int groups) {
        int gdt = (int) ceilDiv((long) groups * DESC_SIZE, BLOCK_SIZE);
        int n = Math.min(FLEX, groups);
        // A flex group's tables must fit in its first group, after the superblock copy and the bitmaps.
        long tableBlocks = (BLOCKS_PER_GROUP - 1 - gdt - 2L * n - 64) / n;
        long byTables = tableBlocks * INODES_PER_BLOCK;
        return (int) Math.min(BLOCKS_PER_GROUP, byTables / INODES_PER_BLOCK * INODES_PER_BLOCK);
    }

    long inodes() {
        return (long) inodesPerGroup * groups;
    }

    long groupStart(int g) {
        return (long) g * BLOCKS_PER_GROUP;
    }

    int groupBlocks(int g) {
        return (int) Math.min(BLOCKS_PER_GROUP, blocks - groupStart(g));
    }

    /** sparse_super: copies in group 0, 1 and powers of 3, 5 and 7. */
    static boolean hasSuper(int g) {
        return g == 0 || g == 1 || isPower(g, 3) || isPower(g, 5) || isPower(g, 7);
    }

    private static boolean isPower(int g, int base) {
        long p = base;
        while (p < g) {
            p *= base;
        }
        return p == g;
    }

    int superOverhead(int g) {
        return hasSuper(g) ? 1 + gdtBlocks : 0;
    }

    private int flexMembers(int leader) {
        return Math.min(FLEX, groups - leader);
    }

    /** Blocks at the start of group g that are fixed metadata (superblock copy, GDT, flex tables). */
    int overhead(int g) {
        int o = superOverhead(g);
        if (g % FLEX == 0) {
            int n = flexMembers(g);
            o += 2 * n + n * inodeTableBlocks;
        }
        return o;
    }

    private long flexBase(int g) {
        int leader = g - g % FLEX;
        return groupStart(leader) + superOverhead(leader);
    }

    long blockBitmap(int g) {
        return flexBase(g) + g % FLEX;
    }

    long inodeBitmap(int g) {
        int leader = g - g % FLEX;
        return flexBase(g) + flexMembers(leader) + g % FLEX;
    }

    long inodeTable(int g) {
        int leader = g - g % FLEX;
        return flexBase(g) + 2L * flexMembers(leader) + (long) (g % FLEX) * inodeTableBlocks;
    }

    /** Blocks mke2fs gives the journal for a filesystem of this size (ext2fs_default_journal_size). */
    int journalBlocks() {
        if (blocks < 2048) {
            return 0;
        }
        if (blocks < 32768) {
            return 1024;
        }
        if (blocks < 256 * 1024) {
            return 4096;
        }
        if (blocks < 512 * 1024) {
            return 8192;
        }
        if (blocks < 4096 * 1024) {
            return 16384;
        }
        if (blocks < 8192 * 1024) {
            return 32768;
        }
        if (blocks < 16384 * 1024) {
            return 65536;
        }
        if (blocks < 32768 * 1024) {
            return 131072;
        }
        return 262144;
    }

    static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }

    static long roundUp(long a, long m) {
        return ceilDiv(a, m) * m;
    }
}
