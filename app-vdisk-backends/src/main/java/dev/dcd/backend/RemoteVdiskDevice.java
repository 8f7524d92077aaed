package dev.dcd.backend;

import dev.dcd.block.BlockDevice;
import dev.dcd.block.Capabilities;
import dev.dcd.block.ChunkVerifiedDevice;
import dev.dcd.vdisk.ChunkChecksums;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * An opened app vdisk on a remote backend (S3, NFS, a LUN), read-only. Its two ends stay in memory, both read and
 * checked once at open: the header (vdisk bytes {@code [0, head.length)}) and the manifest ({@code [tailStart,
 * size)}, its SHA-256 the content id). A read takes those bytes from here and hands each part that lies in the data
 * region between them to {@link #readData}, where the backend fetches it and checks every chunk against the
 * manifest's CRC32C before a byte of it is served. A device built without checksums serves only its two ends, which
 * is all {@code AppVdisk.open} needs while they are being learned.
 *
 * <p>What differs per backend is only how data is fetched and what deadline a request gets; the split, the
 * read-only capabilities, the closed state and the name live here once.
 */
public abstract class RemoteVdiskDevice implements ChunkVerifiedDevice {
    protected final String backend;
    /** The vdisk's name on the backend (object key, file name, content id), for messages. */
    protected final String object;
    /** The manifest's chunk checksums; null while the device is being opened. */
    protected final ChunkChecksums sums;
    private final long size;
    private final byte[] head;
    private final long tailStart;
    private final byte[] tail;
    private volatile boolean closed;

    protected RemoteVdiskDevice(String backend, String object, long size, byte[] head, long tailStart, byte[] tail,
                                ChunkChecksums sums) {
        this.backend = backend;
        this.object = object;
        this.size = size;
        this.head = head;
        this.tailStart = tailStart;
        this.tail = tail;
        this.sums = sums;
    }

    /** When a request started now must end (the backend's own clock and configured deadline). */
    protected abstract long deadline();

    /**
     * Reads data-region bytes {@code [pos, pos + part.remaining())} into {@code part} (from its position 0), every
     * chunk checked, by {@code deadline}.
     */
    protected abstract void readData(long pos, ByteBuffer part, long deadline) throws IOException;

    @Override
    public final long size() {
        return size;
    }

    @Override
    public final Capabilities capabilities() {
        return Capabilities.READ_ONLY;
    }

    @Override
    public final void read(long offset, ByteBuffer dst) throws IOException {
        BlockDevice.checkRange(this, offset, dst.remaining());
        ensureOpen();
        long deadline = deadline();
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
                checkDataKnown();
                n = (int) Math.min(dst.remaining(), tailStart - pos);
                readData(pos, dst.slice(dst.position(), n), deadline);
                dst.position(dst.position() + n);
            }
            pos += n;
        }
    }

    /** Refuses reads of a closed device by name. */
    protected final void ensureOpen() throws BackendException {
        if (closed) {
            throw new BackendException(backend, object, "device is closed");
        }
    }

    /** Refuses data-region reads while the device is being opened (its checksums not known yet). */
    protected final void checkDataKnown() {
        if (sums == null) {
            throw new IllegalStateException("data region read before the checksums are known");
        }
    }

    @Override
    public String describe() {
        return backend + ":" + object;
    }

    @Override
    public void close() {
        closed = true;
    }
}
