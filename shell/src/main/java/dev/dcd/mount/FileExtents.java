package dev.dcd.mount;

import dev.dcd.block.BlockDevice;
import dev.dcd.synth.FileIndex;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * A files/ file as both FUSE front ends read it: where each of its extents ends within the file, so that a read
 * finds its first extent by binary search and then walks the following ones. Derived from the index node alone,
 * so it may be cached freely.
 */
final class FileExtents {
    /** Where the caller wants {@code length} bytes that belong {@code at} bytes into its reply. */
    @FunctionalInterface
    interface Destination {
        ByteBuffer window(int at, int length);
    }

    private final FileIndex.Node node;
    /** ends[i]: the file position right after extent i. */
    private final long[] ends;

    FileExtents(FileIndex.Node node) {
        this.node = node;
        this.ends = new long[node.extentCount()];
        long end = 0;
        for (int i = 0; i < ends.length; i++) {
            end += node.extentLength(i);
            ends[i] = end;
        }
    }

    FileIndex.Node node() {
        return node;
    }

    /**
     * Reads up to {@code max} bytes of the file from {@code offset} off {@code disk} into {@code into}; returns how
     * many (0 at or past the end). An index that gives the file fewer extent bytes than its size is an IOException,
     * never a short or wrong read.
     */
    int read(BlockDevice disk, long offset, long max, Destination into) throws IOException {
        long fileSize = node.size();
        if (offset >= fileSize || max <= 0) {
            return 0;
        }
        int want = (int) Math.min(max, fileSize - offset);
        int extent = extentAt(offset);
        int done = 0;
        while (done < want) {
            if (extent >= ends.length) {
                throw new IOException("the index gives " + node.path() + " fewer extent bytes than its size "
                        + fileSize);
            }
            long pos = offset + done;
            long extentStart = extent == 0 ? 0 : ends[extent - 1];
            int n = (int) Math.min(want - done, ends[extent] - pos);
            disk.read(node.extentOffset(extent) + (pos - extentStart), into.window(done, n));
            done += n;
            extent++;
        }
        return done;
    }

    /** The extent holding file position {@code pos}. */
    private int extentAt(long pos) {
        int i = Arrays.binarySearch(ends, pos);
        return i >= 0 ? i + 1 : -i - 1;
    }
}
