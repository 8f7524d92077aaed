package dev.dcd.vdisk;

import java.nio.ByteBuffer;
import java.util.zip.CRC32C;

/**
 * CRC32C of every {@value VdiskFormat#CHECKSUM_CHUNK}-byte chunk of the data region. The last chunk may be
 * short. A remote reader fetches whole chunks and checks them before using or caching a byte.
 */
public final class ChunkChecksums {
    private final long base;
    private final long length;
    private final int[] crcs;

    ChunkChecksums(long base, long length, int[] crcs) {
        this.base = base;
        this.length = length;
        this.crcs = crcs;
    }

    public long base() {
        return base;
    }

    public long length() {
        return length;
    }

    public int chunkCount() {
        return crcs.length;
    }

    /** Index of the chunk holding vdisk offset {@code offset}, or -1 outside the data region. */
    public int chunkOf(long offset) {
        if (offset < base || offset >= base + length) {
            return -1;
        }
        return (int) ((offset - base) / VdiskFormat.CHECKSUM_CHUNK);
    }

    public long chunkStart(int chunk) {
        return base + (long) chunk * VdiskFormat.CHECKSUM_CHUNK;
    }

    public int chunkLength(int chunk) {
        return (int) Math.min(VdiskFormat.CHECKSUM_CHUNK, base + length - chunkStart(chunk));
    }

    /** True when {@code data}'s remaining bytes are exactly chunk {@code chunk} as the vdisk was written. */
    public boolean verify(int chunk, ByteBuffer data) {
        if (chunk < 0 || chunk >= crcs.length || data.remaining() != chunkLength(chunk)) {
            return false;
        }
        CRC32C crc = new CRC32C();
        crc.update(data.duplicate());
        return (int) crc.getValue() == crcs[chunk];
    }
}
