package dev.dcd.backend.s3;

import dev.dcd.backend.BackendException;
import dev.dcd.testing.Await;
import dev.dcd.vdisk.ChunkChecksums;
import dev.dcd.vdisk.Manifest;
import dev.dcd.vdisk.VdiskFormat;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.zip.CRC32C;

import static org.junit.jupiter.api.Assertions.*;

@Timeout(30)
class ChunkReaderTest {
    /** The fakes assert on fetch threads; what fails there must fail the test, not just print. */
    @org.junit.jupiter.api.extension.RegisterExtension
    final dev.dcd.testing.UncaughtExceptions uncaught = new dev.dcd.testing.UncaughtExceptions();
    private static final int CHUNK = VdiskFormat.CHECKSUM_CHUNK;
    private static final long BASE = VdiskFormat.HEADER_SIZE;
    private static final String KEY = "p/object.vdisk";

    /** The reader's fetch threads, apart from the test's own reader threads. */
    private final ExecutorService fetchPool = Executors.newFixedThreadPool(4);
    private final ExecutorService pool = Executors.newFixedThreadPool(4);
    private final byte[] data = new byte[20 * CHUNK + 1234];
    private final ChunkChecksums sums;
    private final ChunkReader.Target target;

    ChunkReaderTest() {
        new Random(11).nextBytes(data);
        int count = (data.length + CHUNK - 1) / CHUNK;
        int[] crcs = new int[count];
        for (int i = 0; i < count; i++) {
            CRC32C crc = new CRC32C();
            crc.update(data, i * CHUNK, Math.min(CHUNK, data.length - i * CHUNK));
            crcs[i] = (int) crc.getValue();
        }
        sums = new Manifest("app", "1", List.of(), BASE, data.length, crcs).checksums();
        target = new ChunkReader.Target(KEY, sums);
    }

    @AfterEach
    void stop() {
        pool.shutdownNow();
        fetchPool.shutdownNow();
    }

    /** Serves {@link #data} as the data region of an object and counts GETs. */
    private final class FakeStore implements ChunkReader.RangeFetcher {
        final AtomicInteger gets = new AtomicInteger();
        final AtomicInteger concurrent = new AtomicInteger();
        final AtomicInteger maxConcurrent = new AtomicInteger();
        volatile CountDownLatch gate;
        volatile int corruptAt = -1;
        volatile IOException failure;

        @Override
        public void fetch(String key, long offset, byte[] into, long deadlineNanos) throws IOException, InterruptedException {
            assertEquals(KEY, key);
            gets.incrementAndGet();
            maxConcurrent.accumulateAndGet(concurrent.incrementAndGet(), Math::max);
            try {
                if (gate != null) {
                    assertTrue(gate.await(10, TimeUnit.SECONDS));
                }
                if (failure != null) {
                    throw failure;
                }
                System.arraycopy(data, (int) (offset - BASE), into, 0, into.length);
                int at = corruptAt - (int) (offset - BASE);
                if (at >= 0 && at < into.length) {
                    into[at] ^= 0x40;
                }
            } finally {
                concurrent.decrementAndGet();
            }
        }
    }

    private ChunkReader reader(FakeStore store, int unitChunks, int pieceChunks, int bufferChunks) {
        return new ChunkReader("s3test", store, fetchPool, new FetchPlanner.Shape(unitChunks, pieceChunks, pieceChunks, 4), bufferChunks);
    }

    private byte[] read(ChunkReader reader, long offset, int length) throws IOException {
        ByteBuffer dst = ByteBuffer.allocate(length);
        reader.read(target, BASE + offset, dst, Long.MAX_VALUE);
        assertFalse(dst.hasRemaining());
        return dst.array();
    }

    @Test
    void readsAtAnyOffsetReturnTheStoredBytes() throws Exception {
        ChunkReader reader = reader(new FakeStore(), 4, 8, 16);
        Random random = new Random(5);
        for (int i = 0; i < 200; i++) {
            int offset = random.nextInt(data.length);
            int length = 1 + random.nextInt(Math.min(3 * CHUNK, data.length - offset));
            assertArrayEquals(Arrays.copyOfRange(data, offset, offset + length), read(reader, offset, length));
        }
        assertArrayEquals(data, read(reader, 0, data.length));
    }

    @Test
    void aLargeReadIsFetchedAsParallelPieces() throws Exception {
        FakeStore store = new FakeStore();
        store.gate = new CountDownLatch(1);
        ChunkReader reader = reader(store, 1, 4, 0);
        Future<byte[]> all = pool.submit(() -> read(reader, 0, 16 * CHUNK));
        Await.until(() -> store.concurrent.get() == 4 || all.isDone(), "four GETs running at once");
        store.gate.countDown();
        assertArrayEquals(Arrays.copyOf(data, 16 * CHUNK), all.get());
        assertEquals(4, store.gets.get());
        assertEquals(4, store.maxConcurrent.get());
    }

    @Test
    void concurrentReadsOfAdjacentChunksShareOneGet() throws Exception {
        FakeStore store = new FakeStore();
        store.gate = new CountDownLatch(1);
        ChunkReader reader = reader(store, 4, 8, 0);
        Future<byte[]> a = pool.submit(() -> read(reader, 5L * CHUNK, 100));
        Await.until(() -> store.gets.get() == 1, "the first read's GET");
        AtomicReference<Thread> second = new AtomicReference<>();
        Future<byte[]> b = pool.submit(() -> {
            second.set(Thread.currentThread());
            return read(reader, 6L * CHUNK + 7, CHUNK);
        });
        Await.until(() -> second.get() != null, "the second read to start");
        // Not a guess at how long joining takes: the second reader is seen waiting on the first one's GET.
        Await.blockedIn(second.get(), ChunkReader.class.getName(), "await");
        store.gate.countDown();
        assertArrayEquals(Arrays.copyOfRange(data, 5 * CHUNK, 5 * CHUNK + 100), a.get());
        assertArrayEquals(Arrays.copyOfRange(data, 6 * CHUNK + 7, 7 * CHUNK + 7), b.get());
        assertEquals(1, store.gets.get(), "the second read joined the first one's GET of chunks 4..7");
    }

    @Test
    void smallSequentialReadsAreServedFromTheRecentChunkBuffer() throws Exception {
        FakeStore store = new FakeStore();
        ChunkReader reader = reader(store, 4, 8, 16);
        for (int i = 0; i < 4 * CHUNK; i += 16384) {
            assertArrayEquals(Arrays.copyOfRange(data, i, i + 16384), read(reader, i, 16384));
        }
        assertEquals(1, store.gets.get());
        assertTrue(reader.bufferHits() > 0);
    }

    @Test
    void aCorruptChunkIsReportedByChunkAndNeverServed() throws Exception {
        FakeStore store = new FakeStore();
        store.corruptAt = 3 * CHUNK + 17;
        ChunkReader reader = reader(store, 4, 8, 16);
        ByteBuffer dst = ByteBuffer.allocate(CHUNK);
        BackendException e = assertThrows(BackendException.class, () -> reader.read(target, BASE + 3L * CHUNK, dst, Long.MAX_VALUE));
        assertTrue(e.getMessage().contains("backend 's3test'"), e.getMessage());
        assertTrue(e.getMessage().contains(KEY), e.getMessage());
        assertTrue(e.getMessage().contains("chunk 3 "), e.getMessage());
        assertTrue(e.getMessage().contains("CRC32C"), e.getMessage());
        assertEquals(0, dst.position());
        assertTrue(Arrays.equals(new byte[CHUNK], dst.array()), "no corrupt byte reached the caller");
        // Its neighbours in the same GET were fine and are served; the bad chunk is not buffered.
        assertArrayEquals(Arrays.copyOfRange(data, 2 * CHUNK, 3 * CHUNK), read(reader, 2L * CHUNK, CHUNK));
        assertThrows(BackendException.class, () -> read(reader, 3L * CHUNK + 100, 10));
    }

    @Test
    void aFailedGetFailsEveryWaiterAndIsRetriedByTheNextRead() throws Exception {
        FakeStore store = new FakeStore();
        store.failure = new IOException("connection refused");
        ChunkReader reader = reader(store, 4, 8, 16);
        BackendException e = assertThrows(BackendException.class, () -> read(reader, 0, 10));
        assertTrue(e.getMessage().contains("connection refused") && e.getMessage().contains("s3test"), e.getMessage());
        store.failure = null;
        assertArrayEquals(Arrays.copyOf(data, 10), read(reader, 0, 10));
        assertEquals(2, store.gets.get());
    }

    @Test
    void closingFailsWaitingReadsInsteadOfLeavingThemHanging() throws Exception {
        FakeStore store = new FakeStore();
        store.gate = new CountDownLatch(1);
        ChunkReader reader = reader(store, 4, 8, 16);
        Future<byte[]> waiting = pool.submit(() -> read(reader, 0, 10));
        Await.until(() -> store.gets.get() == 1, "the read's GET");
        reader.close();
        java.util.concurrent.ExecutionException e = assertThrows(java.util.concurrent.ExecutionException.class, waiting::get);
        assertTrue(e.getCause().getMessage().contains("closed"), e.getCause().getMessage());
        store.gate.countDown();
        assertThrows(BackendException.class, () -> read(reader, 0, 10));
    }

    @Test
    void theShortLastChunkIsVerifiedAndServed() throws Exception {
        ChunkReader reader = reader(new FakeStore(), 4, 8, 16);
        int tail = data.length - 20 * CHUNK;
        assertArrayEquals(Arrays.copyOfRange(data, 20 * CHUNK, data.length), read(reader, 20L * CHUNK, tail));
    }

    // ---- streaming (cache fills) ----------------------------------------------------------------------------

    /**
     * Serves {@link #data} to a streaming reader as the real backend does: each attempt asks for what is left of
     * the range; a cut stream is retried (up to {@code attempts}), a permanent failure is not.
     */
    private final class FakeStreamer implements ChunkReader.RangeStreamer {
        final AtomicInteger attempts = new AtomicInteger();
        final AtomicInteger concurrent = new AtomicInteger();
        final AtomicInteger maxConcurrent = new AtomicInteger();
        final java.util.Set<Long> cutOnce = java.util.concurrent.ConcurrentHashMap.newKeySet();
        volatile int cutAt = -1;
        volatile int corruptAt = -1;
        volatile CountDownLatch gate;

        @Override
        public void stream(String key, ChunkReader.ResumableRange range, long deadlineNanos)
                throws IOException, InterruptedException {
            assertEquals(KEY, key);
            maxConcurrent.accumulateAndGet(concurrent.incrementAndGet(), Math::max);
            try {
                if (gate != null) {
                    assertTrue(gate.await(10, TimeUnit.SECONDS));
                }
                for (int attempt = 1; ; attempt++) {
                    attempts.incrementAndGet();
                    int from = (int) (range.next() - BASE);
                    int to = (int) (range.end() - BASE);
                    byte[] body = Arrays.copyOfRange(data, from, to);
                    if (corruptAt >= from && corruptAt < to) {
                        body[corruptAt - from] ^= 0x40;
                    }
                    int cut = cutAt >= from && cutAt < to && cutOnce.add((long) cutAt) ? cutAt - from : body.length;
                    try {
                        range.consume(new java.io.ByteArrayInputStream(body, 0, cut));
                        return;
                    } catch (S3Errors.Permanent e) {
                        throw e;
                    } catch (IOException e) {
                        if (attempt == 3) {
                            throw e;
                        }
                    }
                }
            } finally {
                concurrent.decrementAndGet();
            }
        }
    }

    /** What a sink was handed: each chunk's bytes, and how often each chunk came. */
    private static final class Collected implements dev.dcd.block.ChunkVerifiedDevice.ChunkSink {
        final java.util.Map<Integer, byte[]> chunks = new java.util.concurrent.ConcurrentHashMap<>();
        final java.util.Map<Integer, Integer> times = new java.util.concurrent.ConcurrentHashMap<>();
        final AtomicInteger batches = new AtomicInteger();
        volatile IOException failWith;

        @Override
        public void accept(int firstChunk, ByteBuffer batch) throws IOException {
            if (failWith != null) {
                throw failWith;
            }
            batches.incrementAndGet();
            assertTrue(batch.remaining() <= ChunkReader.STREAM_BATCH_CHUNKS * CHUNK, "a batch stays small");
            for (int c = firstChunk, at = 0; at < batch.remaining(); c++, at += CHUNK) {
                byte[] bytes = new byte[Math.min(CHUNK, batch.remaining() - at)];
                batch.duplicate().position(batch.position() + at).get(bytes);
                chunks.put(c, bytes);
                times.merge(c, 1, Integer::sum);
            }
        }
    }

    private ChunkReader streamingReader(FakeStreamer streamer, int pieceChunks) {
        return new ChunkReader("s3test", new FakeStore(), streamer, fetchPool,
                new FetchPlanner.Shape(1, pieceChunks, pieceChunks, 4), 16);
    }

    private byte[] chunkOfData(int c) {
        return Arrays.copyOfRange(data, (int) (sums.chunkStart(c) - BASE),
                (int) (sums.chunkStart(c) - BASE) + sums.chunkLength(c));
    }

    @Test
    void aStreamedRunHandsOverEveryChunkOnceVerifiedInSmallBatchesFromParallelPieces() throws Exception {
        FakeStreamer streamer = new FakeStreamer();
        streamer.gate = new CountDownLatch(1);
        ChunkReader reader = streamingReader(streamer, 5);
        Collected sink = new Collected();
        int n = sums.chunkCount();
        Future<?> run = pool.submit(() -> {
            reader.stream(target, 0, n, sink, Long.MAX_VALUE);
            return null;
        });
        Await.until(() -> streamer.concurrent.get() == 4 || run.isDone(), "four streams running at once");
        streamer.gate.countDown();
        run.get();
        assertEquals(4, streamer.maxConcurrent.get(), "the run's pieces are fetched in parallel");
        assertEquals(n, sink.chunks.size());
        for (int c = 0; c < n; c++) {
            assertArrayEquals(chunkOfData(c), sink.chunks.get(c), "chunk " + c);
            assertEquals(1, sink.times.get(c), "chunk " + c + " handed over once");
        }
        assertEquals(sums.chunkStart(n - 1) + sums.chunkLength(n - 1) - BASE, reader.fetchedBytes());
    }

    @Test
    void aStreamCutShortIsResumedAfterTheLastChunkHandedOver() throws Exception {
        FakeStreamer streamer = new FakeStreamer();
        streamer.cutAt = 13 * CHUNK + 100;
        ChunkReader reader = streamingReader(streamer, 20);
        Collected sink = new Collected();
        reader.stream(target, 2, 18, sink, Long.MAX_VALUE);
        assertEquals(2, streamer.attempts.get(), "one retry");
        for (int c = 2; c < 20; c++) {
            assertArrayEquals(chunkOfData(c), sink.chunks.get(c), "chunk " + c);
            assertEquals(1, sink.times.get(c), "chunk " + c + " handed over once, retry or not");
        }
        assertFalse(sink.chunks.containsKey(1));
        assertFalse(sink.chunks.containsKey(20));
    }

    @Test
    void aCorruptChunkEndsTheStreamWithoutRetryAndIsNeverHandedOver() throws Exception {
        FakeStreamer streamer = new FakeStreamer();
        streamer.corruptAt = 11 * CHUNK + 5;
        ChunkReader reader = streamingReader(streamer, 20);
        Collected sink = new Collected();
        BackendException e = assertThrows(BackendException.class, () -> reader.stream(target, 0, 20, sink, Long.MAX_VALUE));
        assertTrue(e.getMessage().contains("s3test"), e.getMessage());
        assertTrue(e.getMessage().contains("chunk 11") && e.getMessage().contains("CRC32C"), e.getMessage());
        assertEquals(1, streamer.attempts.get(), "a bad checksum is not retried");
        assertFalse(sink.chunks.containsKey(11));
        for (int c = 0; c < 8; c++) {
            assertArrayEquals(chunkOfData(c), sink.chunks.get(c), "the batch before the bad one was handed over");
        }
        assertFalse(sink.chunks.containsKey(8), "nothing of the bad chunk's batch");
    }

    @Test
    void theSinksOwnFailureComesBackAsItWasAndIsNotRetried() {
        FakeStreamer streamer = new FakeStreamer();
        ChunkReader reader = streamingReader(streamer, 20);
        Collected sink = new Collected();
        IOException full = new IOException("No space left on device");
        sink.failWith = full;
        IOException e = assertThrows(IOException.class, () -> reader.stream(target, 0, 20, sink, Long.MAX_VALUE));
        assertSame(full, e);
        assertEquals(1, streamer.attempts.get());
    }

    @Test
    void aClosedReaderStreamsNothing() {
        ChunkReader reader = streamingReader(new FakeStreamer(), 4);
        reader.close();
        BackendException e = assertThrows(BackendException.class,
                () -> reader.stream(target, 0, 4, new Collected(), Long.MAX_VALUE));
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
    }
}
