package dev.dcd.backend.s3;

import dev.dcd.backend.BackendException;
import dev.dcd.block.ChunkVerifiedDevice;
import dev.dcd.vdisk.ChunkChecksums;
import dev.dcd.vdisk.VdiskFormat;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Serves data-region reads of remote vdisks in whole, verified checksum chunks.
 *
 * <p>One per backend, shared by all its open devices: the in-flight table lets concurrent reads of the same
 * or adjacent chunks share one GET, the executor bounds how many GETs run at once, and a small buffer of
 * recently fetched chunks serves reads that continue where the last one stopped. No byte leaves this class
 * before its chunk matched its CRC32C.
 */
final class ChunkReader {
    /** Fetches {@code into.length} bytes of object {@code key} starting at {@code offset}, or throws. */
    @FunctionalInterface
    interface RangeFetcher {
        void fetch(String key, long offset, byte[] into, long deadlineNanos) throws IOException, InterruptedException;
    }

    /**
     * Streams a byte range of object {@code key} into {@code range}, retrying transient failures until the
     * deadline; each attempt asks for {@code [range.next(), range.end())}, so a retry resumes after what was
     * already taken.
     */
    @FunctionalInterface
    interface RangeStreamer {
        void stream(String key, ResumableRange range, long deadlineNanos) throws IOException, InterruptedException;
    }

    /** The consuming end of a streamed range: where the next attempt starts, and what reads an attempt's body. */
    interface ResumableRange {
        long next();

        long end();

        void consume(java.io.InputStream in) throws IOException;
    }

    /** The sink failed (the cache's disk, say): not the network's fault, so never retried. Carries the cause. */
    static final class SinkFailure extends S3Errors.Permanent {
        SinkFailure(IOException cause) {
            super(cause.getMessage() == null ? cause.getClass().getSimpleName() : cause.getMessage());
            initCause(cause);
        }
    }

    /** Chunks a streaming reader collects before handing them on: small enough to stay in the CPU's L2 cache. */
    static final int STREAM_BATCH_CHUNKS = 8;
    private static final ThreadLocal<byte[]> STREAM_BATCH = ThreadLocal.withInitial(
            () -> new byte[STREAM_BATCH_CHUNKS * VdiskFormat.CHECKSUM_CHUNK]);

    /** An open object's data region: where its chunks are and what they must hash to. */
    record Target(String key, ChunkChecksums sums) {
    }

    private record ChunkKey(String key, int chunk) {
    }

    /** The chunk failed; the message has no backend prefix, the waiting reader adds it. */
    static final class ChunkFailure extends IOException {
        ChunkFailure(String message, Throwable cause) {
            super(message, cause);
        }
    }

    private final String backend;
    private final RangeFetcher fetcher;
    private final RangeStreamer streamer;
    private final Executor executor;
    private final FetchPlanner.Shape shape;
    private final int bufferChunks;
    private final Object lock = new Object();
    private final Map<ChunkKey, CompletableFuture<ByteBuffer>> inFlight = new HashMap<>();
    private final LinkedHashMap<ChunkKey, ByteBuffer> recent;
    private final AtomicLong gets = new AtomicLong();
    private final AtomicLong fetchedBytes = new AtomicLong();
    private final AtomicLong bufferHits = new AtomicLong();
    private boolean closed;

    ChunkReader(String backend, RangeFetcher fetcher, Executor executor, FetchPlanner.Shape shape, int bufferChunks) {
        this(backend, fetcher, null, executor, shape, bufferChunks);
    }

    ChunkReader(String backend, RangeFetcher fetcher, RangeStreamer streamer, Executor executor, FetchPlanner.Shape shape,
                int bufferChunks) {
        this.backend = backend;
        this.fetcher = fetcher;
        this.streamer = streamer;
        this.executor = executor;
        this.shape = shape;
        this.bufferChunks = bufferChunks;
        this.recent = new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<ChunkKey, ByteBuffer> eldest) {
                return size() > ChunkReader.this.bufferChunks;
            }
        };
    }

    long gets() {
        return gets.get();
    }

    long fetchedBytes() {
        return fetchedBytes.get();
    }

    long bufferHits() {
        return bufferHits.get();
    }

    /** Reads {@code dst.remaining()} bytes at vdisk offset {@code pos}, all inside the data region. */
    void read(Target target, long pos, ByteBuffer dst, long deadlineNanos) throws IOException {
        ChunkChecksums sums = target.sums();
        int length = dst.remaining();
        if (length == 0) {
            return;
        }
        int first = sums.chunkOf(pos);
        int last = sums.chunkOf(pos + length - 1);
        if (first < 0 || last < 0) {
            throw new IllegalArgumentException("read [" + pos + ", +" + length + ") leaves the data region");
        }
        int n = last - first + 1;
        ByteBuffer[] ready = new ByteBuffer[n];
        @SuppressWarnings("unchecked")
        CompletableFuture<ByteBuffer>[] waits = new CompletableFuture[n];
        List<FetchPlanner.Piece> pieces = List.of();
        List<CompletableFuture<ByteBuffer>[]> pieceFutures = new ArrayList<>();
        synchronized (lock) {
            if (closed) {
                throw new BackendException(backend, target.key(), "backend is closed");
            }
            boolean missing = false;
            for (int c = first; c <= last; c++) {
                ChunkKey key = new ChunkKey(target.key(), c);
                ByteBuffer buffered = recent.get(key);
                if (buffered != null) {
                    ready[c - first] = buffered;
                    bufferHits.incrementAndGet();
                } else {
                    CompletableFuture<ByteBuffer> pending = inFlight.get(key);
                    if (pending != null) {
                        waits[c - first] = pending;
                    } else {
                        missing = true;
                    }
                }
            }
            if (missing) {
                pieces = FetchPlanner.plan(first, last,
                        c -> recent.containsKey(new ChunkKey(target.key(), c)) || inFlight.containsKey(new ChunkKey(target.key(), c)),
                        shape, sums.chunkCount());
                for (FetchPlanner.Piece piece : pieces) {
                    @SuppressWarnings("unchecked")
                    CompletableFuture<ByteBuffer>[] futures = new CompletableFuture[piece.count()];
                    for (int c = piece.first(); c < piece.end(); c++) {
                        CompletableFuture<ByteBuffer> future = new CompletableFuture<>();
                        futures[c - piece.first()] = future;
                        inFlight.put(new ChunkKey(target.key(), c), future);
                        if (c >= first && c <= last) {
                            waits[c - first] = future;
                        }
                    }
                    pieceFutures.add(futures);
                }
            }
        }
        for (int i = 0; i < pieces.size(); i++) {
            FetchPlanner.Piece piece = pieces.get(i);
            CompletableFuture<ByteBuffer>[] futures = pieceFutures.get(i);
            try {
                executor.execute(() -> fetch(target, piece, futures, deadlineNanos));
            } catch (RejectedExecutionException e) {
                settle(target, piece, futures, null, new ChunkFailure("backend is closed", e));
            }
        }
        long end = pos + length;
        for (int i = 0; i < n; i++) {
            ByteBuffer chunk = ready[i] != null ? ready[i] : await(target, waits[i]);
            long chunkStart = sums.chunkStart(first + i);
            long from = Math.max(pos, chunkStart);
            long to = Math.min(end, chunkStart + chunk.remaining());
            dst.put(chunk.duplicate().position((int) (from - chunkStart)).limit((int) (to - chunkStart)));
        }
    }

    /**
     * Hands chunks {@code [first, first + count)} to {@code sink} as they arrive, verified, in batches of up to
     * {@link #STREAM_BATCH_CHUNKS}: the run is cut into pieces as for a read, fetched in parallel on the shared
     * pool, each read from its response straight through one small buffer per thread. Nothing goes through the
     * in-flight table or the recent buffer: this serves cache fills, which the cache itself keeps from
     * overlapping; a foreground read of the same chunks meanwhile fetches its own copy. Returns once every piece
     * has ended; the first failure is thrown then, naming the backend.
     */
    void stream(Target target, int first, int count, ChunkVerifiedDevice.ChunkSink sink, long deadlineNanos)
            throws IOException {
        ChunkChecksums sums = target.sums();
        if (count <= 0 || first < 0 || first + count > sums.chunkCount()) {
            throw new IllegalArgumentException("bad chunk run [" + first + ", +" + count + ") of " + sums.chunkCount());
        }
        if (streamer == null) {
            throw new IllegalStateException("this reader cannot stream");
        }
        synchronized (lock) {
            if (closed) {
                throw new BackendException(backend, target.key(), "backend is closed");
            }
        }
        List<FetchPlanner.Piece> pieces = new ArrayList<>();
        FetchPlanner.split(first, first + count, shape, pieces);
        List<CompletableFuture<Void>> done = new ArrayList<>();
        for (FetchPlanner.Piece piece : pieces) {
            CompletableFuture<Void> f = new CompletableFuture<>();
            done.add(f);
            try {
                executor.execute(() -> {
                    try {
                        streamPiece(target, piece, sink, deadlineNanos);
                        f.complete(null);
                    } catch (Throwable t) {
                        f.completeExceptionally(t);
                    }
                });
            } catch (RejectedExecutionException e) {
                f.completeExceptionally(new ChunkFailure("backend is closed", e));
            }
        }
        Throwable failure = null;
        boolean interrupted = false;
        for (CompletableFuture<Void> f : done) {
            while (true) {
                try {
                    f.get();
                    break;
                } catch (InterruptedException e) {
                    // Pieces still running would call the sink after we returned: wait them out.
                    interrupted = true;
                } catch (ExecutionException e) {
                    if (failure == null) {
                        failure = e.getCause();
                    }
                    break;
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        if (failure != null) {
            throw streamFailure(target, failure);
        }
        if (interrupted) {
            throw new InterruptedIOException("interrupted while reading " + target.key() + " from backend '" + backend + "'");
        }
    }

    /** The sink's own error as it was; anything else as a backend error naming the object. */
    private IOException streamFailure(Target target, Throwable failure) {
        for (Throwable c = failure; c != null; c = c.getCause()) {
            if (c instanceof SinkFailure sf && sf.getCause() instanceof IOException cause) {
                return cause;
            }
            if (c.getCause() == c) {
                break;
            }
        }
        String message = failure instanceof S3Backend.S3Failure s3 ? s3.detail()
                : failure.getMessage() == null ? failure.getClass().getSimpleName() : failure.getMessage();
        return new BackendException(backend, target.key(), message, failure);
    }

    private void streamPiece(Target target, FetchPlanner.Piece piece, ChunkVerifiedDevice.ChunkSink sink,
                             long deadlineNanos) throws IOException, InterruptedException {
        ChunkChecksums sums = target.sums();
        PieceStream range = new PieceStream(sums, piece, sink);
        streamer.stream(target.key(), range, deadlineNanos);
        if (range.nextChunk != piece.end()) {
            throw new ChunkFailure("read of bytes [" + range.next() + ", " + range.end() + ") ended early", null);
        }
    }

    /** One piece's progress: the next chunk to hand over, so a retried GET starts there. */
    private final class PieceStream implements ResumableRange {
        private final ChunkChecksums sums;
        private final FetchPlanner.Piece piece;
        private final ChunkVerifiedDevice.ChunkSink sink;
        int nextChunk;

        PieceStream(ChunkChecksums sums, FetchPlanner.Piece piece, ChunkVerifiedDevice.ChunkSink sink) {
            this.sums = sums;
            this.piece = piece;
            this.sink = sink;
            this.nextChunk = piece.first();
        }

        @Override
        public long next() {
            return sums.chunkStart(nextChunk);
        }

        @Override
        public long end() {
            return sums.chunkStart(piece.end() - 1) + sums.chunkLength(piece.end() - 1);
        }

        @Override
        public void consume(java.io.InputStream in) throws IOException {
            gets.incrementAndGet();
            byte[] batch = STREAM_BATCH.get();
            while (nextChunk < piece.end()) {
                int n = Math.min(STREAM_BATCH_CHUNKS, piece.end() - nextChunk);
                int length = (int) (sums.chunkStart(nextChunk + n - 1) + sums.chunkLength(nextChunk + n - 1)
                        - sums.chunkStart(nextChunk));
                int done = 0;
                while (done < length) {
                    int r = in.read(batch, done, length - done);
                    if (r < 0) {
                        throw new java.io.EOFException("response ended " + (length - done) + " bytes early");
                    }
                    done += r;
                }
                fetchedBytes.addAndGet(length);
                for (int i = 0; i < n; i++) {
                    int c = nextChunk + i;
                    int at = (int) (sums.chunkStart(c) - sums.chunkStart(nextChunk));
                    if (!sums.verify(c, ByteBuffer.wrap(batch, at, sums.chunkLength(c)))) {
                        throw new S3Errors.Permanent(corrupt(sums, c));
                    }
                }
                try {
                    sink.accept(nextChunk, ByteBuffer.wrap(batch, 0, length).asReadOnlyBuffer());
                } catch (IOException e) {
                    throw new SinkFailure(e);
                }
                nextChunk += n;
            }
        }
    }

    private ByteBuffer await(Target target, CompletableFuture<ByteBuffer> future) throws IOException {
        try {
            return future.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while reading " + target.key() + " from backend '" + backend + "'");
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            throw new BackendException(backend, target.key(), cause.getMessage(), cause);
        }
    }

    private void fetch(Target target, FetchPlanner.Piece piece, CompletableFuture<ByteBuffer>[] futures, long deadlineNanos) {
        ChunkChecksums sums = target.sums();
        long offset = sums.chunkStart(piece.first());
        long end = sums.chunkStart(piece.end() - 1) + sums.chunkLength(piece.end() - 1);
        byte[] bytes = new byte[(int) (end - offset)];
        try {
            gets.incrementAndGet();
            fetcher.fetch(target.key(), offset, bytes, deadlineNanos);
            fetchedBytes.addAndGet(bytes.length);
        } catch (InterruptedException e) {
            settle(target, piece, futures, null, new ChunkFailure("read interrupted", e));
            Thread.currentThread().interrupt();
            return;
        } catch (S3Backend.S3Failure e) {
            settle(target, piece, futures, null, new ChunkFailure(e.detail(), e));
            return;
        } catch (IOException | RuntimeException e) {
            settle(target, piece, futures, null, new ChunkFailure("read of bytes [" + offset + ", " + end + ") failed: "
                    + (e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage()), e));
            return;
        }
        settle(target, piece, futures, bytes, null);
    }

    private static String corrupt(ChunkChecksums sums, int c) {
        return "chunk " + c + " (bytes [" + sums.chunkStart(c) + ", " + (sums.chunkStart(c) + sums.chunkLength(c))
                + ")) failed its CRC32C check; the object is corrupt and the data was not served";
    }

    /** Verifies each chunk of a fetched piece, then hands it to its waiters; a bad chunk is never handed out. */
    private void settle(Target target, FetchPlanner.Piece piece, CompletableFuture<ByteBuffer>[] futures, byte[] bytes,
                        IOException failure) {
        ChunkChecksums sums = target.sums();
        long base = sums.chunkStart(piece.first());
        Object[] outcome = new Object[piece.count()];
        for (int c = piece.first(); c < piece.end(); c++) {
            if (bytes == null) {
                outcome[c - piece.first()] = failure;
                continue;
            }
            int at = (int) (sums.chunkStart(c) - base);
            ByteBuffer chunk = ByteBuffer.wrap(bytes, at, sums.chunkLength(c)).slice().asReadOnlyBuffer();
            if (sums.verify(c, chunk)) {
                outcome[c - piece.first()] = chunk;
            } else {
                outcome[c - piece.first()] = new ChunkFailure(corrupt(sums, c), null);
            }
        }
        synchronized (lock) {
            for (int c = piece.first(); c < piece.end(); c++) {
                ChunkKey key = new ChunkKey(target.key(), c);
                inFlight.remove(key, futures[c - piece.first()]);
                // Small fetches are kept whole; of a large one only its ends, where an unaligned sequential
                // reader picks up next. Copies, so the buffer never pins a large piece.
                boolean keep = piece.count() <= shape.unit() || c == piece.first() || c == piece.end() - 1;
                if (!closed && bufferChunks > 0 && keep && outcome[c - piece.first()] instanceof ByteBuffer chunk) {
                    byte[] copy = new byte[chunk.remaining()];
                    chunk.duplicate().get(copy);
                    recent.put(key, ByteBuffer.wrap(copy).asReadOnlyBuffer());
                }
            }
        }
        for (int i = 0; i < outcome.length; i++) {
            if (outcome[i] instanceof ByteBuffer chunk) {
                futures[i].complete(chunk);
            } else {
                futures[i].completeExceptionally((Throwable) outcome[i]);
            }
        }
    }

    /**
     * Fails every read still waiting for a GET (the pool that would have run it is going away) and empties
     * the buffer. A GET that finishes later completes nothing: its futures are already settled.
     */
    void close() {
        List<CompletableFuture<ByteBuffer>> pending;
        synchronized (lock) {
            closed = true;
            pending = new ArrayList<>(inFlight.values());
            inFlight.clear();
            recent.clear();
        }
        for (CompletableFuture<ByteBuffer> future : pending) {
            future.completeExceptionally(new ChunkFailure("backend was closed while the read was waiting", null));
        }
    }

    /** Drops buffered chunks of one object (after a delete, so a re-put cannot meet stale bytes). */
    void forget(String key) {
        synchronized (lock) {
            recent.keySet().removeIf(k -> k.key().equals(key));
        }
    }
}
