package dev.dcd.filter;

import dev.dcd.synth.RegionMap;
import dev.dcd.vdisk.ContentId;
import dev.dcd.vdisk.SealedVdisk;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/** The shared chunk cache in front of remote app vdisks: verified, bounded, persistent. */
class BlockCacheTest {
    private static final String REMOTE = "remote1";

    @TempDir
    static Path temp;
    static TestGeneration gen;
    static Path materialized;

    @TempDir
    Path cacheRoot;

    @BeforeAll
    static void createGeneration() throws IOException {
        gen = TestGeneration.create(temp, REMOTE, TestGeneration.Shape.SMALL, 9);
        materialized = gen.materialize(temp.resolve("reference.raw"));
    }

    private Path freshGeneration(String name) throws IOException {
        Path copy = cacheRoot.resolve(name);
        Files.createDirectories(copy);
        Files.copy(gen.dir.resolve(DynamicContentDisk.META_IMAGE), copy.resolve(DynamicContentDisk.META_IMAGE));
        Files.copy(gen.dir.resolve(DynamicContentDisk.REGION_MAP), copy.resolve(DynamicContentDisk.REGION_MAP));
        return copy;
    }

    private DynamicContentDisk open(Path dir, BlockCache cache) throws IOException {
        return DynamicContentDisk.builder().generationDir(dir).resolver(gen.resolver()).labels(gen.labels)
                .cache(cache, Set.of(REMOTE)).readahead(ReadaheadConfig.DISABLED).build();
    }

    private static void compareAll(DynamicContentDisk disk) throws IOException {
        try (FileChannel ref = FileChannel.open(materialized, StandardOpenOption.READ)) {
            int chunk = 1 << 20;
            ByteBuffer a = ByteBuffer.allocate(chunk);
            ByteBuffer b = ByteBuffer.allocate(chunk);
            for (long pos = 0; pos < ref.size(); pos += chunk) {
                a.clear();
                b.clear();
                dev.dcd.block.FileBlockDevice.readFully(ref, pos, a, "ref");
                disk.read(pos, b);
                assertArrayEquals(a.array(), b.array(), "bytes at " + pos);
            }
        }
    }

    /** Moves the backend's store away (and back when closed), as if the remote store were unreachable. */
    private static AutoCloseable backendGone() throws IOException {
        Path away = gen.storeDir.resolveSibling(gen.storeDir.getFileName() + ".away");
        Files.move(gen.storeDir, away);
        Files.createDirectories(gen.storeDir);
        return () -> {
            Files.delete(gen.storeDir);
            Files.move(away, gen.storeDir);
        };
    }

    @Test
    @SuppressWarnings("try")
    void readsThroughTheCacheAreExactAndASecondOpenServesThemWithTheBackendGone() throws Exception {
        Path dir = freshGeneration("persist");
        Path cacheDir = cacheRoot.resolve("cache");
        try (BlockCache cache = BlockCache.open(cacheDir, 256L << 20); DynamicContentDisk disk = open(dir, cache)) {
            compareAll(disk);
            assertTrue(cache.stats().misses() > 0);
        }
        try (AutoCloseable gone = backendGone();
             BlockCache cache = BlockCache.open(cacheDir, 256L << 20); DynamicContentDisk disk = open(dir, cache)) {
            compareAll(disk);
            assertEquals(0, cache.stats().misses(), "every chunk came from the cache");
            assertTrue(cache.stats().hits() > 0);
        }
    }

    @Test
    void theCacheStaysWithinItsSizeByEvictingTheLeastRecentlyUsedChunks() throws IOException {
        long max = 1 << 20;
        try (BlockCache cache = BlockCache.open(cacheRoot.resolve("small"), max);
             DynamicContentDisk disk = open(freshGeneration("evict"), cache)) {
            compareAll(disk);
            compareAll(disk);
            BlockCache.Stats s = cache.stats();
            assertTrue(s.evictions() > 0, "evicted " + s.evictions());
            assertTrue(s.usedBytes() <= max, "uses " + s.usedBytes());
            assertTrue(cache.slabFileBytes() <= max, "slab is " + cache.slabFileBytes());
        }
        // Recently used survives eviction of older chunks: reading one range twice in a row hits the second time.
        try (BlockCache cache = BlockCache.open(cacheRoot.resolve("lru"), 4 * 65536);
             DynamicContentDisk disk = open(freshGeneration("lru"), cache)) {
            long appData = firstAppData();
            disk.read(appData, ByteBuffer.allocate(4096));
            long hits = cache.stats().hits();
            disk.read(appData, ByteBuffer.allocate(4096));
            assertEquals(hits + 1, cache.stats().hits());
        }
    }

    private static long firstAppData() {
        for (RegionMap.Region r : gen.map.regions()) {
            if (r.kind() == RegionMap.Kind.APP_DATA) {
                return r.start();
            }
        }
        throw new AssertionError("no app data");
    }

    /** Where the first cached chunk lives: its index record's vdisk and chunk, and a disk range reading it. */
    private record CachedChunk(ContentId id, int chunk, long diskOffset, int length, Path vdiskFile, long vdiskOffset) {
    }

    private static CachedChunk firstCachedChunk(Path cacheDir) throws IOException {
        ByteBuffer rec = ByteBuffer.allocate(BlockCache.RECORD_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        try (FileChannel idx = FileChannel.open(cacheDir.resolve(BlockCache.INDEX), StandardOpenOption.READ)) {
            dev.dcd.block.FileBlockDevice.readFully(idx, BlockCache.HEADER_SIZE, rec, "index");
        }
        assertEquals(BlockCache.USED, rec.getInt(BlockCache.R_FLAGS));
        byte[] idBytes = new byte[32];
        rec.get(BlockCache.R_CONTENT_ID, idBytes);
        ContentId id = ContentId.of(idBytes);
        int chunk = rec.getInt(BlockCache.R_CHUNK);
        SealedVdisk vdisk = gen.vdisks.stream().filter(v -> v.id().equals(id)).findFirst().orElseThrow();
        int vdiskIndex = gen.map.vdisks().indexOf(id);
        long chunkStart = vdisk.manifest().checksums().chunkStart(chunk);
        for (RegionMap.Region r : gen.map.regions()) {
            if (r.kind() == RegionMap.Kind.APP_DATA && r.vdisk() == vdiskIndex
                    && r.vdiskOffset() <= chunkStart && chunkStart < r.vdiskOffset() + r.length()) {
                long disk = r.start() + (chunkStart - r.vdiskOffset());
                int n = (int) Math.min(4096, r.end() - disk);
                return new CachedChunk(id, chunk, disk, n, gen.vdiskFile(id), chunkStart);
            }
        }
        throw new AssertionError("chunk start not mapped");
    }

    private static void flipByte(Path file, long at) throws IOException {
        try (FileChannel c = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer b = ByteBuffer.allocate(1);
            c.read(b, at);
            b.put(0, (byte) (b.get(0) ^ 0x5a)).position(0);
            c.write(b, at);
        }
    }

    @Test
    void aCorruptCachedChunkIsNeverServedAndIsFetchedAgainFromTheBackend() throws IOException {
        Path dir = freshGeneration("rot");
        Path cacheDir = cacheRoot.resolve("rot-cache");
        try (BlockCache cache = BlockCache.open(cacheDir, 64L << 20); DynamicContentDisk disk = open(dir, cache)) {
            compareAll(disk);
        }
        flipByte(cacheDir.resolve(BlockCache.SLAB), 0);
        try (BlockCache cache = BlockCache.open(cacheDir, 64L << 20); DynamicContentDisk disk = open(dir, cache)) {
            compareAll(disk);
            assertEquals(1, cache.stats().corrupt());
        }
    }

    @Test
    void aSlotDamagedRightAfterItsFillIsCaughtByItsFirstRead() throws IOException {
        SealedVdisk vdisk = gen.vdisks.get(0);
        var sums = vdisk.manifest().checksums();
        ByteBuffer a = chunkBytes(vdisk, 0);
        try (BlockCache cache = BlockCache.open(cacheRoot.resolve("rot-fresh"), BlockCache.CHUNK)) {
            ByteBuffer into = ByteBuffer.allocateDirect(BlockCache.CHUNK);
            cache.put(vdisk.id(), 0, a.duplicate());
            // Damaged in the page cache, through another descriptor, before any read of the slab (one slot: slot 0).
            flipByte(cache.dir().resolve(BlockCache.SLAB), 100);
            assertFalse(cache.get(vdisk.id(), 0, sums, into), "the damaged fill is not served");
            assertEquals(1, cache.stats().corrupt());
            cache.put(vdisk.id(), 0, a.duplicate());
            assertTrue(cache.get(vdisk.id(), 0, sums, into), "a good fill verifies");
            assertTrue(cache.get(vdisk.id(), 0, sums, into), "and is trusted after that");
            assertEquals(a, into);
            assertEquals(1, cache.trustedHits.sum());
        }
    }

    @Test
    void aSlotDamagedWhileTheCacheWasClosedIsCaughtAfterTheRestartEvenIfItWasTrustedBefore() throws IOException {
        Path dir = freshGeneration("rot-restart");
        Path cacheDir = cacheRoot.resolve("rot-restart-cache");
        try (BlockCache cache = BlockCache.open(cacheDir, 64L << 20); DynamicContentDisk disk = open(dir, cache)) {
            compareAll(disk);
            compareAll(disk);
            compareAll(disk);
            assertTrue(cache.trustedHits.sum() > 0, "the third pass trusted fills the second verified");
        }
        flipByte(cacheDir.resolve(BlockCache.SLAB), 3 * BlockCache.CHUNK + 17);
        try (BlockCache cache = BlockCache.open(cacheDir, 64L << 20); DynamicContentDisk disk = open(dir, cache)) {
            compareAll(disk);
            assertEquals(1, cache.stats().corrupt(), "nothing is trusted across a restart");
        }
    }

    /** Chunk {@code chunk} of the generation's first vdisk, read from the backend's file. */
    private static ByteBuffer chunkBytes(SealedVdisk vdisk, int chunk) throws IOException {
        var sums = vdisk.manifest().checksums();
        ByteBuffer b = ByteBuffer.allocateDirect(sums.chunkLength(chunk));
        try (FileChannel f = FileChannel.open(gen.vdiskFile(vdisk.id()), StandardOpenOption.READ)) {
            dev.dcd.block.FileBlockDevice.readFully(f, sums.chunkStart(chunk), b, "vdisk");
        }
        return b.flip();
    }

    @Test
    void aTrustedSlotRecycledBetweenLookupAndReadIsNotServedAsTheChunkLookedUp() throws IOException {
        SealedVdisk vdisk = gen.vdisks.get(0);
        var sums = vdisk.manifest().checksums();
        ByteBuffer a = chunkBytes(vdisk, 0);
        ByteBuffer b = chunkBytes(vdisk, 1);
        assertNotEquals(a, b);
        // One slot: storing chunk 1 must evict chunk 0 and overwrite its bytes in place.
        try (BlockCache cache = BlockCache.open(cacheRoot.resolve("one-slot"), BlockCache.CHUNK)) {
            ByteBuffer into = ByteBuffer.allocateDirect(BlockCache.CHUNK);
            cache.put(vdisk.id(), 0, a.duplicate());
            assertTrue(cache.get(vdisk.id(), 0, sums, into), "first read: verified");
            assertTrue(cache.get(vdisk.id(), 0, sums, into), "second read: trusted");
            assertEquals(a, into);
            assertEquals(1, cache.trustedHits.sum());
            cache.afterLookup = () -> {
                cache.afterLookup = () -> {
                };
                try {
                    cache.put(vdisk.id(), 1, b.duplicate());
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            };
            into.clear();
            boolean served = cache.get(vdisk.id(), 0, sums, into);
            assertFalse(served, "the slot now holds chunk 1: a miss, so the chunk is fetched again");
            assertEquals(1, cache.trustedHits.sum(), "a recycled slot is never trusted");
            assertEquals(0, cache.stats().corrupt(), "a race, not rot");
            assertTrue(cache.get(vdisk.id(), 1, sums, into), "chunk 1 is cached and verifies");
            assertEquals(b, into);
        }
    }

    @Test
    void verifiedChunksInConsecutiveSlotsAreReadWithOnePreadUnlessOneIsRecycledMeanwhile() throws IOException {
        SealedVdisk vdisk = gen.vdisks.get(0);
        var sums = vdisk.manifest().checksums();
        ByteBuffer[] data = {chunkBytes(vdisk, 0), chunkBytes(vdisk, 1), chunkBytes(vdisk, 2), chunkBytes(vdisk, 3)};
        ByteBuffer expected = ByteBuffer.allocate(2 * BlockCache.CHUNK);
        expected.put(data[0].duplicate().position(100)).put(data[1].duplicate())
                .put(data[2].duplicate().limit(100)).flip();
        long pos = sums.chunkStart(0) + 100;
        try (BlockCache cache = BlockCache.open(cacheRoot.resolve("run"), 3L * BlockCache.CHUNK)) {
            ByteBuffer into = ByteBuffer.allocateDirect(BlockCache.CHUNK);
            ByteBuffer run = ByteBuffer.allocateDirect(2 * BlockCache.CHUNK);
            for (int c = 0; c < 3; c++) {
                cache.put(vdisk.id(), c, data[c].duplicate());
            }
            assertFalse(cache.getTrustedRun(vdisk.id(), sums, pos, run.clear()), "not read back yet: not trusted");
            for (int c = 0; c < 3; c++) {
                assertTrue(cache.get(vdisk.id(), c, sums, into), "first read of chunk " + c + " verifies it");
            }
            assertTrue(cache.getTrustedRun(vdisk.id(), sums, pos, run.clear()));
            assertEquals(expected, run.flip());
            assertEquals(3, cache.trustedHits.sum());
            // Chunk 0 is now the least recently used: storing chunk 3 in the window recycles its slot.
            cache.afterLookup = () -> {
                cache.afterLookup = () -> {
                };
                try {
                    cache.put(vdisk.id(), 3, data[3].duplicate());
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            };
            assertFalse(cache.getTrustedRun(vdisk.id(), sums, pos, run.clear()), "a slot of the run was recycled");
            assertEquals(3, cache.trustedHits.sum());
        }
        // Chunks stored out of order do not sit in consecutive slots: read chunk by chunk.
        try (BlockCache cache = BlockCache.open(cacheRoot.resolve("unordered"), 3L * BlockCache.CHUNK)) {
            ByteBuffer into = ByteBuffer.allocateDirect(BlockCache.CHUNK);
            for (int c : new int[] {1, 0, 2}) {
                cache.put(vdisk.id(), c, data[c].duplicate());
                assertTrue(cache.get(vdisk.id(), c, sums, into));
            }
            assertFalse(cache.getTrustedRun(vdisk.id(), sums, pos, ByteBuffer.allocateDirect(2 * BlockCache.CHUNK)));
        }
    }

    @Test
    void aRunWithChunksAlreadyCachedIsStoredAroundThemAndEveryChunkAndRecordSurvivesAReopen() throws IOException {
        SealedVdisk vdisk = gen.vdisks.get(0);
        var sums = vdisk.manifest().checksums();
        int n = sums.chunkCount();
        assertTrue(n >= 4, "the test vdisk has enough chunks");
        assertTrue(sums.chunkLength(n - 1) <= BlockCache.CHUNK);
        ByteBuffer[] data = new ByteBuffer[n];
        for (int c = 0; c < n; c++) {
            data[c] = chunkBytes(vdisk, c);
        }
        Path dir = cacheRoot.resolve("gathered");
        try (BlockCache cache = BlockCache.open(dir, (n + 4L) * BlockCache.CHUNK)) {
            // Chunk 2 first: the run's slots are then not one block, and the write must go around the gap.
            cache.put(vdisk.id(), 2, data[2].duplicate());
            ByteBuffer[] run = new ByteBuffer[n];
            for (int c = 0; c < n; c++) {
                run[c] = data[c].duplicate();
            }
            cache.putRun(vdisk.id(), 0, run);
            for (ByteBuffer b : run) {
                assertEquals(0, b.position(), "the caller's buffers are left as they were");
            }
        }
        try (BlockCache cache = BlockCache.open(dir, (n + 4L) * BlockCache.CHUNK)) {
            ByteBuffer into = ByteBuffer.allocateDirect(BlockCache.CHUNK);
            for (int c = 0; c < n; c++) {
                assertTrue(cache.get(vdisk.id(), c, sums, into), "chunk " + c + " found and verified after reopen");
                assertEquals(data[c], into, "chunk " + c);
            }
            assertEquals(0, cache.stats().corrupt());
            assertEquals((long) n * BlockCache.CHUNK, cache.stats().usedBytes(), "one slot per chunk, none lost");
        }
    }

    /** A vdisk file served like S3's devices: chunks verified and handed over as they arrive, in small batches. */
    private static final class StreamingDevice implements dev.dcd.block.ChunkVerifiedDevice {
        final dev.dcd.block.BlockDevice file;
        final dev.dcd.vdisk.ChunkChecksums sums;
        final java.util.concurrent.atomic.AtomicInteger streamed = new java.util.concurrent.atomic.AtomicInteger();
        volatile int failAtChunk = -1;

        StreamingDevice(Path path, dev.dcd.vdisk.ChunkChecksums sums) throws IOException {
            this.file = dev.dcd.block.FileBlockDevice.openReadOnly(path);
            this.sums = sums;
        }

        @Override
        public void streamChunks(int first, int count, ChunkSink sink) throws IOException {
            for (int c = first; c < first + count; c += 3) {
                int n = Math.min(3, first + count - c);
                if (failAtChunk >= c && failAtChunk < c + n) {
                    throw new IOException("connection reset at chunk " + failAtChunk);
                }
                long start = sums.chunkStart(c);
                ByteBuffer batch = ByteBuffer.allocate((int) (sums.chunkStart(c + n - 1) + sums.chunkLength(c + n - 1) - start));
                file.read(start, batch);
                streamed.addAndGet(n);
                sink.accept(c, batch.flip());
            }
        }

        @Override
        public long size() {
            return file.size();
        }

        @Override
        public dev.dcd.block.Capabilities capabilities() {
            return dev.dcd.block.Capabilities.READ_ONLY;
        }

        @Override
        public void read(long offset, ByteBuffer dst) throws IOException {
            file.read(offset, dst);
        }

        @Override
        public void close() throws IOException {
            file.close();
        }
    }

    @Test
    void aFillFromADeviceThatVerifiesAsItStreamsStoresEachChunkAsItComesAndGivesBackTheSlotsOfThoseThatNeverCame()
            throws IOException {
        SealedVdisk vdisk = gen.vdisks.get(0);
        var sums = vdisk.manifest().checksums();
        int n = sums.chunkCount();
        assertTrue(n >= 12, "the test vdisk has enough chunks");
        Path path = gen.vdiskFile(vdisk.id());
        // Two spare slots: had the failed fill kept its four unused slots, the second could not hold every chunk.
        try (BlockCache cache = BlockCache.open(cacheRoot.resolve("streamed"), (n + 2L) * BlockCache.CHUNK)) {
            StreamingDevice failing = new StreamingDevice(path, sums);
            failing.failAtChunk = 7;
            try (CachedVdisk v = CachedVdisk.open(cache, vdisk.id(), gen.labels.get(vdisk.id()), id -> failing)) {
                assertThrows(IOException.class, () -> v.fill(sums.chunkStart(0), sums.chunkStart(10) - sums.chunkStart(0), () -> { }));
            }
            // Chunks 0-5 came before the cut and stay; the slots taken for 6-9 are free again.
            assertEquals(6L * BlockCache.CHUNK, cache.stats().usedBytes());
            StreamingDevice device = new StreamingDevice(path, sums);
            try (CachedVdisk v = CachedVdisk.open(cache, vdisk.id(), gen.labels.get(vdisk.id()), id -> device)) {
                java.util.concurrent.atomic.AtomicInteger progress = new java.util.concurrent.atomic.AtomicInteger();
                v.fill(sums.chunkStart(0), sums.chunkStart(n - 1) + sums.chunkLength(n - 1) - sums.chunkStart(0),
                        progress::incrementAndGet);
                assertEquals((n - 6 + 2) / 3, progress.get(), "progress told after every batch stored");
                assertEquals(n - 6, device.streamed.get(), "only the missing chunks are fetched");
                assertEquals((long) n * BlockCache.CHUNK, cache.stats().usedBytes());
                ByteBuffer into = ByteBuffer.allocateDirect(BlockCache.CHUNK);
                for (int c = 0; c < n; c++) {
                    assertTrue(cache.get(vdisk.id(), c, sums, into), "chunk " + c + " cached and matching its CRC32C");
                    assertEquals(chunkBytes(vdisk, c), into, "chunk " + c);
                }
                ByteBuffer run = ByteBuffer.allocateDirect(4 * BlockCache.CHUNK);
                assertTrue(cache.getTrustedRun(vdisk.id(), sums, sums.chunkStart(6), run),
                        "a streamed run sits in consecutive slots, read back with one pread");
            }
        }
    }

    @Test
    void runsStoredByConcurrentFillsKeepConsecutiveSlotsAndReadBackWithOnePread() throws Exception {
        SealedVdisk vdisk = gen.vdisks.get(0);
        var sums = vdisk.manifest().checksums();
        int per = 4;
        assertTrue(sums.chunkCount() >= 2 * per + 1, "the test vdisk has enough chunks");
        ByteBuffer[] data = new ByteBuffer[2 * per];
        for (int c = 0; c < data.length; c++) {
            data[c] = chunkBytes(vdisk, c);
        }
        try (BlockCache cache = BlockCache.open(cacheRoot.resolve("runs"), 16L * BlockCache.CHUNK)) {
            var pool = java.util.concurrent.Executors.newFixedThreadPool(2);
            try {
                var a = pool.submit(() -> {
                    cache.putRun(vdisk.id(), 0, java.util.Arrays.copyOfRange(data, 0, per));
                    return null;
                });
                var b = pool.submit(() -> {
                    cache.putRun(vdisk.id(), per, java.util.Arrays.copyOfRange(data, per, 2 * per));
                    return null;
                });
                a.get();
                b.get();
            } finally {
                pool.shutdownNow();
            }
            ByteBuffer into = ByteBuffer.allocateDirect(BlockCache.CHUNK);
            for (int c = 0; c < data.length; c++) {
                assertTrue(cache.get(vdisk.id(), c, sums, into), "chunk " + c + " cached and verified");
            }
            for (int run = 0; run < 2; run++) {
                int first = run * per;
                ByteBuffer all = ByteBuffer.allocateDirect(per * BlockCache.CHUNK);
                assertTrue(cache.getTrustedRun(vdisk.id(), sums, sums.chunkStart(first), all),
                        "run " + run + " sits in consecutive slots");
                all.flip();
                for (int i = 0; i < per; i++) {
                    assertEquals(data[first + i], all.duplicate().position(i * BlockCache.CHUNK)
                            .limit((i + 1) * BlockCache.CHUNK), "chunk " + (first + i));
                }
            }
        }
    }

    @Test
    void concurrentHitsAndRecyclesOfATinyCacheServeOnlyTheChunksAskedFor() throws Exception {
        SealedVdisk vdisk = gen.vdisks.get(0);
        var sums = vdisk.manifest().checksums();
        int chunks = Math.min(8, sums.chunkCount() - 1);
        ByteBuffer[] data = new ByteBuffer[chunks];
        for (int c = 0; c < chunks; c++) {
            data[c] = chunkBytes(vdisk, c);
        }
        try (BlockCache cache = BlockCache.open(cacheRoot.resolve("tiny"), 3L * BlockCache.CHUNK)) {
            var pool = java.util.concurrent.Executors.newFixedThreadPool(4);
            try {
                var results = new java.util.ArrayList<java.util.concurrent.Future<Integer>>();
                for (int t = 0; t < 4; t++) {
                    long seed = t;
                    results.add(pool.submit(() -> {
                        java.util.Random random = new java.util.Random(seed);
                        ByteBuffer into = ByteBuffer.allocateDirect(BlockCache.CHUNK);
                        int served = 0;
                        for (int i = 0; i < 3000; i++) {
                            int c = random.nextInt(chunks);
                            if (cache.get(vdisk.id(), c, sums, into)) {
                                assertEquals(data[c], into, "chunk " + c);
                                served++;
                            } else {
                                cache.put(vdisk.id(), c, data[c].duplicate());
                            }
                        }
                        return served;
                    }));
                }
                int served = 0;
                for (var r : results) {
                    served += r.get();
                }
                assertTrue(served > 0 && cache.trustedHits.sum() > 0, "hits " + served + ", trusted "
                        + cache.trustedHits.sum());
                assertEquals(0, cache.stats().corrupt(), "races are not rot: " + cache.stats());
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Test
    void aChunkCorruptInTheCacheAndOnTheBackendIsAnErrorNamingAppAndBackend() throws IOException {
        Path dir = freshGeneration("rot2");
        Path cacheDir = cacheRoot.resolve("rot2-cache");
        try (BlockCache cache = BlockCache.open(cacheDir, 64L << 20); DynamicContentDisk disk = open(dir, cache)) {
            compareAll(disk);
        }
        CachedChunk c = firstCachedChunk(cacheDir);
        Path backup = cacheRoot.resolve("vdisk.backup");
        Files.copy(c.vdiskFile(), backup);
        flipByte(cacheDir.resolve(BlockCache.SLAB), 10);
        flipByte(c.vdiskFile(), c.vdiskOffset() + 10);
        try (BlockCache cache = BlockCache.open(cacheDir, 64L << 20); DynamicContentDisk disk = open(dir, cache)) {
            AppReadException e = assertThrows(AppReadException.class,
                    () -> disk.read(c.diskOffset(), ByteBuffer.allocate(c.length())));
            assertEquals(REMOTE, e.backend());
            assertEquals(gen.labels.get(c.id()).app(), e.app());
            assertTrue(e.getMessage().contains(gen.labels.get(c.id()).app()) && e.getMessage().contains(REMOTE),
                    e.getMessage());
            assertTrue(e.getMessage().contains("checksum"), e.getMessage());
            // Still never served on a second try, and the bad chunk was not cached.
            assertThrows(AppReadException.class, () -> disk.read(c.diskOffset(), ByteBuffer.allocate(c.length())));
        } finally {
            Files.copy(backup, c.vdiskFile(), StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** The backend devices of {@code gen}, recording the length of every read they serve. */
    private static dev.dcd.synth.VdiskResolver recording(java.util.List<Integer> reads) {
        return id -> {
            dev.dcd.block.BlockDevice d = gen.resolver().open(id);
            return new dev.dcd.block.BlockDevice() {
                public long size() { return d.size(); }
                public dev.dcd.block.Capabilities capabilities() { return d.capabilities(); }
                public void read(long offset, ByteBuffer dst) throws IOException {
                    synchronized (reads) {
                        reads.add(dst.remaining());
                    }
                    d.read(offset, dst);
                }
                public void write(long offset, ByteBuffer src) throws IOException { d.write(offset, src); }
                public void flush() throws IOException { d.flush(); }
                public void trim(long offset, long length) throws IOException { d.trim(offset, length); }
                public String describe() { return d.describe(); }
                public void close() throws IOException { d.close(); }
            };
        };
    }

    /** The first app data region of at least {@code bytes}. */
    private static RegionMap.Region bigRegion(long bytes) {
        return gen.map.regions().stream().filter(r -> r.kind() == RegionMap.Kind.APP_DATA && r.length() >= bytes)
                .findFirst().orElseThrow();
    }

    @Test
    void aLargeReadOfMissingChunksIsOneBackendReadAndEveryChunkIsVerifiedAndCached() throws IOException {
        RegionMap.Region region = bigRegion(2L << 20);
        java.util.List<Integer> reads = new java.util.ArrayList<>();
        try (BlockCache cache = BlockCache.open(cacheRoot.resolve("run"), 64L << 20);
             DynamicContentDisk disk = DynamicContentDisk.builder().generationDir(freshGeneration("run"))
                     .resolver(recording(reads)).labels(gen.labels).cache(cache, Set.of(REMOTE))
                     .readahead(ReadaheadConfig.DISABLED).build();
             FileChannel ref = FileChannel.open(materialized, StandardOpenOption.READ)) {
            ByteBuffer small = ByteBuffer.allocate(4096);
            disk.read(region.start(), small);
            synchronized (reads) {
                reads.clear();
            }
            long at = region.start() + 65536 + 4096;
            ByteBuffer got = ByteBuffer.allocate(1 << 20);
            disk.read(at, got);
            ByteBuffer want = ByteBuffer.allocate(1 << 20);
            dev.dcd.block.FileBlockDevice.readFully(ref, at, want, "ref");
            assertArrayEquals(want.array(), got.array());
            // Chunk 0 of the region came with the first read; the rest of the MiB is one read of its chunks.
            assertEquals(1, reads.size(), "backend reads: " + reads);
            assertTrue(reads.get(0) >= 1 << 20, "backend reads: " + reads);
            long misses = cache.stats().misses();
            disk.read(at, got.clear());
            assertArrayEquals(want.array(), got.array());
            assertEquals(misses, cache.stats().misses(), "all of it was cached");
            assertEquals(1, reads.size(), "the second read did not go to the backend: " + reads);
        }
    }

    @Test
    void aBadChunkInTheMiddleOfALargeMissFailsTheReadAfterCachingTheGoodChunksBeforeIt() throws IOException {
        RegionMap.Region region = bigRegion(2L << 20);
        ContentId id = gen.map.vdisks().get(region.vdisk());
        long badDiskOffset = region.start() + (1 << 20) / 2 + 100;
        Path vdisk = gen.vdiskFile(id);
        Path backup = cacheRoot.resolve("run-bad.backup");
        Files.copy(vdisk, backup);
        flipByte(vdisk, region.vdiskOffset() + (badDiskOffset - region.start()));
        try (BlockCache cache = BlockCache.open(cacheRoot.resolve("run-bad"), 64L << 20);
             DynamicContentDisk disk = open(freshGeneration("run-bad"), cache)) {
            AppReadException e = assertThrows(AppReadException.class,
                    () -> disk.read(region.start(), ByteBuffer.allocate(1 << 20)));
            assertEquals(REMOTE, e.backend());
            assertTrue(e.getMessage().contains("checksum") && e.getMessage().contains("not served"), e.getMessage());
            long used = cache.stats().usedBytes();
            assertTrue(used > 0 && used < 1 << 20, "good chunks before the bad one cached, the rest not: " + used);
            assertThrows(AppReadException.class, () -> disk.read(region.start(), ByteBuffer.allocate(1 << 20)));
            // Repaired in place (the open backend device keeps its file).
            flipByte(vdisk, region.vdiskOffset() + (badDiskOffset - region.start()));
            ByteBuffer got = ByteBuffer.allocate(1 << 20);
            disk.read(region.start(), got);
            try (FileChannel ref = FileChannel.open(materialized, StandardOpenOption.READ)) {
                ByteBuffer want = ByteBuffer.allocate(1 << 20);
                dev.dcd.block.FileBlockDevice.readFully(ref, region.start(), want, "ref");
                assertArrayEquals(want.array(), got.array());
            }
            assertEquals(0, cache.stats().corrupt(), "nothing bad was ever cached");
        } finally {
            Files.copy(backup, vdisk, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    @Test
    void vdisksOnBackendsNotConfiguredForCachingAreReadDirectly() throws IOException {
        try (BlockCache cache = BlockCache.open(cacheRoot.resolve("none"), 64L << 20);
             DynamicContentDisk disk = DynamicContentDisk.builder().generationDir(freshGeneration("direct"))
                     .resolver(gen.resolver()).labels(gen.labels).cache(cache, Set.of("some-other-backend")).build()) {
            compareAll(disk);
            assertEquals(0, cache.stats().hits() + cache.stats().misses());
        }
    }

    @Test
    void aCacheReopenedWithAnotherSizeStartsEmpty() throws IOException {
        Path cacheDir = cacheRoot.resolve("resize");
        try (BlockCache cache = BlockCache.open(cacheDir, 64L << 20); DynamicContentDisk disk = open(freshGeneration("rs"), cache)) {
            compareAll(disk);
            assertTrue(cache.stats().usedBytes() > 0);
        }
        try (BlockCache cache = BlockCache.open(cacheDir, 32L << 20)) {
            assertEquals(0, cache.stats().usedBytes());
        }
        assertThrows(IllegalArgumentException.class, () -> BlockCache.open(cacheDir, 1000));
    }
}
