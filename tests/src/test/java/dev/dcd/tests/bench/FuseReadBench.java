package dev.dcd.tests.bench;

import dev.dcd.block.ForwardingBlockDevice;
import static dev.dcd.tests.bench.FuseReads.*;

import dev.dcd.block.BlockDevice;
import dev.dcd.block.Capabilities;
import dev.dcd.mount.FileMountSource;
import dev.dcd.mount.MountSource;
import dev.dcd.mount.MountOptions;
import dev.dcd.mount.Mounter;
import dev.dcd.synth.FileIndex;
import dev.dcd.tests.mount.BenchSupport;
import dev.dcd.tests.support.ForwardingMountSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;

/**
 * Cold sequential read of every file of one tree through several paths, in one run, interleaved:
 * dcd's files/ (default options, -s, and without keep_cache), fuse2fs -o ro over the same ext4 partition,
 * and the kernel's ext4 over a loop device on dcd's disk.img. Page cache is dropped before every pass.
 *
 * <p>Run: {@code mvn -B -o -pl tests -am verify -Dit.test=FuseReadBench -Dtest=NONE
 * -Dsurefire.failIfNoSpecifiedTests=false} (root: needs FUSE, loop devices and drop_caches). Results are
 * printed and written to tests/target/bench/fuse-read.txt. Sizes via -Dbench.mib (default 384), passes via
 * -Dbench.rounds (default 3).
 */
class FuseReadBench {
    private static final int ROUNDS = Integer.getInteger("bench.rounds", 3);
    private static final int MIB = Integer.getInteger("bench.mib", 384);

    @TempDir
    Path tmp;

    @Test
    void coldSequentialReadOfEveryFile() throws Exception {
        Path tree = tmp.resolve("tree");
        long total = makeTree(tree, MIB);
        BenchSupport.Built built = BenchSupport.build(tree, tmp.resolve("built"), ((long) MIB * 2 << 20) + (256L << 20));
        FileIndex index = FileIndex.load(built.index());
        String descriptor = Files.readString(built.descriptor());
        PrintStream log = System.err;

        Map<String, List<Double>> seq = new LinkedHashMap<>();
        Map<String, List<Double>> par = new LinkedHashMap<>();
        Map<String, List<Double>> warm = new LinkedHashMap<>();
        String requestSizes;
        List<Runnable> cleanups = new ArrayList<>();
        try {
            Path dcdMp = Files.createDirectories(tmp.resolve("dcd"));
            Mounter.Mount dcd = Mounter.start(FileMountSource.open("bench", built.image(), index, descriptor), dcdMp,
                    MountOptions.builder("bench").build(), log);
            cleanups.add(() -> close(dcd));
            Path dcdSingleMp = Files.createDirectories(tmp.resolve("dcd-1"));
            Mounter.Mount dcdSingle = Mounter.start(FileMountSource.open("bench-1", built.image(), index, descriptor),
                    dcdSingleMp, MountOptions.builder("bench-1").threads(1).build(), log);
            cleanups.add(() -> close(dcdSingle));
            Path dcdNoCacheMp = Files.createDirectories(tmp.resolve("dcd-nocache"));
            Mounter.Mount dcdNoCache = Mounter.start(FileMountSource.open("bench-nc", built.image(), index, descriptor),
                    dcdNoCacheMp, MountOptions.builder("bench-nc").keepCacheForFiles(false).build(), log);
            cleanups.add(() -> close(dcdNoCache));

            Path fuse2fsMp = Files.createDirectories(tmp.resolve("fuse2fs"));
            BenchSupport.ok("fuse2fs", built.image().toString(), fuse2fsMp.toString(),
                    "-o", "ro,offset=" + BenchSupport.PARTITION_OFFSET);
            cleanups.add(() -> BenchSupport.quietly("fusermount", "-u", "-z", fuse2fsMp.toString()));

            String loop = BenchSupport.ok("losetup", "-f", "--show", "-r", "-o",
                    Long.toString(BenchSupport.PARTITION_OFFSET), "--sizelimit", Long.toString(built.partitionLength()),
                    dcdMp.resolve("disk.img").toString()).strip();
            cleanups.add(() -> BenchSupport.quietly("losetup", "-d", loop));
            Path kernelMp = Files.createDirectories(tmp.resolve("kernel"));
            BenchSupport.ok("mount", "-t", "ext4", "-o", "ro,noload", loop, kernelMp.toString());
            cleanups.add(() -> BenchSupport.quietly("umount", "-l", kernelMp.toString()));

            Map<String, Path> roots = new LinkedHashMap<>();
            roots.put("fuse2fs -o ro", fuse2fsMp);
            roots.put("dcd files/ (default: " + MountOptions.LOCAL_THREADS + " threads, keep_cache)", dcdMp.resolve("files"));
            roots.put("dcd files/ 1 loop thread", dcdSingleMp.resolve("files"));
            roots.put("dcd files/ no keep_cache", dcdNoCacheMp.resolve("files"));
            roots.put("kernel ext4 on loop over dcd disk.img", kernelMp);

            List<String> relative = list(tree);
            measureRounds(roots, relative, total, ROUNDS, seq, par, warm);
            requestSizes = Files.readString(dcdMp.resolve("stats.json")).strip();
        } finally {
            for (int i = cleanups.size() - 1; i >= 0; i--) {
                cleanups.get(i).run();
            }
        }

        StringBuilder report = new StringBuilder();
        report.append(String.format("FuseReadBench: %d files, %.0f MiB, cold (drop_caches before every pass), %d rounds, median MiB/s%n",
                list(tree).size(), total / 1048576.0, ROUNDS));
        report.append(String.format("%-42s %12s %12s %10s %12s%n", "path", "cold 1 rdr", "cold 4 rdrs", "vs fuse2fs",
                "warm reread"));
        double base = median(seq.get("fuse2fs -o ro"));
        for (String k : seq.keySet()) {
            report.append(String.format("%-42s %12.1f %12.1f %9.2fx %12.1f%n", k, median(seq.get(k)), median(par.get(k)),
                    median(seq.get(k)) / base, median(warm.get(k))));
        }
        long reads = jsonLong(requestSizes, "reads");
        long readBytes = jsonLong(requestSizes, "readBytes");
        report.append(String.format("dcd default mount, device reads over the whole run: %d reads, %.1f KiB on average (%s)%n",
                reads, readBytes / 1024.0 / Math.max(1, reads), requestSizes));
        report.append("all passes (1 reader): ").append(seq).append('\n');
        report.append("all passes (4 readers): ").append(par).append('\n');
        report.append("all passes (warm): ").append(warm).append('\n');
        BenchFiles.writeReport("fuse-read.txt", report);
    }

    /**
     * The serving thread model where it matters: every device read waits {@code bench.latencyMicros} (default
     * 1000), as a remote backend would. Four readers, cold; the loop on the remote, the local and one thread.
     */
    @Test
    void latencyBoundReadsOverlapWithMoreLoopThreads() throws Exception {
        long latencyNanos = Long.getLong("bench.latencyMicros", 1000) * 1000;
        Path tree = tmp.resolve("tree");
        long total = makeTree(tree, 64);
        BenchSupport.Built built = BenchSupport.build(tree, tmp.resolve("built"), 256L << 20);
        FileIndex index = FileIndex.load(built.index());
        String descriptor = Files.readString(built.descriptor());
        List<String> relative = list(tree);
        Map<Integer, List<Double>> results = new LinkedHashMap<>();
        for (int threads : new int[] {MountOptions.REMOTE_THREADS, MountOptions.LOCAL_THREADS, 1}) {
            Path mp = Files.createDirectories(tmp.resolve("t" + threads));
            MountSource slow = new Slowed(FileMountSource.open("lat-" + threads, built.image(), index, descriptor),
                    latencyNanos);
            try (Mounter.Mount m = Mounter.start(slow, mp, MountOptions.builder("lat-" + threads).threads(threads).build(),
                    System.err)) {
                Path files = m.mountpoint().resolve("files");
                readAll(files, relative, 4);
                for (int round = 0; round < ROUNDS; round++) {
                    dropCaches();
                    results.computeIfAbsent(threads, k -> new ArrayList<>())
                            .add(mibPerSecond(total, () -> readAll(files, relative, 4)));
                }
            }
        }
        double one = median(results.get(1));
        StringBuilder report = new StringBuilder(String.format(
                "FuseReadBench latency: %d files, %.0f MiB, %d us per device read, 4 readers, cold, median MiB/s by loop"
                        + " threads:", relative.size(), total / 1048576.0, latencyNanos / 1000));
        results.forEach((threads, mibs) -> report.append(String.format(" %d: %.1f (%.2fx of 1);", threads, median(mibs),
                median(mibs) / one)));
        report.append(" all: ").append(results).append('\n');
        BenchFiles.writeReport("fuse-read-latency.txt", report);
    }

    /** The source with a fixed wait before every device read. */
    private static final class Slowed extends ForwardingMountSource {
        private final BlockDevice disk;

        Slowed(MountSource inner, long nanos) {
            super(inner);
            this.disk = new ForwardingBlockDevice<>(inner.disk()) {
                @Override
                public void read(long offset, ByteBuffer dst) throws IOException {
                    LockSupport.parkNanos(nanos);
                    next.read(offset, dst);
                }
            };
        }

        @Override
        public BlockDevice disk() {
            return disk;
        }

        @Override
        public String describe() {
            return inner.describe() + " +latency";
        }
    }

    /** A mix like an application tree: many small files and a few large ones, deterministic content. */
    private static long jsonLong(String json, String key) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"" + key + "\":(\\d+)").matcher(json);
        return m.find() ? Long.parseLong(m.group(1)) : -1;
    }

    private static void close(Mounter.Mount m) {
        try {
            m.close();
        } catch (IOException e) {
            BenchSupport.quietly("fusermount", "-u", "-z", m.mountpoint().toString());
        }
    }
}
