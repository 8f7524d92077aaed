package dev.dcd.vdisk;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.Arrays;
import java.util.zip.CRC32C;

/**
 * The CRC32C of every {@link VdiskFormat#CHECKSUM_CHUNK} of a vdisk's data region, computed while the writer
 * appends the bytes, so that sealing the vdisk needs no second pass reading the whole data region back.
 *
 * <p>The writer rolls its position back when a file turns out to duplicate an earlier one; {@link #cutTo} then
 * drops what was counted past the new end and re-reads the part of the last chunk that lies before it (at
 * most one chunk, from the page cache).
 */
final class ChunkCrcs {
    private static final int CHUNK = VdiskFormat.CHECKSUM_CHUNK;
    private static final byte[] ZEROS = new byte[VdiskFormat.BLOCK_SIZE];

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

    /** Counts {@code length} zero bytes (less than a block: the padding after a file) appended at the end. */
    void appendZeros(int length) {
        append(ZEROS, 0, length);
    }

    /**
     * The data region now ends at file offset {@code end} (not past what was appended): forgets the bytes after
     * it, reading those of {@code end}'s chunk that lie before it back from {@code channel}.
     */
    void cutTo(long end, FileChannel channel, String what) throws IOException {
        int chunk = (int) ((end - base) / CHUNK);
        long chunkStart = base + (long) chunk * CHUNK;
        count = Math.min(count, chunk);
        running.reset();
        inChunk = 0;
        int before = (int) (end - chunkStart);
        if (before > 0) {
            ByteBuffer head = ByteBuffer.allocate(before);
            dev.dcd.block.FileBlockDevice.readFully(channel, chunkStart, head, what);
            append(head.array(), 0, before);
        }
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
