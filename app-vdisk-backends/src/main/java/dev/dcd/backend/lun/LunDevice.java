package dev.dcd.backend.lun;

import dev.dcd.backend.BackendException;
import dev.dcd.backend.DirectBufferPool;
import dev.dcd.backend.VdiskEnds;
import dev.dcd.block.BlockDevice;
import dev.dcd.block.Capabilities;
import dev.dcd.block.ChunkVerifiedDevice;
import dev.dcd.vdisk.AppVdisk;
import dev.dcd.vdisk.ChunkChecksums;
import dev.dcd.vdisk.ContentId;
import dev.dcd.vdisk.VdiskFormat;
import dev.dcd.vdisk.VdiskHeader;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;

/**
 * One app vdisk inside a LUN, read-only. The header and the manifest are read once at open and checked (the
 * manifest's SHA-256 is the content id); the data region is fetched in whole 64 KiB checksum chunks, each checked
 * against the manifest's CRC32C before a byte of it is served or handed to the cache. A chunk that fails is read
 * once more (a glitch on the way), then refused: a wrong byte is never served.
 */
final class LunDevice implements ChunkVerifiedDevice {
    /** Where the device's bytes come from: an absolute LUN range read within a deadline. */
    interface Source {
        void read(long lunOffset, ByteBuffer dst, long deadlineNanos) throws IOException;

        long deadline();
    }

    private final String backend;
    private final ContentId id;
    private final long base;
    private final long size;
    private final VdiskEnds ends;
    private final ChunkChecksums sums;
    private final Source source;
    private final ExecutorService pool;
    private final int pieceChunks;
    private final DirectBufferPool buffers;
    private volatile boolean closed;

    private LunDevice(String backend, ContentId id, long base, long size, byte[] head, long tailStart, byte[] tail,
                      ChunkChecksums sums, Source source, ExecutorService pool, DirectBufferPool buffers) {
        this.backend = backend;
        this.id = id;
        this.base = base;
        this.size = size;
        this.ends = VdiskEnds.of(head, tailStart, tail, sums);
        this.sums = sums;
        this.source = source;
        this.pool = pool;
        this.buffers = buffers;
        this.pieceChunks = Math.max(1, buffers.bufferBytes() / VdiskFormat.CHECKSUM_CHUNK);
    }

    /** Opens the vdisk {@code id} stored at {@code extent}; its header and manifest must prove it is that vdisk. */
    /** {@code buffers} hold one piece each: their size, in whole chunks, is the piece a read asks the LUN for. */
    static LunDevice open(String backend, ExtentTable.Extent extent, Source source, ExecutorService pool,
                          DirectBufferPool buffers) throws IOException {
        ContentId id = extent.id();
        String object = id.hex();
        if (extent.length() < VdiskFormat.HEADER_SIZE) {
            throw new BackendException(backend, object, "extent of " + extent.length() + " bytes is too short for a vdisk");
        }
        long deadline = source.deadline();
        byte[] header = new byte[VdiskFormat.HEADER_SIZE];
        source.read(extent.offset(), ByteBuffer.wrap(header), deadline);
        VdiskHeader h;
        try {
            h = VdiskHeader.decode(ByteBuffer.wrap(header), backend + ":" + object);
        } catch (IOException e) {
            throw new BackendException(backend, object, e.getMessage());
        }
        if (!h.contentId().equals(id)) {
            throw new BackendException(backend, object, "the LUN extent at " + extent.offset() + " holds vdisk "
                    + h.contentId() + ", not this one");
        }
        if (h.totalLength() != extent.length() || h.dataOffset() != VdiskFormat.HEADER_SIZE
                || h.dataOffset() + h.dataLength() != h.manifestOffset() || h.manifestLength() > Integer.MAX_VALUE - 8) {
            throw new BackendException(backend, object, "vdisk header disagrees with its extent (" + h.totalLength()
                    + " bytes against " + extent.length() + ")");
        }
        byte[] manifest = new byte[(int) h.manifestLength()];
        source.read(extent.offset() + h.manifestOffset(), ByteBuffer.wrap(manifest), deadline);
        LunDevice partial = new LunDevice(backend, id, extent.offset(), extent.length(), header, h.manifestOffset(),
                manifest, null, source, pool, buffers);
        AppVdisk parsed;
        try {
            parsed = AppVdisk.open(partial);
        } catch (BackendException e) {
            throw e;
        } catch (IOException e) {
            throw new BackendException(backend, object, e.getMessage());
        }
        ChunkChecksums sums = parsed.manifest().checksums();
        if (sums.base() != h.dataOffset() || sums.length() != h.dataLength()) {
            throw new BackendException(backend, object, "manifest and header disagree about the data region");
        }
        return new LunDevice(backend, id, extent.offset(), extent.length(), header, h.manifestOffset(), manifest, sums,
                source, pool, buffers);
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public Capabilities capabilities() {
        return Capabilities.READ_ONLY;
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        BlockDevice.checkRange(this, offset, dst.remaining());
        ensureOpen();
        long deadline = source.deadline();
        ends.read(offset, dst, (from, part) -> readData(from, part, deadline));
    }

    /** Reads data-region bytes {@code [from, from + part.remaining())} into {@code part} through verified chunks. */
    private void readData(long from, ByteBuffer part, long deadline) throws IOException {
        int n = part.remaining();
        long to = from + n;
        int first = sums.chunkOf(from);
        int last = sums.chunkOf(to - 1);
        // A piece that lies wholly inside the range is read straight into its place in part and verified there (a
        // 16 MiB readahead window: all but its first and last piece), sparing a copy of every byte.
        PieceTarget inPlace = (pieceStart, pieceLength) -> pieceStart >= from && pieceStart + pieceLength <= to
                ? part.slice((int) (pieceStart - from), pieceLength) : null;
        fetch(first, last - first + 1, deadline, inPlace, (chunk, data) -> {
            // Copy the part of these chunks that falls inside [from, to) to its place in part.
            long start = Math.max(from, sums.chunkStart(chunk));
            long end = Math.min(to, sums.chunkStart(chunk) + data.remaining());
            if (end > start) {
                part.put((int) (start - from), data, data.position() + (int) (start - sums.chunkStart(chunk)),
                        (int) (end - start));
            }
        });
    }

    @Override
    public void streamChunks(int first, int count, ChunkSink sink) throws IOException {
        ensureOpen();
        if (sums == null) {
            throw new IllegalStateException("data region read before the checksums are known");
        }
        fetch(first, count, source.deadline(), NOWHERE, sink);
    }

    /** Where a piece of {@code length} bytes at data offset {@code start} may be read in place; null for a buffer. */
    @FunctionalInterface
    private interface PieceTarget {
        ByteBuffer at(long start, int length);
    }

    private static final PieceTarget NOWHERE = (start, length) -> null;

    private void ensureOpen() throws IOException {
        if (closed) {
            throw new BackendException(backend, id.hex(), "device is closed");
        }
    }

    /**
     * Fetches chunks {@code [first, first + count)} in pieces of {@code pieceChunks}, in parallel on the pool (the
     * caller runs the first piece itself), verifies every chunk and hands each piece to {@code sink}. Returns or
     * throws only after every piece it started has ended. A piece {@code target} places is read into that place and
     * verified there instead, and not handed to {@code sink}; if it fails, the place holds unverified bytes, and the
     * fetch throws.
     */
    private void fetch(int first, int count, long deadline, PieceTarget target, ChunkSink sink) throws IOException {
        if (count <= pieceChunks) {
            piece(first, count, deadline, target, sink);
            return;
        }
        List<Future<?>> started = new ArrayList<>();
        IOException failure = null;
        try {
            for (int c = first + pieceChunks; c < first + count; c += pieceChunks) {
                int from = c;
                int n = Math.min(pieceChunks, first + count - c);
                started.add(pool.submit(() -> {
                    piece(from, n, deadline, target, sink);
                    return null;
                }));
            }
            piece(first, pieceChunks, deadline, target, sink);
        } catch (IOException e) {
            failure = e;
        } catch (RuntimeException e) {
            failure = new IOException(e.toString(), e);
        }
        boolean interrupted = false;
        for (Future<?> f : started) {
            while (true) {
                try {
                    f.get();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                } catch (ExecutionException e) {
                    if (failure == null) {
                        failure = e.getCause() instanceof IOException io ? io : new IOException(e.getCause().toString(), e.getCause());
                    }
                    break;
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
            if (failure == null) {
                failure = new InterruptedIOException("read of " + id.shortHex() + " was interrupted");
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    private void piece(int first, int count, long deadline, PieceTarget target, ChunkSink sink) throws IOException {
        long start = sums.chunkStart(first);
        long end = sums.chunkStart(first + count - 1) + sums.chunkLength(first + count - 1);
        int length = (int) (end - start);
        ByteBuffer place = target.at(start, length);
        if (place != null) {
            readVerified(place, start, end, first, count, deadline);
            return;
        }
        boolean pooled = length <= buffers.bufferBytes();
        ByteBuffer data = pooled ? buffers.acquire() : ByteBuffer.allocateDirect(length);
        try {
            readVerified(data.clear().limit(length), start, end, first, count, deadline);
            // The sink copies what it keeps during the call (ChunkSink's contract), so the buffer can go back after.
            sink.accept(first, data.duplicate().position(0).limit(length).slice());
        } finally {
            if (pooled) {
                buffers.release(data);
            }
        }
    }

    /**
     * Reads data bytes {@code [start, end)} (chunks {@code [first, first + count)}) into {@code into} (exactly that
     * long, position 0) and checks every chunk; a chunk that fails is read once more, then refused.
     */
    private void readVerified(ByteBuffer into, long start, long end, int first, int count, long deadline)
            throws IOException {
        for (int attempt = 1; ; attempt++) {
            try {
                source.read(base + start, into.duplicate(), deadline);
            } catch (BackendException e) {
                throw e;
            } catch (IOException e) {
                throw new BackendException(backend, id.hex(), "read of bytes [" + start + ", " + end + ") failed: "
                        + e.getMessage(), e);
            }
            int bad = firstBadChunk(into, start, first, count);
            if (bad < 0) {
                return;
            }
            if (attempt == 2) {
                throw new BackendException(backend, id.hex(), "chunk " + bad + " fails its CRC32C on the LUN (read twice);"
                        + " its bytes are not served");
            }
        }
    }

    private int firstBadChunk(ByteBuffer data, long start, int first, int count) {
        for (int c = first; c < first + count; c++) {
            int off = (int) (sums.chunkStart(c) - start);
            if (!sums.verify(c, data.slice(off, sums.chunkLength(c)))) {
                return c;
            }
        }
        return -1;
    }

    @Override
    public String describe() {
        return backend + ":" + id.hex();
    }

    @Override
    public void close() {
        closed = true;
    }
}
