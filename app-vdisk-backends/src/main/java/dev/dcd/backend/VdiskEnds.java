package dev.dcd.backend;

import dev.dcd.vdisk.ChunkChecksums;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The two ends of an opened app vdisk that a remote device keeps in memory: the header (vdisk bytes
 * {@code [0, head.length)}) and the manifest ({@code [tailStart, size)}), both read and checked once at open. A read
 * takes those bytes from here and hands each part that lies in the data region between them to the device, which
 * fetches it from its backend and checks it chunk by chunk. Every remote device (S3, NFS, a LUN) splits its reads
 * this way, so the split lives here once.
 */
public final class VdiskEnds {
    private final byte[] head;
    private final long tailStart;
    private final byte[] tail;
    private final boolean dataKnown;

    /**
     * {@code dataKnown} is false while the device is being opened, before the manifest's checksums are known (its
     * ends can be read then, its data region not).
     */
    public VdiskEnds(byte[] head, long tailStart, byte[] tail, boolean dataKnown) {
        this.head = head;
        this.tailStart = tailStart;
        this.tail = tail;
        this.dataKnown = dataKnown;
    }

    /** Reads the data-region part {@code [pos, pos + part.remaining())} into {@code part} (its position 0). */
    @FunctionalInterface
    public interface DataReader {
        void read(long pos, ByteBuffer part) throws IOException;
    }

    /**
     * Fills {@code dst} from vdisk offset {@code offset}: header and manifest bytes from memory, the data region
     * through {@code data}. The caller has checked the range against the device's size.
     */
    public void read(long offset, ByteBuffer dst, DataReader data) throws IOException {
        long pos = offset;
        while (dst.hasRemaining()) {
            int n;
            if (pos < head.length) {
                n = (int) Math.min(dst.remaining(), head.length - pos);
                dst.put(head, (int) pos, n);
            } else if (pos >= tailStart) {
                n = dst.remaining();
                dst.put(tail, (int) (pos - tailStart), n);
            } else {
                if (!dataKnown) {
                    throw new IllegalStateException("data region read before the checksums are known");
                }
                n = (int) Math.min(dst.remaining(), tailStart - pos);
                data.read(pos, dst.slice(dst.position(), n));
                dst.position(dst.position() + n);
            }
            pos += n;
        }
    }

    /** As {@link #VdiskEnds(byte[], long, byte[], boolean)}, the data region readable once {@code sums} is known. */
    public static VdiskEnds of(byte[] head, long tailStart, byte[] tail, ChunkChecksums sums) {
        return new VdiskEnds(head, tailStart, tail, sums != null);
    }
}
