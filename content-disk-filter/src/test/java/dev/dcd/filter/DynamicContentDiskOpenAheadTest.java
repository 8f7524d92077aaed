package dev.dcd.filter;

import dev.dcd.block.BlockDevice;
import dev.dcd.synth.VdiskResolver;
import dev.dcd.vdisk.ContentId;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A serving disk opens its remote apps' vdisks in the background ({@link DynamicContentDisk#openAhead}), so the
 * guest's first read of an app does not pay the round trips of opening it; local apps are left to their first read;
 * a backend that is down changes nothing for the disk, and closing it never waits for a stuck open.
 */
class DynamicContentDiskOpenAheadTest {
    @TempDir
    Path temp;

    /** Counts the devices opened through {@code inner}. */
    private static VdiskResolver counting(VdiskResolver inner, AtomicInteger opens) {
        return id -> {
            opens.incrementAndGet();
            return inner.open(id);
        };
    }

    @Test
    void remoteVdisksAreOpenedBeforeAnyReadAndTheFirstReadsDoNotOpenThemAgain() throws Exception {
        TestGeneration gen = TestGeneration.create(temp, "far", TestGeneration.Shape.SMALL, 11);
        AtomicInteger opens = new AtomicInteger();
        Path reference = gen.materialize(temp.resolve("reference.img"));
        try (BlockCache cache = BlockCache.open(temp.resolve("cache"), 64L << 20);
             DynamicContentDisk disk = gen.disk().resolver(counting(gen.resolver(), opens))
                     .cache(cache, Set.of("far")).readahead(ReadaheadConfig.DEFAULT, Set.of("far")).build()) {
            assertEquals(0, opens.get(), "building the disk opens no vdisk");
            disk.openAhead();
            assertTrue(disk.awaitOpenAhead(30_000));
            int vdisks = gen.map.vdisks().size();
            assertEquals(vdisks, opens.get(), "every remote vdisk opened ahead");
            assertArrayEquals(new long[] {vdisks, 0}, disk.openAheadCounters());
            assertEquals(0, disk.stats().backends().stream().mapToLong(StatsSnapshot.GroupStats::reads).sum(),
                    "no read was served for it");
            assertArrayEquals(Files.readAllBytes(reference), readAll(disk));
            assertEquals(vdisks, opens.get(), "the reads found every vdisk open");
        }
    }

    @Test
    void aManifestAlreadyInTheCacheStillConnectsTheBackendAhead() throws Exception {
        TestGeneration gen = TestGeneration.create(temp, "far", TestGeneration.Shape.SMALL, 12);
        try (BlockCache cache = BlockCache.open(temp.resolve("cache"), 64L << 20)) {
            try (DynamicContentDisk first = gen.disk().cache(cache, Set.of("far"))
                    .readahead(ReadaheadConfig.DEFAULT, Set.of("far")).build()) {
                first.openAhead();
                assertTrue(first.awaitOpenAhead(30_000));
            }
            AtomicInteger opens = new AtomicInteger();
            try (DynamicContentDisk second = gen.disk().resolver(counting(gen.resolver(), opens))
                    .cache(cache, Set.of("far")).readahead(ReadaheadConfig.DEFAULT, Set.of("far")).build()) {
                second.openAhead();
                assertTrue(second.awaitOpenAhead(30_000));
                assertEquals(gen.map.vdisks().size(), opens.get(), "each backend device opened, not only the cached manifest");
            }
        }
    }

    @Test
    void localVdisksAreLeftToTheirFirstRead() throws Exception {
        TestGeneration gen = TestGeneration.create(temp, "local", TestGeneration.Shape.SMALL, 13);
        AtomicInteger opens = new AtomicInteger();
        try (DynamicContentDisk disk = gen.disk().resolver(counting(gen.resolver(), opens))
                .readahead(ReadaheadConfig.DEFAULT, Set.of("s3")).build()) {
            disk.openAhead();
            assertTrue(disk.awaitOpenAhead(30_000));
            assertEquals(0, opens.get());
            assertArrayEquals(new long[] {0, 0}, disk.openAheadCounters());
        }
    }

    @Test
    void aBackendThatIsDownIsCountedAndTheFirstReadReportsItByName() throws Exception {
        TestGeneration gen = TestGeneration.create(temp, "far", TestGeneration.Shape.SMALL, 14);
        try (DynamicContentDisk disk = gen.disk().resolver(id -> {
            throw new IOException("connection refused");
        }).readahead(ReadaheadConfig.DEFAULT, Set.of("far")).build()) {
            disk.openAhead();
            assertTrue(disk.awaitOpenAhead(30_000));
            assertArrayEquals(new long[] {0, gen.map.vdisks().size()}, disk.openAheadCounters());
            long appData = gen.map.regions().stream().filter(r -> r.kind() == dev.dcd.synth.RegionMap.Kind.APP_DATA)
                    .findFirst().orElseThrow().start();
            AppReadException e = assertThrows(AppReadException.class,
                    () -> disk.read(appData, ByteBuffer.allocate(4096)));
            assertTrue(e.getMessage().contains("'far'") && e.getMessage().contains("connection refused"), e.getMessage());
        }
    }

    @Test
    void closingTheDiskDoesNotWaitForAnOpenStuckOnItsBackend() throws Exception {
        TestGeneration gen = TestGeneration.create(temp, "far", TestGeneration.Shape.SMALL, 15);
        CountDownLatch stuck = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        VdiskResolver inner = gen.resolver();
        DynamicContentDisk disk = gen.disk().resolver(id -> {
            stuck.countDown();
            try {
                release.await(60, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                // shutdownNow interrupts it; a backend call may not notice, so go on as one that answers late.
            }
            return inner.open(id);
        }).readahead(ReadaheadConfig.DEFAULT, Set.of("far")).build();
        try {
            disk.openAhead();
            assertTrue(stuck.await(30, TimeUnit.SECONDS));
            long start = System.nanoTime();
            disk.close();
            // Bounded, not hung: the stuck open would hold it for the release's 60 s.
            assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(20), "close waited for the open");
        } finally {
            release.countDown();
        }
    }

    private static byte[] readAll(BlockDevice disk) throws IOException {
        ByteBuffer all = ByteBuffer.allocate((int) disk.size());
        for (long at = 0; at < disk.size(); at += 1 << 20) {
            disk.read(at, all.slice((int) at, (int) Math.min(1 << 20, disk.size() - at)));
        }
        return all.array();
    }
}
