package dev.dcd.filter;

import dev.dcd.backend.Backend;
import dev.dcd.backend.Backends;
import dev.dcd.block.FileBlockDevice;
import dev.dcd.synth.RegionMap;
import dev.dcd.vdisk.ContentId;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

/** An app's vdisk moves to another backend under a running disk: reads go on, byte for byte, from the new one. */
class DynamicContentDiskSwitchTest {
    @TempDir
    Path temp;

    /** A second store holding copies of the generation's vdisks, as after a move's copy step. */
    private static Backend copyStore(TestGeneration gen, Path dir, String name) throws IOException {
        Files.createDirectories(dir);
        for (ContentId id : gen.map.vdisks()) {
            Files.copy(gen.vdiskFile(id), dir.resolve(id.hex() + ".vdisk"));
        }
        return Backends.open(name, URI.create("local://" + dir.toAbsolutePath()));
    }

    @Test
    void switchingUnderConcurrentReadersFailsNoReadAndServesIdenticalBytes() throws Exception {
        TestGeneration gen = TestGeneration.create(temp, "local", TestGeneration.Shape.SMALL, 5);
        Path reference = gen.materialize(temp.resolve("reference.img"));
        Backend other = copyStore(gen, temp.resolve("store-nas"), "nas");
        ContentId moving = gen.map.vdisks().get(1);
        String app = gen.labels.get(moving).app();
        try (DynamicContentDisk disk = gen.disk().readahead(ReadaheadConfig.DEFAULT, Set.of()).build();
             FileChannel ref = FileChannel.open(reference, StandardOpenOption.READ)) {
            assertEquals("local", disk.backendOf(moving));
            AtomicBoolean stop = new AtomicBoolean();
            AtomicInteger wrong = new AtomicInteger();
            List<String> failures = java.util.Collections.synchronizedList(new ArrayList<>());
            ExecutorService readers = Executors.newFixedThreadPool(3);
            List<Future<?>> running = new ArrayList<>();
            List<RegionMap.Region> appData = gen.map.regions().stream()
                    .filter(r -> r.kind() == RegionMap.Kind.APP_DATA && r.vdisk() == 1).toList();
            for (int t = 0; t < 3; t++) {
                running.add(readers.submit(() -> {
                    ThreadLocalRandom random = ThreadLocalRandom.current();
                    while (!stop.get()) {
                        RegionMap.Region r = appData.get(random.nextInt(appData.size()));
                        int n = (int) Math.min(r.length(), 1 + random.nextInt(64 << 10));
                        long offset = r.start() + random.nextLong(r.length() - n + 1);
                        ByteBuffer got = ByteBuffer.allocate(n);
                        ByteBuffer want = ByteBuffer.allocate(n);
                        try {
                            disk.read(offset, got);
                            FileBlockDevice.readFully(ref, offset, want, "reference");
                            if (!got.flip().equals(want.flip())) {
                                wrong.incrementAndGet();
                            }
                        } catch (IOException | RuntimeException e) {
                            failures.add(e.toString());
                        }
                    }
                    return null;
                }));
            }
            for (int hop = 0; hop < 40; hop++) {
                boolean toOther = hop % 2 == 0;
                Backend target = toOther ? other : gen.backend;
                assertTrue(disk.switchVdisk(moving, target.name(), target::open, toOther));
                assertEquals(target.name(), disk.backendOf(moving));
                Thread.sleep(5); // pacing only: the readers are checked for every read, whatever the timing
            }
            stop.set(true);
            for (Future<?> f : running) {
                f.get(60, TimeUnit.SECONDS);
            }
            readers.shutdown();
            assertEquals(List.of(), failures, "no read failed across 40 switches");
            assertEquals(0, wrong.get(), "no read returned a wrong byte");

            StatsSnapshot stats = disk.stats();
            assertEquals("local", stats.serving().get(app), "the last hop went back to local");
            assertTrue(stats.backends().stream().anyMatch(g -> g.name().equals("nas") && g.reads() > 0),
                    "reads were counted for the backend the app visited: " + stats.backends());
        }
    }

    @Test
    void afterASwitchTheOldBackendsCountersStopAndStatsNameTheNewBackend() throws Exception {
        TestGeneration gen = TestGeneration.create(temp, "local", TestGeneration.Shape.SMALL, 6);
        Backend other = copyStore(gen, temp.resolve("store-s3"), "s3");
        ContentId moving = gen.map.vdisks().get(0);
        String app = gen.labels.get(moving).app();
        RegionMap.Region region = gen.map.regions().stream()
                .filter(r -> r.kind() == RegionMap.Kind.APP_DATA && r.vdisk() == 0).findFirst().orElseThrow();
        try (DynamicContentDisk disk = gen.disk().build()) {
            disk.read(region.start(), ByteBuffer.allocate(4096));
            long localBefore = reads(disk.stats(), "local");
            assertTrue(disk.switchVdisk(moving, "s3", other::open, true));
            // Deleting the old copy proves the reads really go to the new store.
            for (ContentId id : gen.map.vdisks()) {
                if (id.equals(moving)) {
                    Files.delete(gen.vdiskFile(id));
                }
            }
            for (int i = 0; i < 10; i++) {
                disk.read(region.start(), ByteBuffer.allocate(4096));
            }
            StatsSnapshot stats = disk.stats();
            assertEquals("s3", stats.serving().get(app));
            assertEquals(localBefore, reads(stats, "local"), "the old backend's counter stopped growing");
            assertEquals(10, reads(stats, "s3"));
            assertTrue(stats.formatTable().contains("served by"), stats.formatTable());
            assertTrue(stats.toJson().contains("\"serving\""), stats.toJson());
            assertEquals(stats.serving(), StatsSnapshot.fromJson(stats.toJson()).serving());
        }
    }

    @Test
    void aBackendThatLacksTheVdiskOrHoldsAnotherOneIsRefusedAndTheOldDeviceKeepsServing() throws Exception {
        TestGeneration gen = TestGeneration.create(temp, "local", TestGeneration.Shape.SMALL, 7);
        ContentId moving = gen.map.vdisks().get(0);
        ContentId impostor = gen.map.vdisks().get(1);
        Path empty = Files.createDirectories(temp.resolve("store-empty"));
        Backend missing = Backends.open("empty", URI.create("local://" + empty.toAbsolutePath()));
        Path reference = gen.materialize(temp.resolve("reference.img"));
        try (DynamicContentDisk disk = gen.disk().build()) {
            assertThrows(IOException.class, () -> disk.switchVdisk(moving, "empty", missing::open, false));
            IOException wrongContent = assertThrows(IOException.class,
                    () -> disk.switchVdisk(moving, "liar", id -> gen.backend.open(impostor), false));
            assertTrue(wrongContent.getMessage().contains("liar"), wrongContent.getMessage());
            assertEquals("local", disk.backendOf(moving));
            assertFalse(disk.switchVdisk(new ContentId("cd".repeat(32)), "empty", missing::open, false),
                    "a disk that does not read the vdisk has nothing to switch");
            byte[] all = new byte[(int) Math.min(disk.size(), 8 << 20)];
            disk.read(0, ByteBuffer.wrap(all));
            assertArrayEquals(java.util.Arrays.copyOf(Files.readAllBytes(reference), all.length), all);
        }
    }

    @Test
    void readaheadIsInTheChainEvenWhenEveryAppStartsLocal() throws IOException {
        TestGeneration gen = TestGeneration.create(temp, "local", TestGeneration.Shape.SMALL, 8);
        try (DynamicContentDisk disk = gen.disk().readahead(ReadaheadConfig.DEFAULT, Set.of("s3")).build()) {
            assertTrue(disk.describe().startsWith("stats > cow > readahead > redirect("), disk.describe());
        }
    }

    private static long reads(StatsSnapshot stats, String backend) {
        return stats.backends().stream().filter(g -> g.name().equals(backend)).mapToLong(StatsSnapshot.GroupStats::reads)
                .sum();
    }
}
