package dev.dcd.tests.bench;

import dev.dcd.tests.mount.BenchSupport;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;

/** What both FUSE read benchmarks share: the generated tree, the cold read passes and their arithmetic. */
final class FuseReads {
    private FuseReads() {
    }

    static long makeTree(Path tree, int mib) throws IOException {
        Random random = new Random(1);
        long budget = (long) mib << 20;
        long smallBudget = budget / 4;
        long total = 0;
        int i = 0;
        while (total < smallBudget) {
            Path dir = Files.createDirectories(tree.resolve("lib/d" + (i / 100)));
            byte[] b = new byte[1024 + random.nextInt(96 * 1024)];
            random.nextBytes(b);
            Files.write(dir.resolve("s" + i + ".so"), b);
            total += b.length;
            i++;
        }
        byte[] big = new byte[8 << 20];
        int j = 0;
        while (total < budget) {
            random.nextBytes(big);
            Files.write(Files.createDirectories(tree.resolve("data")).resolve("b" + j + ".bin"), big);
            total += big.length;
            j++;
        }
        return total;
    }

    static List<String> list(Path tree) throws IOException {
        try (Stream<Path> s = Files.walk(tree)) {
            return s.filter(Files::isRegularFile).map(p -> tree.relativize(p).toString()).sorted().toList();
        }
    }

    /** A timed pass; returns the bytes it actually read. */
    interface Pass {
        long run() throws Exception;
    }

    /**
     * MiB/s of one pass over {@code expected} bytes, from the bytes the pass really read: a short read (a file
     * served shorter than it is) fails the benchmark instead of inflating its figure.
     */
    static double mibPerSecond(long expected, Pass pass) throws Exception {
        long t0 = System.nanoTime();
        long read = pass.run();
        long elapsed = System.nanoTime() - t0;
        if (read != expected) {
            throw new AssertionError("the pass read " + read + " bytes, not the " + expected + " the tree holds");
        }
        return read / 1048576.0 / (elapsed / 1e9);
    }

    /** Reads every file to the end with 1 MiB reads; {@code readers} threads take files in turn. Returns the bytes read. */
    static long readAll(Path root, List<String> files, int readers) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(readers);
        try {
            List<Future<Long>> parts = new ArrayList<>();
            for (int r = 0; r < readers; r++) {
                int first = r;
                parts.add(pool.submit(() -> {
                    ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
                    long n = 0;
                    for (int k = first; k < files.size(); k += readers) {
                        try (FileChannel ch = FileChannel.open(root.resolve(files.get(k)), StandardOpenOption.READ)) {
                            int got;
                            while ((got = ch.read(buf.clear())) > 0) {
                                n += got;
                            }
                        }
                    }
                    return n;
                }));
            }
            long total = 0;
            for (Future<Long> f : parts) {
                total += f.get();
            }
            return total;
        } finally {
            pool.shutdown();
        }
    }

    static void dropCaches() throws IOException {
        BenchSupport.ok("sync");
        Files.writeString(Path.of("/proc/sys/vm/drop_caches"), "3");
    }

    static double median(List<Double> values) {
        double[] v = values.stream().mapToDouble(Double::doubleValue).toArray();
        Arrays.sort(v);
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    /**
     * One unrecorded pass per path, so the serving JVM has compiled its read path, then {@code rounds}
     * rounds interleaving the paths: cold with one reader, cold with four, and a warm re-read straight after.
     */
    static void measureRounds(java.util.Map<String, Path> roots, List<String> files, long total, int rounds,
                              java.util.Map<String, List<Double>> seq, java.util.Map<String, List<Double>> par,
                              java.util.Map<String, List<Double>> warm) throws Exception {
        for (Path root : roots.values()) {
            readAll(root, files, 1);
        }
        for (int round = 0; round < rounds; round++) {
            for (java.util.Map.Entry<String, Path> e : roots.entrySet()) {
                dropCaches();
                seq.computeIfAbsent(e.getKey(), k -> new ArrayList<>()).add(mibPerSecond(total, () -> readAll(e.getValue(), files, 1)));
                dropCaches();
                par.computeIfAbsent(e.getKey(), k -> new ArrayList<>()).add(mibPerSecond(total, () -> readAll(e.getValue(), files, 4)));
                // Straight after the cold pass: whatever the page cache kept is reused on the next open.
                warm.computeIfAbsent(e.getKey(), k -> new ArrayList<>()).add(mibPerSecond(total, () -> readAll(e.getValue(), files, 1)));
            }
        }
    }
}
