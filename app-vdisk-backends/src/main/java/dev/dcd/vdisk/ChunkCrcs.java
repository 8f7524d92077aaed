package dev.dcd.vdisk;

import java.util.Arrays;
import java.util.zip.CRC32C;

/**
 * The CRC32C of every {@link VdiskFormat#CHECKSUM_CHUNK} of a vdisk's data region, computed while the writer
 * appends the bytes, so that sealing the vdisk needs no second pass reading the whole data region back.
 *
 * <p>The writer rolls its position back when a file turns out to duplicate an earlier one; {@link #cutTo} then
 * drops what was counted past the new end and counts again the part of that chunk that lies before it.
 */
final class ChunkCrcs {
    private static final int CHUNK = VdiskFormat.CHECKSUM_CHUNK;

    private final long base;
    private final CRC32C running = new CRC32C();
    private int[] crcs = new int[16];
    private int count;
    /** Bytes of the chunk after the last complete one that {@link #running} holds. */
    private int inChunk;

    /** @param base the file offset of the data region's first byte */
    ChunkCrcs(long base) {
        this.base = base;
    }

    /** Counts bytes appended at the end of the data region. */
    void append(byte[] bytes, int offset, int length) {
        while (length > 0) {
            int n = Math.min(length, CHUNK - inChunk);
            running.update(bytes, offset, n);
            inChunk += n;
            offset += n;
            length -= n;
            if (inChunk == CHUNK) {
                completeChunk();
            }
        }
    }

    /**
     * The data region now ends at file offset {@code end} (not past what was appended): forgets the bytes after
     * it. {@code head[offset..]} holds the bytes of {@code end}'s chunk that lie before {@code end}.
     */
    void cutTo(long end, byte[] head, int offset) {
        int chunk = (int) ((end - base) / CHUNK);
        count = Math.min(count, chunk);
        running.reset();
        inChunk = 0;
        append(head, offset, (int) (end - base - (long) chunk * CHUNK));
    }

    /** One CRC per chunk of the data region, the last one covering what is left of it. */
    int[] finish() {
        if (inChunk > 0) {
            completeChunk();
        }
        return Arrays.copyOf(crcs, count);
    }

    private void completeChunk() {
        if (count == crcs.length) {
            crcs = Arrays.copyOf(crcs, count * 2);
        }
        crcs[count++] = (int) running.getValue();
        running.reset();
        inChunk = 0;
    }
}
