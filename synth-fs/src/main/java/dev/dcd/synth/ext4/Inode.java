package dev.dcd.synth.ext4;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/** One 256-byte ext4 inode with 32 bytes of extra fields (nanosecond times, creation time, checksum high half). */
final class Inode {
    static final int S_IFREG = 0100000;
    static final int S_IFDIR = 0040000;
    static final int S_IFLNK = 0120000;

    static final int EXTENTS_FL = 0x80000;
    static final int INDEX_FL = 0x1000;

    static final int EXTRA_ISIZE = 32;

    // Field offsets (struct ext4_inode).
    static final int I_MODE = 0x00;
    static final int I_UID = 0x02;
    static final int I_SIZE_LO = 0x04;
    static final int I_ATIME = 0x08;
    static final int I_CTIME = 0x0C;
    static final int I_MTIME = 0x10;
    static final int I_GID = 0x18;
    static final int I_LINKS = 0x1A;
    static final int I_BLOCKS_LO = 0x1C;
    static final int I_FLAGS = 0x20;
    static final int I_BLOCK = 0x28;
    static final int I_BLOCK_LEN = 60;
    static final int I_GENERATION = 0x64;
    static final int I_SIZE_HIGH = 0x6C;
    static final int I_BLOCKS_HIGH = 0x74;
    static final int I_UID_HIGH = 0x78;
    static final int I_GID_HIGH = 0x7A;
    static final int I_CHECKSUM_LO = 0x7C;
    static final int I_EXTRA_ISIZE = 0x80;
    static final int I_CHECKSUM_HI = 0x82;
    static final int I_CTIME_EXTRA = 0x84;
    static final int I_MTIME_EXTRA = 0x88;
    static final int I_ATIME_EXTRA = 0x8C;
    static final int I_CRTIME = 0x90;
    static final int I_CRTIME_EXTRA = 0x94;

    int mode;
    int uid;
    int gid;
    long size;
    int links;
    long blocks512;
    int flags;
    byte[] iblock = new byte[I_BLOCK_LEN];
    long mtime;
    int mtimeNanos;
    long ctime;
    long crtime;

    byte[] encode(int ino, int fsSeed) {
        byte[] raw = new byte[Geometry.INODE_SIZE];
        encodeInto(raw, 0, ino, fsSeed);
        return raw;
    }

    /**
     * Encodes straight into an inode table buffer at {@code off}, so a table is built without a copy per inode.
     * The 256 bytes at {@code off} must be zero (a new array, or a table slice cleared after its write): only
     * the fields in use are stored.
     */
    void encodeInto(byte[] dst, int off, int ino, int fsSeed) {
        // Little-endian array views rather than a ByteBuffer per inode: this runs for every inode of the disk.
        SHORT.set(dst, off + I_MODE, (short) mode);
        SHORT.set(dst, off + I_UID, (short) uid);
        SHORT.set(dst, off + I_UID_HIGH, (short) (uid >>> 16));
        SHORT.set(dst, off + I_GID, (short) gid);
        SHORT.set(dst, off + I_GID_HIGH, (short) (gid >>> 16));
        INT.set(dst, off + I_SIZE_LO, (int) size);
        INT.set(dst, off + I_SIZE_HIGH, (int) (size >>> 32));
        SHORT.set(dst, off + I_LINKS, (short) links);
        INT.set(dst, off + I_BLOCKS_LO, (int) blocks512);
        SHORT.set(dst, off + I_BLOCKS_HIGH, (short) (blocks512 >>> 32));
        INT.set(dst, off + I_FLAGS, flags);
        System.arraycopy(iblock, 0, dst, off + I_BLOCK, I_BLOCK_LEN);
        int mtimeExtra = extra(mtime, mtimeNanos);
        INT.set(dst, off + I_ATIME, (int) mtime);
        INT.set(dst, off + I_ATIME_EXTRA, mtimeExtra);
        INT.set(dst, off + I_MTIME, (int) mtime);
        INT.set(dst, off + I_MTIME_EXTRA, mtimeExtra);
        INT.set(dst, off + I_CTIME, (int) ctime);
        INT.set(dst, off + I_CTIME_EXTRA, extra(ctime, 0));
        INT.set(dst, off + I_CRTIME, (int) crtime);
        INT.set(dst, off + I_CRTIME_EXTRA, extra(crtime, 0));
        SHORT.set(dst, off + I_EXTRA_ISIZE, (short) EXTRA_ISIZE);
        int crc = Crc32c.update(seed(fsSeed, ino), dst, off, Geometry.INODE_SIZE);
        SHORT.set(dst, off + I_CHECKSUM_LO, (short) crc);
        SHORT.set(dst, off + I_CHECKSUM_HI, (short) (crc >>> 16));
    }

    private static final VarHandle SHORT = MethodHandles.byteArrayViewVarHandle(short[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle INT = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);

    /** Seconds beyond 32 bits go in the low two "epoch" bits, nanoseconds in the upper 30 bits. */
    static int extra(long seconds, int nanos) {
        long epoch = ((seconds - (int) seconds) >> 32) & 3;
        return (int) epoch | (nanos << 2);
    }

    /** Seed for checksums of blocks owned by an inode (directory blocks, extent blocks). */
    static int seed(int fsSeed, int ino) {
        return Crc32c.updateInt(Crc32c.updateInt(fsSeed, ino), 0);
    }
}
