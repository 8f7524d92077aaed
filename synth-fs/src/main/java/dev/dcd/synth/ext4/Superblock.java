package dev.dcd.synth.ext4;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.UUID;

/** struct ext4_super_block (1024 bytes at byte 1024 of the filesystem, copies at the start of backup groups). */
final class Superblock {
    static final int SIZE = 1024;
    static final int OFFSET = 1024;
    static final short MAGIC = (short) 0xEF53;

    static final int S_INODES_COUNT = 0x00;
    static final int S_BLOCKS_COUNT_LO = 0x04;
    static final int S_R_BLOCKS_COUNT_LO = 0x08;
    static final int S_FREE_BLOCKS_COUNT_LO = 0x0C;
    static final int S_FREE_INODES_COUNT = 0x10;
    static final int S_FIRST_DATA_BLOCK = 0x14;
    static final int S_LOG_BLOCK_SIZE = 0x18;
    static final int S_LOG_CLUSTER_SIZE = 0x1C;
    static final int S_BLOCKS_PER_GROUP = 0x20;
    static final int S_CLUSTERS_PER_GROUP = 0x24;
    static final int S_INODES_PER_GROUP = 0x28;
    static final int S_WTIME = 0x30;
    static final int S_MAX_MNT_COUNT = 0x36;
    static final int S_MAGIC = 0x38;
    static final int S_STATE = 0x3A;
    static final int S_ERRORS = 0x3C;
    static final int S_LASTCHECK = 0x40;
    static final int S_REV_LEVEL = 0x4C;
    static final int S_FIRST_INO = 0x54;
    static final int S_INODE_SIZE = 0x58;
    static final int S_BLOCK_GROUP_NR = 0x5A;
    static final int S_FEATURE_COMPAT = 0x5C;
    static final int S_FEATURE_INCOMPAT = 0x60;
    static final int S_FEATURE_RO_COMPAT = 0x64;
    static final int S_UUID = 0x68;
    static final int S_VOLUME_NAME = 0x78;
    static final int S_JOURNAL_INUM = 0xE0;
    static final int S_HASH_SEED = 0xEC;
    static final int S_DEF_HASH_VERSION = 0xFC;
    static final int S_JNL_BACKUP_TYPE = 0xFD;
    static final int S_DESC_SIZE = 0xFE;
    static final int S_DEFAULT_MOUNT_OPTS = 0x100;
    static final int S_MKFS_TIME = 0x108;
    static final int S_JNL_BLOCKS = 0x10C;
    static final int S_BLOCKS_COUNT_HI = 0x150;
    static final int S_R_BLOCKS_COUNT_HI = 0x154;
    static final int S_FREE_BLOCKS_COUNT_HI = 0x158;
    static final int S_MIN_EXTRA_ISIZE = 0x15C;
    static final int S_WANT_EXTRA_ISIZE = 0x15E;
    static final int S_FLAGS = 0x160;
    static final int S_LOG_GROUPS_PER_FLEX = 0x174;
    static final int S_CHECKSUM_TYPE = 0x175;
    static final int S_CHECKSUM = 0x3FC;

    static final int COMPAT_HAS_JOURNAL = 0x4;
    static final int COMPAT_EXT_ATTR = 0x8;
    static final int COMPAT_DIR_INDEX = 0x20;
    static final int INCOMPAT_FILETYPE = 0x2;
    static final int INCOMPAT_EXTENTS = 0x40;
    static final int INCOMPAT_64BIT = 0x80;
    static final int INCOMPAT_FLEX_BG = 0x200;
    static final int RO_COMPAT_SPARSE_SUPER = 0x1;
    static final int RO_COMPAT_LARGE_FILE = 0x2;
    static final int RO_COMPAT_HUGE_FILE = 0x8;
    static final int RO_COMPAT_DIR_NLINK = 0x20;
    static final int RO_COMPAT_EXTRA_ISIZE = 0x40;
    static final int RO_COMPAT_METADATA_CSUM = 0x400;

    static final int FLAGS_SIGNED_HASH = 0x1;
    static final int DEFM_XATTR_USER = 0x4;
    static final int DEFM_ACL = 0x8;
    static final int JNL_BACKUP_BLOCKS = 1;
    static final int CRC32C = 1;
    static final int FIRST_INO = 11;
    static final int JOURNAL_INO = 8;

    long blocks;
    long reservedBlocks;
    long freeBlocks;
    long inodes;
    long freeInodes;
    int inodesPerGroup;
    long created;
    UUID uuid;
    byte[] hashSeed;
    int[] journalBlocks;   // 17 words: i_block copy, i_size_high, i_size

    byte[] encode(int groupNumber) {
        ByteBuffer b = ByteBuffer.allocate(SIZE).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(S_INODES_COUNT, (int) inodes);
        b.putInt(S_BLOCKS_COUNT_LO, (int) blocks);
        b.putInt(S_BLOCKS_COUNT_HI, (int) (blocks >>> 32));
        b.putInt(S_R_BLOCKS_COUNT_LO, (int) reservedBlocks);
        b.putInt(S_R_BLOCKS_COUNT_HI, (int) (reservedBlocks >>> 32));
        b.putInt(S_FREE_BLOCKS_COUNT_LO, (int) freeBlocks);
        b.putInt(S_FREE_BLOCKS_COUNT_HI, (int) (freeBlocks >>> 32));
        b.putInt(S_FREE_INODES_COUNT, (int) freeInodes);
        b.putInt(S_FIRST_DATA_BLOCK, 0);
        b.putInt(S_LOG_BLOCK_SIZE, Geometry.LOG_BLOCK_SIZE);
        b.putInt(S_LOG_CLUSTER_SIZE, Geometry.LOG_BLOCK_SIZE);
        b.putInt(S_BLOCKS_PER_GROUP, Geometry.BLOCKS_PER_GROUP);
        b.putInt(S_CLUSTERS_PER_GROUP, Geometry.BLOCKS_PER_GROUP);
        b.putInt(S_INODES_PER_GROUP, inodesPerGroup);
        b.putInt(S_WTIME, (int) created);
        b.putShort(S_MAX_MNT_COUNT, (short) -1);
        b.putShort(S_MAGIC, MAGIC);
        b.putShort(S_STATE, (short) 1);           // cleanly unmounted
        b.putShort(S_ERRORS, (short) 1);          // continue
        b.putInt(S_LASTCHECK, (int) created);
        b.putInt(S_REV_LEVEL, 1);                 // dynamic inode sizes
        b.putInt(S_FIRST_INO, FIRST_INO);
        b.putShort(S_INODE_SIZE, (short) Geometry.INODE_SIZE);
        b.putShort(S_BLOCK_GROUP_NR, (short) groupNumber);
        b.putInt(S_FEATURE_COMPAT, COMPAT_HAS_JOURNAL | COMPAT_EXT_ATTR | COMPAT_DIR_INDEX);
        b.putInt(S_FEATURE_INCOMPAT, INCOMPAT_FILETYPE | INCOMPAT_EXTENTS | INCOMPAT_64BIT | INCOMPAT_FLEX_BG);
        b.putInt(S_FEATURE_RO_COMPAT, RO_COMPAT_SPARSE_SUPER | RO_COMPAT_LARGE_FILE | RO_COMPAT_HUGE_FILE
                | RO_COMPAT_DIR_NLINK | RO_COMPAT_EXTRA_ISIZE | RO_COMPAT_METADATA_CSUM);
        b.put(S_UUID, uuidBytes(uuid));
        b.putInt(S_JOURNAL_INUM, JOURNAL_INO);
        b.put(S_HASH_SEED, hashSeed, 0, 16);
        b.put(S_DEF_HASH_VERSION, (byte) DxHash.HALF_MD4);
        b.put(S_JNL_BACKUP_TYPE, (byte) JNL_BACKUP_BLOCKS);
        b.putShort(S_DESC_SIZE, (short) Geometry.DESC_SIZE);
        b.putInt(S_DEFAULT_MOUNT_OPTS, DEFM_XATTR_USER | DEFM_ACL);
        b.putInt(S_MKFS_TIME, (int) created);
        for (int i = 0; i < 17; i++) {
            b.putInt(S_JNL_BLOCKS + 4 * i, journalBlocks[i]);
        }
        b.putShort(S_MIN_EXTRA_ISIZE, (short) Inode.EXTRA_ISIZE);
        b.putShort(S_WANT_EXTRA_ISIZE, (short) Inode.EXTRA_ISIZE);
        b.putInt(S_FLAGS, FLAGS_SIGNED_HASH);
        b.put(S_LOG_GROUPS_PER_FLEX, (byte) Geometry.LOG_GROUPS_PER_FLEX);
        b.put(S_CHECKSUM_TYPE, (byte) CRC32C);
        b.putInt(S_CHECKSUM, Crc32c.update(~0, b.array(), 0, S_CHECKSUM));
        return b.array();
    }

    /** The seed of every other metadata checksum: crc32c of the UUID (no metadata_csum_seed feature). */
    int checksumSeed() {
        return Crc32c.update(~0, uuidBytes(uuid));
    }

    static byte[] uuidBytes(UUID u) {
        return ByteBuffer.allocate(16).putLong(u.getMostSignificantBits()).putLong(u.getLeastSignificantBits()).array();
    }
}
