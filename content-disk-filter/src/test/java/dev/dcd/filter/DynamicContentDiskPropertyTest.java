package dev.dcd.filter;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Random reads, writes, flushes and trims against a dynamic content disk and, side by side, against a fully
 * materialized reference image with the same operations applied: the bytes must be identical after every
 * step, across reopen, and under concurrency.
 */
class DynamicContentDiskPropertyTest {
    @TempDir
    static Path temp;
    static TestGeneration gen;
    static Path materialized;

    @BeforeAll
    static void createGeneration() throws IOException {
        gen = TestGeneration.create(temp, "local", TestGeneration.Shape.SMALL, 42);
        materialized = gen.materialize(temp.resolve("reference.raw"));
    }

    private static Path freshGeneration(String name) throws IOException {
        Path copy = temp.resolve(name);
        Files.createDirectories(copy);
        Files.copy(gen.dir.resolve(DynamicContentDisk.META_IMAGE), copy.resolve(DynamicContentDisk.META_IMAGE));
        Files.copy(gen.dir.resolve(DynamicContentDisk.REGION_MAP), copy.resolve(DynamicContentDisk.REGION_MAP));
        return copy;
    }

    private static DynamicContentDisk open(Path dir, ReadaheadConfig readahead) throws IOException {
        return DynamicContentDisk.builder().generationDir(dir).resolver(gen.resolver()).labels(gen.labels)
                .readahead(readahead).build();
    }

    private static byte[] read(DynamicContentDisk disk, long offset, int length) throws IOException {
        ByteBuffer b = length % 3 == 0 ? ByteBuffer.allocateDirect(length) : ByteBuffer.allocate(length);
        disk.read(offset, b);
        assertEquals(length, b.position());
        b.flip();
        byte[] out = new byte[length];
        b.get(out);
        return out;
    }

    private static void compareAll(DynamicContentDisk disk, ReferenceImage ref) throws IOException {
        int chunk = 1 << 20;
        for (long pos = 0; pos < ref.size(); pos += chunk) {
            int n = (int) Math.min(chunk, ref.size() - pos);
            assertArrayEquals(ref.read(pos, n), read(disk, pos, n), "bytes at " + pos);
        }
    }

    /** A random offset biased towards region boundaries, where splitting goes wrong. */
    private static long offset(Random random, long lo, long hi) {
        if (random.nextInt(4) == 0) {
            int i = random.nextInt(gen.map.regionCount());
            long start = gen.map.region(i).start() + random.nextInt(9000) - 4500;
            if (start >= lo && start < hi) {
                return start;
            }
        }
        return lo + (long) (random.nextDouble() * (hi - lo));
    }

    private static int length(Random random, long offset, long hi) {
        int max = switch (random.nextInt(5)) {
            case 0 -> 64;
            case 1 -> 4096;
            case 2 -> 3 * 4096 + 17;
            case 3 -> 256 * 1024;
            default -> 1 << 20;
        };
        return (int) Math.max(1, Math.min(hi - offset, 1 + random.nextInt(max)));
    }

    /** One random operation on both; returns the disk to use next (it may have been reopened). */
    private static void step(Random random, DynamicContentDisk disk, ReferenceImage ref, long lo, long hi)
            throws IOException {
        long offset = offset(random, lo, hi);
        int length = length(random, offset, hi);
        int op = random.nextInt(100);
        if (op < 45) {
            assertArrayEquals(ref.read(offset, length), read(disk, offset, length), "read at " + offset + "+" + length);
        } else if (op < 85) {
            byte[] data = TestGeneration.bytes(random, length);
            ByteBuffer src = random.nextBoolean() ? ByteBuffer.wrap(data) : ByteBuffer.allocateDirect(length).put(data).flip();
            disk.write(offset, src);
            assertEquals(0, src.remaining());
            ref.write(offset, data);
            assertArrayEquals(ref.read(offset, length), read(disk, offset, length), "after write at " + offset);
        } else if (op < 92) {
            disk.trim(offset, length);
            ref.trim(offset, length);
            long from = Math.max(lo, offset - 4096);
            int n = (int) Math.min(hi - from, length + 8192L);
            assertArrayEquals(ref.read(from, n), read(disk, from, n), "after trim at " + offset + "+" + length);
        } else if (op < 96) {
            disk.flush();
        } else {
            long z = offset;
            disk.zero(z, length);
            ref.write(z, new byte[length]);
            assertArrayEquals(ref.read(z, length), read(disk, z, length), "after zero at " + z);
        }
    }

    @Test
    void unmodifiedDiskReadsExactlyAsTheMaterializedImage() throws IOException {
        try (DynamicContentDisk disk = open(freshGeneration("pristine"), ReadaheadConfig.DEFAULT);
             ReferenceImage ref = new ReferenceImage(materialized, temp.resolve("pristine.ref"))) {
            compareAll(disk, ref);
            Random random = new Random(7);
            for (int i = 0; i < 2000; i++) {
                long offset = offset(random, 0, ref.size());
                int length = length(random, offset, ref.size());
                assertArrayEquals(ref.read(offset, length), read(disk, offset, length), "read at " + offset);
            }
        }
    }

    @Test
    void randomOperationsMatchTheReferenceAcrossFlushesAndReopens() throws IOException {
        Path dir = freshGeneration("single");
        Random random = new Random(1234);
        try (ReferenceImage ref = new ReferenceImage(materialized, temp.resolve("single.ref"))) {
            for (int round = 0; round < 3; round++) {
                ReadaheadConfig ra = round == 1 ? ReadaheadConfig.DISABLED : ReadaheadConfig.DEFAULT;
                try (DynamicContentDisk disk = open(dir, ra)) {
                    for (int i = 0; i < 1500; i++) {
                        step(random, disk, ref, 0, ref.size());
                    }
                    compareAll(disk, ref);
                }
            }
            try (DynamicContentDisk disk = open(dir, ReadaheadConfig.DEFAULT)) {
                compareAll(disk, ref);
            }
        }
    }

    @Test
    void randomOperationsMatchTheReferenceWhenAppDataComesThroughTheSharedCache() throws IOException {
        Path dir = freshGeneration("cached");
        Random random = new Random(99);
        try (ReferenceImage ref = new ReferenceImage(materialized, temp.resolve("cached.ref"));
             BlockCache cache = BlockCache.open(temp.resolve("cache"), 8L << 20)) {
            for (int round = 0; round < 2; round++) {
                try (DynamicContentDisk disk = DynamicContentDisk.builder().generationDir(dir).resolver(gen.resolver())
                        .labels(gen.labels).cache(cache, java.util.Set.of("local")).build()) {
                    for (int i = 0; i < 1500; i++) {
                        step(random, disk, ref, 0, ref.size());
                    }
                    compareAll(disk, ref);
                }
            }
            org.junit.jupiter.api.Assertions.assertTrue(cache.stats().hits() > 0 && cache.stats().evictions() > 0,
                    cache.stats().toString());
        }
    }

    @Test
    void concurrentWritersOnDisjointRangesMatchTheReference() throws Exception {
        Path dir = freshGeneration("threads");
        int threads = 4;
        try (ReferenceImage ref = new ReferenceImage(materialized, temp.resolve("threads.ref"));
             DynamicContentDisk disk = open(dir, ReadaheadConfig.DEFAULT)) {
            long part = ref.size() / threads / 4096 * 4096;
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            try {
                List<Future<?>> futures = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    long lo = t * part;
                    long hi = t == threads - 1 ? ref.size() : lo + part;
                    Random random = new Random(100 + t);
                    futures.add(pool.submit(() -> {
                        for (int i = 0; i < 1000; i++) {
                            step(random, disk, ref, lo, hi);
                        }
                        return null;
                    }));
                }
                for (Future<?> f : futures) {
                    f.get();
                }
            } finally {
                pool.shutdown();
            }
            compareAll(disk, ref);
        }
        try (ReferenceImage ref = new ReferenceImage(temp.resolve("threads.ref"), temp.resolve("threads2.ref"));
             DynamicContentDisk disk = open(dir, ReadaheadConfig.DISABLED)) {
            compareAll(disk, ref);
        }
    }

    @Test
    void concurrentSequentialAndRandomReadersAllSeeTheReference() throws Exception {
        try (DynamicContentDisk disk = open(freshGeneration("readers"), ReadaheadConfig.DEFAULT);
             ReferenceImage ref = new ReferenceImage(materialized, temp.resolve("readers.ref"))) {
            ExecutorService pool = Executors.newFixedThreadPool(6);
            try {
                List<Future<?>> futures = new ArrayList<>();
                for (int t = 0; t < 6; t++) {
                    int id = t;
                    futures.add(pool.submit(() -> {
                        Random random = new Random(id);
                        if (id % 2 == 0) {
                            int chunk = 4096 << id;
                            for (long pos = id * 4096L; pos + chunk <= ref.size(); pos += chunk) {
                                assertArrayEquals(ref.read(pos, chunk), read(disk, pos, chunk), "seq read at " + pos);
                            }
                        } else {
                            for (int i = 0; i < 2000; i++) {
                                long offset = offset(random, 0, ref.size());
                                int length = length(random, offset, ref.size());
                                assertArrayEquals(ref.read(offset, length), read(disk, offset, length));
                            }
                        }
                        return null;
                    }));
                }
                for (Future<?> f : futures) {
                    f.get();
                }
            } finally {
                pool.shutdown();
            }
            long[] ra = disk.readaheadCounters();
            org.junit.jupiter.api.Assertions.assertTrue(ra[0] > 0 && ra[1] > 0,
                    "sequential readers triggered readahead and were served by it: " + ra[0] + "/" + ra[1]);
        }
    }
}
