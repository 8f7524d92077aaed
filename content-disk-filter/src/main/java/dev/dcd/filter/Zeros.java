package dev.dcd.filter;

import java.nio.ByteBuffer;

/** Fills buffers with zeros from one shared read-only source, so zero regions cost a memcpy, not an allocation. */
final class Zeros {
    private static final int SIZE = 1 << 16;
    private static final ByteBuffer SOURCE = ByteBuffer.allocateDirect(SIZE).asReadOnlyBuffer();

    private Zeros() {
    }

    static void fill(ByteBuffer dst, int length) {
        int left = length;
        while (left > 0) {
            int n = Math.min(left, SIZE);
            dst.put(SOURCE.duplicate().limit(n));
            left -= n;
        }
    }

    /** A read-only buffer of {@code min(length, 64 KiB)} zeros, for writing zeros without allocating. */
    static ByteBuffer source(long length) {
        return SOURCE.duplicate().limit((int) Math.min(length, SIZE));
    }

    static boolean isZero(ByteBuffer b) {
        for (int i = b.position(); i < b.limit(); i++) {
            if (b.get(i) != 0) {
                return false;
            }
        }
        return true;
    }
}
