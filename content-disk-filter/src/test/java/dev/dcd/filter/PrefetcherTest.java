package dev.dcd.filter;

import dev.dcd.block.ForwardingBlockDevice;
import dev.dcd.block.BlockDevice;
import dev.dcd.block.Capabilities;
import dev.dcd.synth.RegionMap;
import dev.dcd.synth.VdiskResolver;
import dev.dcd.vdisk.ChunkChecksums;
import dev.dcd.vdisk.ContentId;
import dev.dcd.vdisk.PrefetchList;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Start-up traces (docs/prefetch.md): a first mount records the chunks each remote app reads in its first seconds,
 * in first-read order, and stores them once; a later mount replays them into the shared cache in that order, ahead
 * of the guest, and the guest's own reads never wait for the replay.
 */
class PrefetcherTest {
    private static final String REMOTE = "s3-test";
    private static final Duration NOT_HUNG = Duration.ofSeconds(60);

    @TempDir
    static Path temp;
    static TestGeneration gen;

    @TempDir
    Path work;

    @BeforeAll
    static void createGeneration() throws IOException {
        gen = TestGeneration.create(temp, REMOTE, TestGeneration.Shape.SMALL, 31);
    }

    /** A store in memory, as the catalog's prefetch/ keys are on disk. */
    private static final class MapStore implements PrefetchStore {
        final Map<ContentId, PrefetchList> lists = new ConcurrentHashMap<>();

        @Override
        public PrefetchList load(ContentId id) {
            return lists.get(id);
        }

        @Override
        public synchronized boolean saveIfAbsent(PrefetchList list) {
            boolean absent = !lists.containsKey(list.contentId());
            if (absent) {
                lists.put(list.contentId(), list);
                notifyAll();
            }
            return absent;
        }

        @Override
        public synchronized void replace(PrefetchList list) {
            lists.put(list.contentId(), list);
            notifyAll();
        }

        synchronized PrefetchList await(ContentId id) throws InterruptedException {
            long deadline = System.nanoTime() + NOT_HUNG.toNanos();
            while (!lists.containsKey(id) && System.nanoTime() < deadline) {
                wait(100);
            }
            return lists.get(id);
        }
    }

    /**
     * The backend's device, recording the data chunks each read asks for in order; reads that touch a chunk of
     * {@code stall} for the first time hang until {@code release} opens, as a slow request would.
     */
    private static final class WatchedDevice extends ForwardingBlockDevice<BlockDevice> {
        final ChunkChecksums sums;
        final List<Integer> firstChunks;
        final Set<Integer> stall;
        final Set<Integer> touched;
        final CountDownLatch release;
        final CountDownLatch stalled;

        WatchedDevice(BlockDevice inner, ChunkChecksums sums, List<Integer> firstChunks, Set<Integer> stall,
                      Set<Integer> touched, CountDownLatch release, CountDownLatch stalled) {
            super(inner);
            this.sums = sums;
            this.firstChunks = firstChunks;
            this.stall = stall;
            this.touched = touched;
            this.release = release;
            this.stalled = stalled;
        }

        @Override
        public void read(long offset, ByteBuffer dst) throws IOException {
            int first = sums.chunkOf(offset);
            if (first >= 0) {
                firstChunks.add(first);
                boolean hang = false;
                for (int c = first; c <= sums.chunkOf(offset + dst.remaining() - 1); c++) {
                    hang |= stall.contains(c) && touched.add(c);
                }
                if (hang) {
                    stalled.countDown();
                    try {
                        release.await();
                    } catch (InterruptedException e) {
                        throw new java.io.InterruptedIOException("released by close");
                    }
                }
            }
            next.read(offset, dst);
        }
    }

    private final List<Integer> backendReads = Collections.synchronizedList(new ArrayList<>());
    private final Set<Integer> stall = ConcurrentHashMap.newKeySet();
    private final Set<Integer> touched = ConcurrentHashMap.newKeySet();
    private final CountDownLatch release = new CountDownLatch(1);
    private final CountDownLatch stalled = new CountDownLatch(1);

    /** Watches vdisk 0 only; the others are read as they are. */
    private VdiskResolver resolver() {
        ContentId watched = vdisk(0);
        ChunkChecksums sums = gen.vdisks.get(0).manifest().checksums();
        return id -> {
            BlockDevice d = gen.backend.open(id);
            return id.equals(watched) ? new WatchedDevice(d, sums, backendReads, stall, touched, release, stalled) : d;
        };
    }

    private static ContentId vdisk(int index) {
        return gen.map.vdisks().get(index);
    }

    private Path copyGeneration() throws IOException {
        Path dir = work.resolve("gen-" + System.nanoTime());
        Files.createDirectories(dir);
        Files.copy(gen.dir.resolve(DynamicContentDisk.META_IMAGE), dir.resolve(DynamicContentDisk.META_IMAGE));
        Files.copy(gen.dir.resolve(DynamicContentDisk.REGION_MAP), dir.resolve(DynamicContentDisk.REGION_MAP));
        return dir;
    }

    private DynamicContentDisk open(BlockCache cache, PrefetchStore store, PrefetchConfig config) throws IOException {
        Path dir = copyGeneration();
        DynamicContentDisk disk = DynamicContentDisk.builder().generationDir(dir).resolver(resolver()).labels(gen.labels).vmId("vm1")
                .cache(cache, Set.of(REMOTE)).readahead(ReadaheadConfig.DISABLED).prefetch(store, config).build();
        disk.startPrefetch();
        return disk;
    }

    /** The app-data regions of vdisk {@code v}, in disk order (one per file). */
    private static List<RegionMap.Region> filesOf(int v) {
        return gen.map.regions().stream().filter(r -> r.kind() == RegionMap.Kind.APP_DATA && r.vdisk() == v).toList();
    }

    /** Chunks of vdisk 0 a whole-region read touches, in order. */
    private static List<Integer> chunksOf(RegionMap.Region r) {
        ChunkChecksums sums = gen.vdisks.get(0).manifest().checksums();
        List<Integer> chunks = new ArrayList<>();
        for (int c = sums.chunkOf(r.vdiskOffset()); c <= sums.chunkOf(r.vdiskOffset() + r.length() - 1); c++) {
            chunks.add(c);
        }
        return chunks;
    }

    private static void readRegion(DynamicContentDisk disk, RegionMap.Region r) throws IOException {
        ByteBuffer b = ByteBuffer.allocate((int) r.length());
        disk.read(r.start(), b);
        assertFalse(b.hasRemaining());
    }

    private static void assertSameBytesAsBackend(DynamicContentDisk disk, RegionMap.Region r) throws IOException {
        ByteBuffer expected = ByteBuffer.allocate((int) r.length());
        try (BlockDevice d = gen.backend.open(vdisk(r.vdisk()))) {
            d.read(r.vdiskOffset(), expected);
        }
        ByteBuffer actual = ByteBuffer.allocate((int) r.length());
        disk.read(r.start(), actual);
        assertArrayEquals(expected.array(), actual.array(), "bytes of the region at " + r.start());
    }

    private static int[] ints(List<Integer> list) {
        return list.stream().mapToInt(Integer::intValue).toArray();
    }

    @Test
    void aFirstMountRecordsEachRemoteAppsChunksInFirstReadOrderAndStoresThemAtUnmount() throws Exception {
        MapStore store = new MapStore();
        List<RegionMap.Region> files = filesOf(0);
        RegionMap.Region late = files.get(5);
        RegionMap.Region early = files.get(1);
        try (BlockCache cache = BlockCache.open(work.resolve("cache"), 256L << 20);
             DynamicContentDisk disk = open(cache, store, PrefetchConfig.DEFAULT)) {
            readRegion(disk, late);
            readRegion(disk, early);
            readRegion(disk, late); // read again: no new entries
            readRegion(disk, filesOf(1).get(0));
            PrefetchStats stats = disk.prefetchStats();
            assertEquals(3, stats.recording(), "every remote app without a list is being recorded");
            assertTrue(store.lists.isEmpty(), "nothing stored before the window ends or the disk closes");
            assertEquals("stats > cow > prefetch > redirect(" + disk.generationDir().getFileName() + ")", disk.describe());
        }
        List<Integer> expected = new ArrayList<>(chunksOf(late));
        for (int c : chunksOf(early)) {
            if (!expected.contains(c)) {
                expected.add(c);
            }
        }
        PrefetchList list = store.lists.get(vdisk(0));
        assertNotNull(list, "the trace of app0 was stored at unmount");
        assertArrayEquals(ints(expected), list.chunks());
        assertEquals(30, list.windowSeconds());
        assertNotNull(store.lists.get(vdisk(1)));
        assertNull(store.lists.get(vdisk(2)), "an app never read gets no list");
    }

    @Test
    void readsAfterTheWindowAreNotRecordedAndTheListIsStoredWhenItEnds() throws Exception {
        MapStore store = new MapStore();
        AtomicLong now = new AtomicLong();
        PrefetchConfig config = PrefetchConfig.DEFAULT.withWindow(Duration.ofSeconds(30)).withNanoTime(now::get);
        List<RegionMap.Region> files = filesOf(0);
        try (BlockCache cache = BlockCache.open(work.resolve("cache"), 256L << 20);
             DynamicContentDisk disk = open(cache, store, config)) {
            readRegion(disk, files.get(2));
            now.addAndGet(Duration.ofSeconds(29).toNanos());
            readRegion(disk, files.get(3));
            now.addAndGet(Duration.ofSeconds(2).toNanos()); // 31 s after the first read
            readRegion(disk, files.get(4));
            PrefetchList list = store.await(vdisk(0));
            assertNotNull(list, "stored once the window ended, without waiting for the unmount");
            List<Integer> expected = new ArrayList<>(chunksOf(files.get(2)));
            for (int c : chunksOf(files.get(3))) {
                if (!expected.contains(c)) {
                    expected.add(c);
                }
            }
            assertArrayEquals(ints(expected), list.chunks());
        }
    }

    @Test
    void scatteredChunksOfOneBlockAreFetchedInOneRequestGapsIncluded() throws Exception {
        MapStore store = new MapStore();
        // A start-up reads small files all over the app, in an order of its own: four chunks of one 1 MiB block.
        PrefetchList list = new PrefetchList(vdisk(0), 30, new int[] {5, 1, 9, 3});
        store.lists.put(vdisk(0), list);
        try (BlockCache cache = BlockCache.open(work.resolve("cache"), 256L << 20);
             DynamicContentDisk disk = open(cache, store, PrefetchConfig.DEFAULT)) {
            assertTrue(disk.awaitPrefetch(NOT_HUNG.toMillis()), "the replay ended");
            assertEquals(List.of(1), backendReads, "one request, from the block's first listed chunk");
            for (int c : list.chunks()) {
                assertTrue(cache.contains(vdisk(0), c), "listed chunk " + c + " is cached");
            }
            assertEquals(4, disk.prefetchStats().done(), "the listed chunks");
            assertEquals(9, disk.prefetchStats().fetched(), "chunks 1 to 9, the gaps between listed ones included");
        }
    }

    @Test
    void aStoredListIsReplayedIntoTheCacheInTraceOrderAndNotRecordedAgain() throws Exception {
        MapStore store = new MapStore();
        List<RegionMap.Region> files = filesOf(0);
        List<Integer> order = new ArrayList<>(chunksOf(files.get(6)));
        for (int c : chunksOf(files.get(2))) {
            if (!order.contains(c)) {
                order.add(c);
            }
        }
        PrefetchList list = new PrefetchList(vdisk(0), 30, ints(order));
        store.lists.put(vdisk(0), list);
        try (BlockCache cache = BlockCache.open(work.resolve("cache"), 256L << 20);
             DynamicContentDisk disk = open(cache, store, PrefetchConfig.DEFAULT.withThreads(1))) {
            assertTrue(disk.awaitPrefetch(NOT_HUNG.toMillis()), "the replay ended");
            for (int c : order) {
                assertTrue(cache.contains(vdisk(0), c), "listed chunk " + c + " is in the cache before any guest read");
            }
            int block = PrefetchConfig.DEFAULT.runChunks();
            assertEquals(order.get(0) / block, backendReads.get(0) / block,
                    "the replay starts with the 1 MiB block of the list's first chunk");
            assertEquals(order.stream().map(c -> c / block).distinct().count(), backendReads.size(),
                    "one request per 1 MiB block the list touches: " + backendReads);
            assertTrue(disk.prefetchStats().fetched() >= order.size(), "every listed chunk fetched (and the gaps"
                    + " between them inside a block)");
            assertEquals(order.size(), disk.prefetchStats().done());
            long missesBefore = cache.stats().misses();
            assertSameBytesAsBackend(disk, files.get(6));
            assertSameBytesAsBackend(disk, files.get(2));
            assertEquals(missesBefore, cache.stats().misses(), "the guest's reads of listed files all hit");
            PrefetchStats stats = disk.prefetchStats();
            assertEquals(order.size(), stats.hits(), "each listed chunk counts one hit");
            assertEquals(1, stats.replaying());
        }
        assertEquals(list, store.lists.get(vdisk(0)), "an existing list is kept, not recorded over");
    }

    @Test
    void nothingIsReplayedUntilTheDiskIsStarted() throws Exception {
        MapStore store = new MapStore();
        store.lists.put(vdisk(0), new PrefetchList(vdisk(0), 30, ints(chunksOf(filesOf(0).get(1)))));
        Path dir = copyGeneration();
        try (BlockCache cache = BlockCache.open(work.resolve("cache"), 256L << 20);
             DynamicContentDisk disk = DynamicContentDisk.builder().generationDir(dir).resolver(resolver())
                     .labels(gen.labels).cache(cache, Set.of(REMOTE)).readahead(ReadaheadConfig.DISABLED)
                     .prefetch(store, PrefetchConfig.DEFAULT).build()) {
            assertTrue(disk.awaitPrefetch(1));
            assertEquals(0, disk.prefetchStats().done());
            assertTrue(backendReads.isEmpty(), "opened only to be checked: nothing fetched");
        }
        assertTrue(backendReads.isEmpty());
    }

    @Test
    void aDemandReadNeverWaitsBehindThePrefetch() throws Exception {
        MapStore store = new MapStore();
        List<RegionMap.Region> files = filesOf(0);
        RegionMap.Region stuck = files.get(3);
        RegionMap.Region queued = files.get(7);
        List<Integer> order = new ArrayList<>(chunksOf(stuck));
        for (int c : chunksOf(queued)) {
            if (!order.contains(c)) {
                order.add(c);
            }
        }
        store.lists.put(vdisk(0), new PrefetchList(vdisk(0), 30, ints(order)));
        stall.addAll(chunksOf(stuck)); // the replay's first request hangs
        try (BlockCache cache = BlockCache.open(work.resolve("cache"), 256L << 20);
             DynamicContentDisk disk = open(cache, store, PrefetchConfig.DEFAULT.withThreads(1))) {
            assertTrue(stalled.await(NOT_HUNG.toSeconds(), TimeUnit.SECONDS), "the replay's request is in flight");
            assertTimeoutPreemptively(NOT_HUNG, () -> {
                // The chunk the replay is stuck on, and one queued behind it: the guest gets both now.
                assertSameBytesAsBackend(disk, stuck);
                assertSameBytesAsBackend(disk, queued);
            });
            assertEquals(1, release.getCount(), "the replay was still stuck while the guest read");
            assertEquals(0, disk.prefetchStats().done());
            release.countDown();
            assertTrue(disk.awaitPrefetch(NOT_HUNG.toMillis()));
            assertEquals(0, disk.prefetchStats().hits(), "the guest read them before the replay stored them");
        }
    }

    @Test
    void aListNamingAnotherVdiskOrChunksItLacksIsNeverReplayed() throws Exception {
        MapStore store = new MapStore();
        // app1's list handed out for app0 (a store mix-up): refused, and app0 is recorded instead.
        store.lists.put(vdisk(0), new PrefetchList(vdisk(1), 30, new int[] {0, 1, 2}));
        int chunks = gen.vdisks.get(2).manifest().checksums().chunkCount();
        store.lists.put(vdisk(2), new PrefetchList(vdisk(2), 30, new int[] {0, chunks + 5}));
        List<String> notices = Collections.synchronizedList(new ArrayList<>());
        Path dir = copyGeneration();
        try (BlockCache cache = BlockCache.open(work.resolve("cache"), 256L << 20);
             DynamicContentDisk disk = DynamicContentDisk.builder().generationDir(dir).resolver(resolver())
                     .labels(gen.labels).cache(cache, Set.of(REMOTE)).readahead(ReadaheadConfig.DISABLED)
                     .prefetch(store, PrefetchConfig.DEFAULT).notices(notices::add).build()) {
            disk.startPrefetch();
            assertTrue(disk.awaitPrefetch(NOT_HUNG.toMillis()));
            assertTrue(backendReads.isEmpty(), "nothing of app0 was fetched: " + backendReads);
            assertFalse(cache.contains(vdisk(2), 0), "a list with a chunk the vdisk lacks is not replayed at all");
            assertEquals(0, disk.prefetchStats().done());
            assertTrue(notices.stream().anyMatch(n -> n.contains("app2@1.2") && n.contains("not replayed")), notices.toString());
        }
    }

    @Test
    void aRecordingByCommandStoresTheReadsOfItsWindowInPlaceOfTheListAndAnswersWhenStored() throws Exception {
        MapStore store = new MapStore();
        AtomicLong now = new AtomicLong();
        PrefetchConfig config = PrefetchConfig.DEFAULT.withThreads(1).withNanoTime(now::get);
        List<RegionMap.Region> files = filesOf(0);
        PrefetchList old = new PrefetchList(vdisk(0), 30, ints(chunksOf(files.get(6))));
        store.lists.put(vdisk(0), old);
        try (BlockCache cache = BlockCache.open(work.resolve("cache"), 256L << 20);
             DynamicContentDisk disk = open(cache, store, config)) {
            assertTrue(disk.awaitPrefetch(NOT_HUNG.toMillis()), "the old list was replayed");
            readRegion(disk, files.get(1)); // before the recording: not in it
            assertEquals(2, disk.prefetchStats().recording(), "apps 1 and 2 (no list) record automatically");
            java.util.concurrent.CompletableFuture<PrefetchList> recording =
                    disk.recordPrefetch(vdisk(0), Duration.ofSeconds(20));
            assertNotNull(recording);
            assertEquals(3, disk.prefetchStats().recording(), "and now app0, which has a list, by command");
            IOException twice = org.junit.jupiter.api.Assertions.assertThrows(IOException.class,
                    () -> disk.recordPrefetch(vdisk(0), Duration.ofSeconds(20)));
            assertEquals("app0@1.0 is being recorded by command already on this VM", twice.getMessage());
            readRegion(disk, files.get(3));
            readRegion(disk, files.get(6)); // listed and replayed: still recorded, it is a guest read
            readRegion(disk, files.get(3));
            now.addAndGet(Duration.ofSeconds(21).toNanos());
            readRegion(disk, files.get(4)); // after the window: ends it, not in it
            PrefetchList stored = recording.get(NOT_HUNG.toSeconds(), TimeUnit.SECONDS);
            List<Integer> expected = new ArrayList<>(chunksOf(files.get(3)));
            for (int c : chunksOf(files.get(6))) {
                if (!expected.contains(c)) {
                    expected.add(c);
                }
            }
            assertArrayEquals(ints(expected), stored.chunks());
            assertEquals(20, stored.windowSeconds());
            assertEquals(stored, store.lists.get(vdisk(0)), "stored in place of the old list");
            assertNull(disk.recordPrefetch(ContentId.of(new byte[32]), Duration.ofSeconds(1)),
                    "a vdisk the disk does not read: nothing to record");
        }
    }

    @Test
    void aRecordingByCommandInWhichNothingWasReadLeavesTheListAlone() throws Exception {
        MapStore store = new MapStore();
        PrefetchList old = new PrefetchList(vdisk(1), 30, ints(List.of(0)));
        store.lists.put(vdisk(1), old);
        try (BlockCache cache = BlockCache.open(work.resolve("cache"), 256L << 20);
             DynamicContentDisk disk = open(cache, store, PrefetchConfig.DEFAULT)) {
            readRegion(disk, filesOf(0).get(0)); // another app's read
            // A real (short) window: the recording ends on its timer, with nothing of app1 read.
            assertNull(disk.recordPrefetch(vdisk(1), Duration.ofMillis(50)).get(NOT_HUNG.toSeconds(), TimeUnit.SECONDS));
        }
        assertEquals(old, store.lists.get(vdisk(1)));
    }

    @Test
    void localAppsAreNeitherRecordedNorReplayed() throws Exception {
        MapStore store = new MapStore();
        try (DynamicContentDisk disk = DynamicContentDisk.builder().generationDir(copyGeneration()).resolver(gen.resolver())
                .labels(gen.labels).readahead(ReadaheadConfig.DISABLED).prefetch(store, PrefetchConfig.DEFAULT).build()) {
            readRegion(disk, filesOf(0).get(0));
            assertEquals(PrefetchStats.NONE, disk.prefetchStats());
        }
        assertTrue(store.lists.isEmpty());
    }
}
