package dev.dcd.filter;

import dev.dcd.testing.Await;
import dev.dcd.testing.UncaughtExceptions;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.dcd.block.BlockDevice;
import dev.dcd.block.Capabilities;
import dev.dcd.synth.RegionMap;
import dev.dcd.synth.RegionMapBuilder;
import dev.dcd.vdisk.ContentId;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

class ReadaheadFilterTest {
    private static final int SIZE = 32 << 20;
    private static final byte[] DATA = TestGeneration.bytes(new Random(11), SIZE);
    /** Two files' extents (app data) with metadata before and between them. */
    private static final RegionMap MAP = new RegionMapBuilder(SIZE, List.of(ContentId.of(new byte[32])))
            .metadata(0, 1 << 20)
            .appData(1 << 20, 15 << 20, 0, 4096)
            .appData(17 << 20, 15 << 20, 0, 64 << 20)
            .build();

    /** The bottom: serves DATA, counts reads, and can hold back reads that start at or after a gate. */
    private static final class Lower implements ExtendedBlockDevice {
        final AtomicInteger reads = new AtomicInteger();
        volatile long gateFrom = Long.MAX_VALUE;
        final CountDownLatch gate = new CountDownLatch(1);

        @Override
        public long size() {
            return SIZE;
        }

        @Override
        public Capabilities capabilities() {
            return Capabilities.READ_ONLY;
        }

        @Override
        public void read(long offset, ByteBuffer dst) throws IOException {
            reads.incrementAndGet();
            if (offset >= gateFrom) {
                try {
                    gate.await();
                } catch (InterruptedException e) {
                    throw new java.io.InterruptedIOException();
                }
            }
            dst.put(DATA, (int) offset, dst.remaining());
        }
    }

    @RegisterExtension
    final UncaughtExceptions uncaught = new UncaughtExceptions();

    /**
     * The product's readahead without the latency rule: these tests specify what streams do by their reads and
     * waits alone, and a real clock's samples (a first read slowed by the JIT) must not turn a stream deep under them.
     * The latency rule has tests of its own, on a clock the test moves.
     */
    private static final ReadaheadConfig WAITS_ONLY = ReadaheadConfig.DEFAULT.withLatencyRule(java.time.Duration.ZERO, 0);

    /** Until every prefetch started so far has ended: what a reader slower than the lower layer would see. */
    private static void awaitPrefetches(ReadaheadFilter ra) {
        Await.until(() -> ra.prefetchesEnded.sum() == ra.prefetches.sum(), "the started prefetches to end");
    }

    private static byte[] read(BlockDevice d, long offset, int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        d.read(offset, b);
        return b.array();
    }

    @Test
    void sequentialReadsOfOneExtentArePrefetchedAndServedFromThePrefetch() throws Exception {
        Lower lower = new Lower();
        try (ReadaheadFilter ra = new ReadaheadFilter(lower, MAP, WAITS_ONLY)) {
            for (long pos = 1 << 20; pos < 16 << 20; pos += 65536) {
                assertArrayEquals(Arrays.copyOfRange(DATA, (int) pos, (int) pos + 65536), read(ra, pos, 65536));
                // The reader consumes its data, as a real one does; the prefetches it started end meanwhile.
                awaitPrefetches(ra);
            }
            assertTrue(ra.prefetches.sum() > 3, "prefetches " + ra.prefetches.sum());
            assertTrue(ra.hits.sum() > 120, "hits " + ra.hits.sum());
            assertTrue(lower.reads.get() < 120, "the lower layer saw few large reads, not 240 small ones: " + lower.reads);
        }
    }

    @Test
    void aClosedFiltersWindowBuffersAreReusedByTheNextFilterAndServeItsOwnBytes() throws Exception {
        Lower lower = new Lower();
        int before;
        try (ReadaheadFilter first = new ReadaheadFilter(lower, MAP, WAITS_ONLY)) {
            for (long pos = 1 << 20; pos < 16 << 20; pos += 65536) {
                read(first, pos, 65536);
                awaitPrefetches(first);
            }
            before = ReadaheadFilter.sharedIdle();
        }
        assertTrue(ReadaheadFilter.sharedIdle() > before, "the closed filter left its idle buffers: "
                + ReadaheadFilter.sharedIdle() + " after, " + before + " before");
        assertTrue(ReadaheadFilter.sharedIdle() <= ReadaheadFilter.SHARED_IDLE);
        int kept = ReadaheadFilter.sharedIdle();
        try (ReadaheadFilter second = new ReadaheadFilter(lower, MAP, WAITS_ONLY)) {
            // The other file: every byte must be this read's, none left over from the first filter's windows.
            for (long pos = 17 << 20; pos < 32 << 20; pos += 65536) {
                assertArrayEquals(Arrays.copyOfRange(DATA, (int) pos, (int) pos + 65536), read(second, pos, 65536));
                awaitPrefetches(second);
            }
            assertTrue(ReadaheadFilter.sharedIdle() < kept, "the second filter took kept buffers");
            assertTrue(second.hits.sum() > 120, "hits " + second.hits.sum());
        }
    }

    @Test
    void windowsAlreadyInTheCacheAreSkippedAndReadDirectlyWhileTheRestIsPrefetched() throws Exception {
        Lower lower = new Lower();
        // The first 8 MiB of the extent count as cached, the rest not.
        long cachedUpTo = 9L << 20;
        try (ReadaheadFilter ra = new ReadaheadFilter(lower, MAP, WAITS_ONLY, null,
                (offset, length) -> offset + length <= cachedUpTo, ReadaheadFilter.NO_FILLER)) {
            for (long pos = 1 << 20; pos < cachedUpTo - (1 << 20); pos += 65536) {
                assertArrayEquals(Arrays.copyOfRange(DATA, (int) pos, (int) pos + 65536), read(ra, pos, 65536));
            }
            assertEquals(0, ra.prefetches.sum(), "nothing cached was prefetched");
            assertTrue(ra.skipped.sum() > 0, "cached windows were skipped");
            for (long pos = cachedUpTo - (1 << 20); pos < 16 << 20; pos += 65536) {
                assertArrayEquals(Arrays.copyOfRange(DATA, (int) pos, (int) pos + 65536), read(ra, pos, 65536));
                awaitPrefetches(ra);
            }
            assertTrue(ra.prefetches.sum() > 0, "past the cached part the stream prefetches again");
            assertTrue(ra.hits.sum() > 0, "hits " + ra.hits.sum());
        }
    }

    @Test
    void prefetchesStopAtTheEndOfTheExtentAndNeverRunIntoTheNextFile() throws IOException {
        Lower lower = new Lower();
        lower.gateFrom = 16 << 20; // anything past the first extent would block forever
        try (ReadaheadFilter ra = new ReadaheadFilter(lower, MAP, WAITS_ONLY)) {
            for (long pos = 15 << 20; pos < 16 << 20; pos += 32768) {
                assertArrayEquals(Arrays.copyOfRange(DATA, (int) pos, (int) pos + 32768), read(ra, pos, 32768));
            }
        } finally {
            lower.gate.countDown();
        }
    }

    @Test
    void metadataAndRandomReadsAreNotPrefetched() throws IOException {
        Lower lower = new Lower();
        try (ReadaheadFilter ra = new ReadaheadFilter(lower, MAP, WAITS_ONLY)) {
            for (long pos = 0; pos < 1 << 20; pos += 4096) {
                read(ra, pos, 4096);
            }
            Random random = new Random(1);
            for (int i = 0; i < 200; i++) {
                read(ra, (1 << 20) + random.nextInt(14 << 20), 4096);
            }
            assertEquals(0, ra.prefetches.sum());
        }
    }

    @Test
    void aForegroundReadNeverWaitsBehindAQueuedPrefetch() throws Exception {
        Lower lower = new Lower();
        ReadaheadConfig oneThread = new ReadaheadConfig(true, 128 * 1024, 4 << 20, 4, 1)
                .withLatencyRule(java.time.Duration.ZERO, 0);
        try (ReadaheadFilter ra = new ReadaheadFilter(lower, MAP, oneThread)) {
            // Stream A in the second file: its first prefetch blocks on the gate and occupies the only thread.
            lower.gateFrom = 17 << 20;
            lower.gateFrom = (17 << 20) + 8192;
            read(ra, 17 << 20, 4096);
            read(ra, (17 << 20) + 4096, 4096);      // sequential: prefetch [8K, 8K+128K) queued, starts, blocks
            read(ra, (17 << 20) + 8192 - 4096, 4096); // re-read: no new stream
            // Stream B in the first file: its prefetch is queued behind A's blocked one.
            read(ra, 1 << 20, 4096);
            read(ra, (1 << 20) + 4096, 4096);
            assertTrue(ra.prefetches.sum() >= 2);
            // B reads what its queued prefetch covers: it must cancel it and read directly, now.
            CompletableFuture<byte[]> b = CompletableFuture.supplyAsync(() -> {
                try {
                    return read(ra, (1 << 20) + 8192, 4096);
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            byte[] got = b.get(5, TimeUnit.SECONDS);
            assertArrayEquals(Arrays.copyOfRange(DATA, (1 << 20) + 8192, (1 << 20) + 12288), got);
            // The next read falls in the cancelled prefetch too, whose task is still queued: no waiting for it either.
            CompletableFuture<byte[]> c = CompletableFuture.supplyAsync(() -> {
                try {
                    return read(ra, (1 << 20) + 12288, 4096);
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            assertArrayEquals(Arrays.copyOfRange(DATA, (1 << 20) + 12288, (1 << 20) + 16384), c.get(5, TimeUnit.SECONDS));
        } finally {
            lower.gate.countDown();
        }
    }

    @Test
    void appDataReadThroughTheCacheIsPrefetchedIntoTheCacheAndThenReadFromBelow() throws Exception {
        Lower lower = new Lower();
        List<long[]> fills = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
        ReadaheadFilter.Filler filler = new ReadaheadFilter.Filler() {
            @Override
            public boolean fills(long offset) {
                return true;
            }

            @Override
            public void fill(long offset, long length, Runnable progress) {
                fills.add(new long[] {offset, length});
            }
        };
        try (ReadaheadFilter ra = new ReadaheadFilter(lower, MAP, WAITS_ONLY, null,
                (offset, length) -> false, filler)) {
            int reads = 0;
            for (long pos = 1 << 20; pos < 16 << 20; pos += 131072) {
                assertArrayEquals(Arrays.copyOfRange(DATA, (int) pos, (int) pos + 131072), read(ra, pos, 131072));
                reads++;
                awaitPrefetches(ra);
            }
            assertTrue(ra.prefetches.sum() > 0 && fills.size() == ra.prefetches.sum(),
                    "every prefetch filled the cache: " + fills.size() + " of " + ra.prefetches.sum());
            assertEquals(reads, lower.reads.get(), "every read went below (to the cache), none into a buffer");
            long filledTo = 2 << 20;
            for (long[] f : fills) {
                assertTrue(f[0] >= 1 << 20 && f[0] + f[1] <= 16 << 20, "fills stay in the extent");
                filledTo = Math.max(filledTo, f[0] + f[1]);
            }
            assertEquals(16 << 20, filledTo, "the stream filled ahead to the end of the extent");
            assertEquals(List.of(131072L, 262144L, 524288L, 1048576L), fills.subList(0, 4).stream().map(f -> f[1]).toList(),
                    "a reader that never waited for a fill keeps the window doubling");
            assertEquals(0, ra.deepened.sum(), "nor does its stream turn deep");
        }
    }

    /** Fills that each wait to be released, marking their 64 KiB units as they arrive. */
    private static final class HeldFills implements ReadaheadFilter.Filler, ReadaheadFilter.Residency {
        final List<long[]> started = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
        final java.util.Map<Long, CountDownLatch> release = new java.util.concurrent.ConcurrentHashMap<>();
        final java.util.Set<Long> arrived = java.util.concurrent.ConcurrentHashMap.newKeySet();
        final AtomicInteger running = new AtomicInteger();
        /** Once set, fills no longer wait to be released. */
        volatile boolean open;

        @Override
        public boolean fills(long offset) {
            return true;
        }

        @Override
        public void fill(long offset, long length, Runnable progress) throws IOException {
            CountDownLatch gate = release.computeIfAbsent(offset, o -> new CountDownLatch(1));
            started.add(new long[] {offset, length});
            running.incrementAndGet();
            try {
                if (!open && !gate.await(10, TimeUnit.SECONDS)) {
                    throw new IOException("fill at " + offset + " was never released");
                }
            } catch (InterruptedException e) {
                throw new java.io.InterruptedIOException();
            } finally {
                running.decrementAndGet();
            }
            for (long at = offset; at < offset + length; at += 65536) {
                arrived.add(at / 65536);
            }
            progress.run();
        }

        /** Whether a fill that has started covers byte {@code at}. */
        boolean covers(long at) {
            synchronized (started) {
                for (long[] f : started) {
                    if (f[0] <= at && at < f[0] + f[1]) {
                        return true;
                    }
                }
            }
            return false;
        }

        void releaseFill(long offset) {
            release.computeIfAbsent(offset, o -> new CountDownLatch(1)).countDown();
        }

        /** Releases every fill, held or to come. */
        void openAll() {
            open = true;
            synchronized (started) {
                for (long[] f : started) {
                    releaseFill(f[0]);
                }
            }
        }

        @Override
        public boolean resident(long offset, long length) {
            for (long unit = offset / 65536; unit <= (offset + length - 1) / 65536; unit++) {
                if (!arrived.contains(unit)) {
                    return false;
                }
            }
            return true;
        }

        /** The lengths of the fills started so far, in disk order (the order they were issued in; threads may start them in any). */
        List<Long> lengths() {
            synchronized (started) {
                return started.stream().sorted(java.util.Comparator.comparingLong(f -> f[0])).map(f -> f[1]).toList();
            }
        }
    }

    @Test
    void aStreamWhoseReaderWaitedForItsFillKeepsMoreAndLargerWindowsInFlight() throws Exception {
        Lower lower = new Lower();
        HeldFills fills = new HeldFills();
        ExecutorService reader = Executors.newSingleThreadExecutor();
        long pos = 1 << 20;
        try (ReadaheadFilter ra = new ReadaheadFilter(lower, MAP, WAITS_ONLY, null, fills, fills)) {
            read(ra, pos, 131072);
            read(ra, pos + 131072, 131072);
            Await.until(() -> fills.running.get() == 1, "the first window's fill to start");
            // The third read needs the first window, which is still on its way: the reader waits for it.
            Future<byte[]> third = reader.submit(() -> read(ra, pos + 262144, 131072));
            Await.until(() -> ra.waits.sum() == 1 && fills.started.size() == 2,
                    "the reader to wait for the running fill, the second fill started");
            assertEquals(List.of(131072L, 262144L), fills.lengths(), "until then: two windows, doubling");
            fills.releaseFill(pos + 262144);
            assertArrayEquals(Arrays.copyOfRange(DATA, (int) pos + 262144, (int) pos + 393216),
                    third.get(5, TimeUnit.SECONDS));

            // The next read turns the stream deep: windows grow fourfold and three are kept in flight.
            Future<byte[]> fourth = reader.submit(() -> read(ra, pos + 393216, 131072));
            Await.until(() -> fills.running.get() == ReadaheadConfig.DEFAULT_SLOW_DEPTH,
                    "three fills in flight at once");
            assertEquals(List.of(131072L, 262144L, 524288L, 2097152L), fills.lengths(),
                    "the two new windows came in one read, each four times the last");
            assertEquals(1, ra.deepened.sum());
            fills.openAll();
            fourth.get(5, TimeUnit.SECONDS);

            // It stays deep while it stays sequential, up to the extent's end and no further.
            for (long at = pos + 524288; at < 16 << 20; at += 131072) {
                // Each read finds its window under way: the stream keeps its fills ahead of the reader. (Without
                // the wait a reader that outruns a busy executor reads the tail itself, and the fills stop short.)
                long next = at;
                Await.until(() -> fills.covers(next), "a window covering " + next + " to be under way");
                assertArrayEquals(Arrays.copyOfRange(DATA, (int) at, (int) at + 131072), read(ra, at, 131072));
            }
            awaitPrefetches(ra);
            List<Long> lengths = fills.lengths();
            assertEquals(8L << 20, lengths.get(4), "after 512 KiB and 2 MiB: 8 MiB " + lengths);
            long end = pos;
            for (long[] f : fills.started) {
                end = Math.max(end, f[0] + f[1]);
            }
            assertEquals(16 << 20, end, "filled to the extent's end and no further");
        } finally {
            fills.openAll();
            reader.shutdownNow();
        }
    }

    /** {@code lower} as if {@code latency} away: every read moves the test's clock on by that much. */
    private static ExtendedBlockDevice away(Lower lower, java.util.concurrent.atomic.AtomicLong clock,
                                            java.time.Duration latency) {
        return new Filter(lower) {
            @Override
            public void read(long offset, ByteBuffer dst) throws IOException {
                clock.addAndGet(latency.toNanos());
                next.read(offset, dst);
            }
        };
    }

    @Test
    void aStreamOnAFarVdiskTurnsDeepOnItsSecondReadWithWindowsThatCoverTheRoundTrip() throws Exception {
        java.util.concurrent.atomic.AtomicLong clock = new java.util.concurrent.atomic.AtomicLong();
        HeldFills fills = new HeldFills();
        // 20 ms to the first byte, streams fed for 100 MiB/s: a round trip's worth is 2 MiB.
        ReadaheadConfig config = ReadaheadConfig.DEFAULT.withLatencyRule(java.time.Duration.ofMillis(4), 100L << 20);
        long pos = 1 << 20;
        try (ReadaheadFilter ra = new ReadaheadFilter(away(new Lower(), clock, java.time.Duration.ofMillis(20)), MAP,
                config, fills, fills, i -> true, clock::get)) {
            read(ra, pos, 131072);
            assertEquals(20_000_000L, ra.latencyNanos(0), "the cold read went to the backend: a 20 ms sample");
            read(ra, pos + 131072, 131072);
            Await.until(() -> fills.running.get() == ReadaheadConfig.DEFAULT_SLOW_DEPTH, "three fills in flight");
            assertEquals(List.of(2L << 20, 8L << 20, (16L << 20) - (pos + 262144) - (10L << 20)), fills.lengths(),
                    "from the second read: 2 MiB (20 ms at 100 MiB/s), then fourfold, cut at the extent's end");
            assertEquals(0, ra.waits.sum(), "the reader never had to wait to show the backend is slow");
            assertEquals(1, ra.deepenedByLatency.sum());
            fills.openAll();
            for (long at = pos + 262144; at < 16 << 20; at += 131072) {
                assertArrayEquals(Arrays.copyOfRange(DATA, (int) at, (int) at + 131072), read(ra, at, 131072));
            }
            awaitPrefetches(ra);
            assertEquals(3, fills.started.size(), "nothing fetched twice, nothing beyond the extent");
        } finally {
            fills.openAll();
        }
    }

    @Test
    void aFarStreamIsBoundedByTheDepthAndTheLargestWindowHoweverLongTheRoundTrip() throws Exception {
        java.util.concurrent.atomic.AtomicLong clock = new java.util.concurrent.atomic.AtomicLong();
        HeldFills fills = new HeldFills();
        ReadaheadConfig config = new ReadaheadConfig(true, 128 * 1024, 2 << 20, 4, 6)
                .withLatencyRule(java.time.Duration.ofMillis(4), 1L << 40);
        long pos = 17 << 20;
        ExecutorService reader = Executors.newSingleThreadExecutor();
        try (ReadaheadFilter ra = new ReadaheadFilter(away(new Lower(), clock, java.time.Duration.ofSeconds(2)), MAP,
                config, fills, fills, i -> true, clock::get)) {
            read(ra, pos, 131072);
            read(ra, pos + 131072, 131072);
            Await.until(() -> fills.running.get() == ReadaheadConfig.DEFAULT_SLOW_DEPTH, "three fills in flight");
            // The next read waits for the first window (held); reading it must not send more than the depth allows.
            Future<byte[]> third = reader.submit(() -> read(ra, pos + 262144, 131072));
            Await.until(() -> ra.waits.sum() == 1, "the third read to wait for the first window");
            assertEquals(List.of(2L << 20, 2L << 20, 2L << 20), fills.lengths(),
                    "2 s at 1 TiB/s asks for terabytes: the windows stay at the largest, 2 MiB, three in flight");
            fills.releaseFill(pos + 262144);
            assertArrayEquals(Arrays.copyOfRange(DATA, (int) pos + 262144, (int) pos + 393216),
                    third.get(5, TimeUnit.SECONDS));
        } finally {
            fills.openAll();
            reader.shutdownNow();
        }
    }

    @Test
    void aNearVdiskKeepsTheGentleRampAndAFillsFirstArrivalIsALatencySample() throws Exception {
        java.util.concurrent.atomic.AtomicLong clock = new java.util.concurrent.atomic.AtomicLong();
        HeldFills fills = new HeldFills();
        long pos = 1 << 20;
        try (ReadaheadFilter ra = new ReadaheadFilter(away(new Lower(), clock, java.time.Duration.ofMillis(1)), MAP,
                ReadaheadConfig.DEFAULT, fills, fills, i -> true, clock::get)) {
            read(ra, pos, 131072);
            read(ra, pos + 131072, 131072);
            Await.until(() -> fills.started.size() == 1, "the first window's fill to start");
            assertEquals(List.of(131072L), fills.lengths(), "1 ms is near: one window of the smallest size");
            assertEquals(0, ra.deepenedByLatency.sum());
            // The fill's first arrival comes 9 ms after the clock read 2 ms (the test moves the clock before releasing
            // it); the fill started at 1 or 2 ms (before or after the second read's own backend read moved the clock),
            // so its sample is 10 or 9 ms.
            clock.addAndGet(9_000_000L);
            fills.openAll();
            awaitPrefetches(ra);
            long estimate = ra.latencyNanos(0);
            assertTrue(estimate == 1_000_000L + (9_000_000L - 1_000_000L) / 4
                            || estimate == 1_000_000L + (10_000_000L - 1_000_000L) / 4,
                    "a quarter of the way from 1 ms to the fill's 9 or 10 ms: " + estimate);
        } finally {
            fills.openAll();
        }
    }

    @Test
    void aFillAReaderWentRoundWhileItWasQueuedIsIssuedAgainForTheRestOfItsWindow() throws Exception {
        HeldFills fills = new HeldFills();
        ReadaheadConfig oneThread = new ReadaheadConfig(true, 128 * 1024, 4 << 20, 4, 1)
                .withLatencyRule(java.time.Duration.ZERO, 0);
        try (ReadaheadFilter ra = new ReadaheadFilter(new Lower(), MAP, oneThread, null, fills, fills)) {
            // Another stream's fill holds the only thread: this stream's fills wait in the queue.
            read(ra, 17 << 20, 32768);
            read(ra, (17 << 20) + 32768, 32768);
            Await.until(() -> fills.running.get() == 1, "the other stream's fill to hold the thread");
            long pos = 1 << 20;
            read(ra, pos, 32768);
            read(ra, pos + 32768, 32768);                 // queues the fill of [pos + 64 KiB, +128 KiB)
            assertArrayEquals(Arrays.copyOfRange(DATA, (int) pos + 65536, (int) pos + 98304),
                    read(ra, pos + 65536, 32768), "served at once: the queued fill covering it was gone round");
            assertEquals(0, ra.reissued.sum());
            read(ra, pos + 98304, 32768);                 // meets the cancelled fill: its rest is issued again
            assertEquals(1, ra.reissued.sum());
            fills.openAll();
            awaitPrefetches(ra);
            assertArrayEquals(Arrays.copyOfRange(DATA, (int) pos + 131072, (int) pos + 163840),
                    read(ra, pos + 131072, 32768));
            assertEquals(1, ra.hits.sum(), "the read after it came from the new fill, not from the backend alone");
            assertTrue(fills.started.stream().anyMatch(f -> f[0] == pos + 131072 && f[1] == 65536),
                    "the new fill is the window's rest, [pos + 128 KiB, pos + 192 KiB)");
        } finally {
            fills.openAll();
        }
    }

    @Test
    void aReaderWaitingOnACacheFillGoesOnOnceItsOwnPartHasArrivedNotWhenTheWholeFillHasEnded() throws Exception {
        Lower lower = new Lower();
        CountDownLatch gate = new CountDownLatch(1);
        java.util.Set<Long> arrived = java.util.concurrent.ConcurrentHashMap.newKeySet();
        java.util.concurrent.atomic.AtomicInteger held = new java.util.concurrent.atomic.AtomicInteger();
        ReadaheadFilter.Residency residency = (offset, length) -> {
            for (long unit = offset / 65536; unit <= (offset + length - 1) / 65536; unit++) {
                if (!arrived.contains(unit)) {
                    return false;
                }
            }
            return true;
        };
        ReadaheadFilter.Filler filler = new ReadaheadFilter.Filler() {
            @Override
            public boolean fills(long offset) {
                return true;
            }

            @Override
            public void fill(long offset, long length, Runnable progress) throws IOException {
                // The window's first 128 KiB arrive, then the rest is held back: the fill does not end.
                for (long at = offset; at < offset + Math.min(length, 131072); at += 65536) {
                    arrived.add(at / 65536);
                }
                progress.run();
                held.incrementAndGet();
                try {
                    assertTrue(gate.await(10, TimeUnit.SECONDS));
                } catch (InterruptedException e) {
                    throw new java.io.InterruptedIOException();
                }
                for (long at = offset; at < offset + length; at += 65536) {
                    arrived.add(at / 65536);
                }
            }
        };
        ExecutorService reader = Executors.newSingleThreadExecutor();
        try (ReadaheadFilter ra = new ReadaheadFilter(lower, MAP, WAITS_ONLY, null, residency, filler)) {
            long pos = 1 << 20;
            read(ra, pos, 131072);
            read(ra, pos + 131072, 131072);
            Await.until(() -> held.get() > 0, "the fill of the next window to start and be held");
            assertEquals(1, held.get(), "the fill of the next window is running and held back");
            Future<byte[]> third = reader.submit(() -> read(ra, pos + 262144, 131072));
            assertArrayEquals(Arrays.copyOfRange(DATA, (int) pos + 262144, (int) pos + 393216),
                    third.get(5, TimeUnit.SECONDS), "served while the fill is still held");
            assertEquals(1, ra.hits.sum(), "the read waited on the fill (a readahead hit), not around it");
            assertEquals(1, gate.getCount(), "the fill never ended meanwhile");
        } finally {
            gate.countDown();
            reader.shutdownNow();
        }
    }

    @Test
    void readaheadIsAPassThroughForEverythingButReads() throws IOException {
        FilterTest.Recorder bottom = new FilterTest.Recorder();
        try (ReadaheadFilter ra = new ReadaheadFilter(bottom, new RegionMapBuilder(1 << 20, List.of()).build(),
                WAITS_ONLY)) {
            ra.write(1, ByteBuffer.allocate(2));
            ra.flush();
            ra.trim(3, 4);
            assertEquals(bottom.capabilities(), ra.capabilities());
        }
        assertEquals(List.of("write 1 2", "flush", "trim 3 4", "close"), bottom.calls);
    }
}
