package dev.dcd.synth.ext4;

import java.util.zip.CRC32C;

/**
 * CRC32C (Castagnoli) in the raw form ext4 uses: the caller supplies the running value and no final
 * inversion happens, so checksums chain (filesystem seed, then inode number, then the structure).
 *
 * <p>{@link java.util.zip.CRC32C} always starts from ~0 and inverts its result, but it is a JIT intrinsic
 * (the SSE4.2 crc32 instruction), several times faster than any table in Java, and checksums are most of a
 * synthesis's CPU. So the JDK class does the bulk work and we steer its start state: the CRC register after
 * four bytes is a bijective function of those bytes, hence four "forcing" bytes computed by running the
 * register backwards take it from ~0 to any seed. The table version stays for the short updates (inode
 * numbers) where the prefix would cost more than it saves, and as the reference the tests compare with.
 */
final class Crc32c {
    private static final int POLY = 0x82F63B78;
    private static final int[] TABLE = new int[256];
    /** Below this many bytes the table loop beats the intrinsic plus its 4-byte forcing prefix. */
    private static final int INTRINSIC_MIN = 64;

    static {
        for (int i = 0; i < 256; i++) {
            int c = i;
            for (int k = 0; k < 8; k++) {
                c = (c & 1) != 0 ? (c >>> 1) ^ POLY : c >>> 1;
            }
            TABLE[i] = c;
        }
    }

    private Crc32c() {
    }

    static int update(int crc, byte[] b, int off, int len) {
        if (len < INTRINSIC_MIN) {
            return updateTable(crc, b, off, len);
        }
        CRC32C c = new CRC32C();
        int force = forcing(crc);
        c.update(force);
        c.update(force >>> 8);
        c.update(force >>> 16);
        c.update(force >>> 24);
        c.update(b, off, len);
        return ~(int) c.getValue();
    }

    /** Byte-at-a-time reference implementation of the raw CRC. */
    static int updateTable(int crc, byte[] b, int off, int len) {
        int end = off + len;
        for (int i = off; i < end; i++) {
            crc = (crc >>> 8) ^ TABLE[(crc ^ b[i]) & 0xff];
        }
        return crc;
    }

    /**
     * The little-endian word that, fed to a register holding ~0, leaves {@code target} in it. Feeding a word
     * XORs it into the register and then shifts 32 times; each shift is undone by looking at the top bit
     * (set only if the polynomial, whose bit 31 is set, was XORed in, i.e. the bit shifted out was 1).
     */
    static int forcing(int target) {
        int r = target;
        for (int k = 0; k < 32; k++) {
            r = r < 0 ? ((r ^ POLY) << 1) | 1 : r << 1;
        }
        return r ^ 0xFFFFFFFF;
    }

    static int update(int crc, byte[] b) {
        return update(crc, b, 0, b.length);
    }

    static int updateInt(int crc, int littleEndianValue) {
        int v = littleEndianValue;
        for (int i = 0; i < 4; i++) {
            crc = (crc >>> 8) ^ TABLE[(crc ^ v) & 0xff];
            v >>>= 8;
        }
        return crc;
    }
}
