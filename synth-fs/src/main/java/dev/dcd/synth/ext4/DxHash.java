package dev.dcd.synth.ext4;

/**
 * The directory-index name hash: half-MD4 over 32-byte chunks (ext4 "half_md4", the default
 * {@code s_def_hash_version}). Names are fed as signed chars because we set {@code signed_directory_hash},
 * like mke2fs on x86; that only matters for bytes >= 0x80.
 */
final class DxHash {
    static final int HALF_MD4 = 1;
    private static final int K2 = 013240474631;
    private static final int K3 = 015666365641;

    private DxHash() {
    }

    /** Returns {major, minor}; the major hash has its low bit clear, the bit htree uses to mark collisions. */
    static int[] halfMd4(byte[] name, int[] seed, boolean signed) {
        int[] buf = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
        if (seed != null && (seed[0] | seed[1] | seed[2] | seed[3]) != 0) {
            System.arraycopy(seed, 0, buf, 0, 4);
        }
        int[] in = new int[8];
        int len = name.length;
        int p = 0;
        while (len > 0) {
            toHashBuf(name, p, len, in, 8, signed);
            transform(buf, in);
            len -= 32;
            p += 32;
        }
        int major = buf[1] & ~1;
        if (major == (0x7fffffff << 1)) {
            major = (0x7fffffff - 1) << 1;
        }
        return new int[] {major, buf[2]};
    }

    private static void toHashBuf(byte[] msg, int off, int len, int[] buf, int num, boolean signed) {
        int pad = len | (len << 8);
        pad |= pad << 16;
        int val = pad;
        if (len > num * 4) {
            len = num * 4;
        }
        int out = 0;
        for (int i = 0; i < len; i++) {
            int c = signed ? msg[off + i] : msg[off + i] & 0xff;
            val = c + (val << 8);
            if (i % 4 == 3) {
                buf[out++] = val;
                val = pad;
                num--;
            }
        }
        if (--num >= 0) {
            buf[out++] = val;
        }
        while (--num >= 0) {
            buf[out++] = pad;
        }
    }

    private static int f(int x, int y, int z) {
        return z ^ (x & (y ^ z));
    }

    private static int g(int x, int y, int z) {
        return (x & y) + ((x ^ y) & z);
    }

    private static int h(int x, int y, int z) {
        return x ^ y ^ z;
    }

    private static void transform(int[] buf, int[] in) {
        int a = buf[0], b = buf[1], c = buf[2], d = buf[3];
        a = Integer.rotateLeft(a + f(b, c, d) + in[0], 3);
        d = Integer.rotateLeft(d + f(a, b, c) + in[1], 7);
        c = Integer.rotateLeft(c + f(d, a, b) + in[2], 11);
        b = Integer.rotateLeft(b + f(c, d, a) + in[3], 19);
        a = Integer.rotateLeft(a + f(b, c, d) + in[4], 3);
        d = Integer.rotateLeft(d + f(a, b, c) + in[5], 7);
        c = Integer.rotateLeft(c + f(d, a, b) + in[6], 11);
        b = Integer.rotateLeft(b + f(c, d, a) + in[7], 19);

        a = Integer.rotateLeft(a + g(b, c, d) + in[1] + K2, 3);
        d = Integer.rotateLeft(d + g(a, b, c) + in[3] + K2, 5);
        c = Integer.rotateLeft(c + g(d, a, b) + in[5] + K2, 9);
        b = Integer.rotateLeft(b + g(c, d, a) + in[7] + K2, 13);
        a = Integer.rotateLeft(a + g(b, c, d) + in[0] + K2, 3);
        d = Integer.rotateLeft(d + g(a, b, c) + in[2] + K2, 5);
        c = Integer.rotateLeft(c + g(d, a, b) + in[4] + K2, 9);
        b = Integer.rotateLeft(b + g(c, d, a) + in[6] + K2, 13);

        a = Integer.rotateLeft(a + h(b, c, d) + in[3] + K3, 3);
        d = Integer.rotateLeft(d + h(a, b, c) + in[7] + K3, 9);
        c = Integer.rotateLeft(c + h(d, a, b) + in[2] + K3, 11);
        b = Integer.rotateLeft(b + h(c, d, a) + in[6] + K3, 15);
        a = Integer.rotateLeft(a + h(b, c, d) + in[1] + K3, 3);
        d = Integer.rotateLeft(d + h(a, b, c) + in[5] + K3, 9);
        c = Integer.rotateLeft(c + h(d, a, b) + in[0] + K3, 11);
        b = Integer.rotateLeft(b + h(c, d, a) + in[4] + K3, 15);

        buf[0] += a;
        buf[1] += b;
        buf[2] += c;
        buf[3] += d;
    }
}
