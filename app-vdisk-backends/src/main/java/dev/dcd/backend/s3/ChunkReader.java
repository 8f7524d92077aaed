package dev.dcd.backend.s3;

import dev.dcd.backend.BackendException;
import dev.dcd.vdisk.ChunkChecksums;

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
        this.backend = backend;
        this.fetcher = fetcher;
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
                outcome[c - piece.first()] = new ChunkFailure("chunk " + c + " (bytes [" + sums.chunkStart(c) + ", "
                        + (sums.chunkStart(c) + sums.chunkLength(c)) + ")) failed its CRC32C check; the object is "
                        + "corrupt and the data was not served", null);
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
