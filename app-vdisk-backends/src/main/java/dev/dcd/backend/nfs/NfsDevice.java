package dev.dcd.backend.nfs;

import dev.dcd.backend.BackendException;
import dev.dcd.backend.VdiskEnds;
import dev.dcd.block.BlockDevice;
import dev.dcd.block.Capabilities;
import dev.dcd.block.ChunkVerifiedDevice;
import dev.dcd.concurrent.Uninterruptibly;
import dev.dcd.vdisk.ChunkChecksums;
import dev.dcd.vdisk.VdiskFormat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Future;

/**
 * An opened vdisk on NFS: header and manifest held in memory (both checked at open, the manifest against the
 * content id), the data region read in pieces of whole checksum chunks, in parallel on the backend's workers,
 * each chunk checked against its CRC32C before a byte of it is copied out. A file changed on the export after
 * the import therefore fails its chunks' checks (or, if its manifest changed, the open) and is never served.
 */
final class NfsDevice implements ChunkVerifiedDevice {
    /** Chunks in one NFSv3 READ of at most 1 MiB: the smallest piece a worker is given. */
    static final int PIECE_CHUNKS = NfsSession.MAX_IO / VdiskFormat.CHECKSUM_CHUNK;
    /** The largest piece: as many READs as one worker keeps in flight on its connection. */
    static final int MAX_PIECE_CHUNKS = PIECE_CHUNKS * NfsSession.MAX_READS_IN_FLIGHT;

    private final String backend;
    private final String object;
    private final String path;
    private final long size;
    private final VdiskEnds ends;
    private final ChunkChecksums sums;
    private final NfsWorkers workers;
    private final long deadlineMillis;
    private volatile boolean closed;

    NfsDevice(String backend, String object, String path, long size, byte[] head, long tailStart, byte[] tail,
              ChunkChecksums sums, NfsWorkers workers, long deadlineMillis) {
        this.backend = backend;
        this.object = object;
        this.path = path;
        this.size = size;
        this.ends = VdiskEnds.of(head, tailStart, tail, sums);
        this.sums = sums;
        this.workers = workers;
        this.deadlineMillis = deadlineMillis;
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
        if (closed) {
            throw new BackendException(backend, object, "device is closed");
        }
        long deadline = workers.deadlineAfter(deadlineMillis);
        ends.read(offset, dst, (pos, part) -> readData(pos, part, deadline));
    }

    /** Reads data-region bytes {@code [pos, pos + dst.remaining())} through verified chunks. */
    private void readData(long pos, ByteBuffer dst, long deadline) throws IOException {
        int first = sums.chunkOf(pos);
        int last = sums.chunkOf(pos + dst.remaining() - 1);
        long end = pos + dst.remaining();
        run(first, last - first + 1, deadline, "read of bytes [" + pos + ", " + end + ")", (firstChunk, data) -> {
            long dataStart = sums.chunkStart(firstChunk);
            long from = Math.max(pos, dataStart);
            long to = Math.min(end, dataStart + data.remaining());
            if (from < to) {
                dst.put((int) (from - pos), data, (int) (from - dataStart), (int) (to - from));
            }
        });
    }

    @Override
    public void streamChunks(int first, int count, ChunkSink sink) throws IOException {
        if (closed) {
            throw new BackendException(backend, object, "device is closed");
        }
        if (sums == null) {
            throw new IllegalStateException("data region read before the checksums are known");
        }
        long from = sums.chunkStart(first);
        long to = sums.chunkStart(first + count - 1) + sums.chunkLength(first + count - 1);
        run(first, count, workers.deadlineAfter(deadlineMillis), "read of bytes [" + from + ", " + to + ")", sink);
    }

    /** One request's deliveries: none starts after the request was abandoned, and abandoning waits for those under way. */
    private static final class Delivery {
        private boolean abandoned;
        private int active;

        synchronized boolean enter() {
            if (abandoned) {
                return false;
            }
            active++;
            return true;
        }

        synchronized void exit() {
            active--;
            notifyAll();
        }

        synchronized void abandon() {
            abandoned = true;
            Uninterruptibly.await(this, () -> active <= 0);
        }
    }

    /**
     * Chunks per piece for a read of {@code count} chunks: spread over every worker, each piece between one READ
     * ({@link #PIECE_CHUNKS}) and what one worker pipelines ({@link #MAX_PIECE_CHUNKS}). A 16 MiB readahead window on
     * eight workers is eight pieces of 2 MiB, each two READs in flight on its own connection: one round trip where
     * sixteen 1 MiB pieces took two per worker.
     */
    static int pieceChunks(int count, int workers) {
        int spread = (count + workers - 1) / Math.max(1, workers);
        return Math.max(PIECE_CHUNKS, Math.min(MAX_PIECE_CHUNKS, spread));
    }

    /**
     * Reads chunks {@code [first, first + count)} in pieces of {@link #pieceChunks} on the workers, hands
     * each verified chunk to {@code sink} (from the workers, in any order), and returns when all were handed over.
     * On failure or at the deadline nothing more is handed over once this throws.
     */
    private void run(int first, int count, long deadline, String what, ChunkSink sink) throws IOException {
        Delivery delivery = new Delivery();
        List<Future<Void>> pieces = new ArrayList<>();
        int perPiece = pieceChunks(count, workers.threads());
        try {
            for (int c = first; c < first + count; c += perPiece) {
                int pieceFirst = c;
                int pieceCount = Math.min(perPiece, first + count - c);
                long start = sums.chunkStart(pieceFirst);
                int length = (int) (sums.chunkStart(pieceFirst + pieceCount - 1)
                        + sums.chunkLength(pieceFirst + pieceCount - 1) - start);
                pieces.add(workers.submit(object, what, deadline, (session, buffer) -> {
                    session.pread(path, start, buffer, length);
                    for (int i = 0; i < pieceCount; i++) {
                        int chunk = pieceFirst + i;
                        int at = (int) (sums.chunkStart(chunk) - start);
                        ByteBuffer data = buffer.duplicate().position(at).limit(at + sums.chunkLength(chunk)).slice();
                        if (!sums.verify(chunk, data)) {
                            throw new BackendException(backend, object, "chunk " + chunk + " (vdisk bytes "
                                    + sums.chunkStart(chunk) + "..+" + sums.chunkLength(chunk)
                                    + ") does not match its CRC32C checksum; the copy on the export is corrupt or was "
                                    + "changed after import, and was not served");
                        }
                    }
                    if (!delivery.enter()) {
                        return null;
                    }
                    try {
                        // The piece's chunks are consecutive and all verified: hand them over in one call.
                        sink.accept(pieceFirst, buffer.duplicate().position(0).limit(length).slice());
                    } finally {
                        delivery.exit();
                    }
                    return null;
                }));
            }
            for (Future<Void> piece : pieces) {
                workers.await(object, what, deadline, piece);
            }
        } finally {
            delivery.abandon();
            for (Future<Void> piece : pieces) {
                piece.cancel(true);
            }
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
