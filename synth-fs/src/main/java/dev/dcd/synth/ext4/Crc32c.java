package dev.dcd.synth.ext4;

/**
 * CRC32C (Castagnoli) in the raw form ext4 uses: the caller supplies the running value and no final
 * inversion happens, so checksums chain (filesystem seed, then inode number, then the structure).
 * {@link java.util.zip.CRC32C} always starts from ~0 and inverts, which is why this exists.
 */
final class Crc32c {
    private static final int POLY = 0x82F63B78;
    private static final int[][] TABLES = new int[8][256];

    static {
        for (int i = 0; i < 256; i++) {
            int c = i;
            for (int k = 0; k < 8; k++) {
                c = (c & 1) != 0 ? (c >>> 1) ^ POLY : c >>> 1;
            }
            TABLES[0][i] = c;
        }
        for (int i = 0; i < 256; i++) {
            for (int t = 1; t < 8; t++) {
                int prev = TABLES[t - 1][i];
                TABLES[t][i] = (prev >>> 8) ^ TABLES[0][prev & 0xff];
            }
        }
    }

    private Crc32c() {
    }

    static int update(int crc, byte[] b, int off, int len) {
        int i = off;
        int end = off + len;
        int[] t0 = TABLES[0], t1 = TABLES[1], t2 = TABLES[2], t3 = TABLES[3];
        int[] t4 = TABLES[4], t5 = TABLES[5], t6 = TABLES[6], t7 = TABLES[7];
        while (end - i >= 8) {
            int lo = crc ^ ((b[i] & 0xff) | (b[i + 1] & 0xff) << 8 | (b[i + 2] & 0xff) << 16 | (b[i + 3] & 0xff) << 24);
            crc = t7[lo & 0xff] ^ t6[(lo >>> 8) & 0xff] ^ t5[(lo >>> 16) & 0xff] ^ t4[lo >>> 24]
                    ^ t3[b[i + 4] & 0xff] ^ t2[b[i + 5] & 0xff] ^ t1[b[i + 6] & 0xff] ^ t0[b[i + 7] & 0xff];
            i += 8;
        }
        while (i < end) {
            crc = (crc >>> 8) ^ t0[(crc ^ b[i++]) & 0xff];
        }
        return crc;
    }

    static int update(int crc, byte[] b) {
        return update(crc, b, 0, b.length);
    }

    static int updateInt(int crc, int littleEndianValue) {
        byte[] le = {(byte) littleEndianValue, (byte) (littleEndianValue >>> 8), (byte) (littleEndianValue >>> 16),
                (byte) (littleEndianValue >>> 24)};
        return update(crc, le, 0, 4);
    }
}
