package dev.dcd.tests.bench;

import static dev.dcd.tests.bench.BenchMath.median;

import dev.dcd.backend.Progress;
import dev.dcd.synth.AppLayer;
import dev.dcd.synth.DiskSpec;
import dev.dcd.synth.FsType;
import dev.dcd.synth.SynthesizedDisk;
import dev.dcd.synth.Synthesizers;
import dev.dcd.vdisk.SealedVdisk;
import dev.dcd.vdisk.VdiskWriter;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * Synthesis against its peer, measured in the same run: the same apps as (a) a dcd ext4 disk and (b)
 * {@code mke2fs -t ext4 -d TREE} of the merged tree into an image of the same size. Then synthesis of
 * 200k generated files, for time and peak memory. Not a test: prints figures.
 *
 * <p>Run (from the repository root):
 * <pre>
 * mvn -B -o -q -pl tests -am test-compile dependency:build-classpath -Dmdep.outputFile=target/cp.txt
 * java -Xmx256m -cp tests/target/test-classes:$(cat tests/target/cp.txt) dev.dcd.tests.bench.Ext4SynthBench [pkg...]
 * </pre>
 * {@code -Dbench.runs=N} sets the number of measured rounds (default 11), {@code -Dbench.warmup=N} the dcd warm-up
 * runs (default 200), {@code -Dbench.skipMany=true} skips
 * the 200k-file run.
 */
public final class Ext4SynthBench {
    static final long DISK = 4L << 30;
    static final int RUNS = Integer.getInteger("bench.runs", 11);
    /**
     * A long-running shell's JIT has settled; with 10 or 40 warm-up runs C2 was still compiling during the
     * measured rounds (the whole-JVM CPU was 2-3x the synthesizing thread's; after 200 it is ~1.4x).
     */
    static final int WARMUP = Integer.getInteger("bench.warmup", 200);
    /** mke2fs warms up too: its first run reads the merged tree from disk, later ones from the page cache. */
    static final int PEER_WARMUP = 2;

    public static void main(String[] args) throws Exception {
        boolean manyOnly = args.length > 0 && args[0].equals("--many-only");
        List<List<String>> sets = args.length > 0 && !manyOnly ? List.of(List.of(args))
                : List.of(List.of("tzdata", "perl-modules-5.36", "git", "git-man"), List.of("openjdk-17-jre-headless"));
        Path work = Files.createTempDirectory("dcd-ext4-bench-");
        try {
            if (!manyOnly) {
                for (int i = 0; i < sets.size(); i++) {
                    comparePeer(work.resolve("set-" + i), sets.get(i));
                }
            }
            if (!Boolean.getBoolean("bench.skipMany")) {
                manyFiles(work, 200_000);
            }
        } finally {
            try (Stream<Path> s = Files.walk(work)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static void comparePeer(Path work, List<String> packages) throws Exception {
        Path debCache = Files.createDirectories(Path.of(System.getProperty("java.io.tmpdir"), "dcd-bench-debs"));
        Path merged = Files.createDirectories(work.resolve("merged"));
        List<AppLayer> layers = new ArrayList<>();
        long content = 0;
        for (String pkg : packages) {
            run("sh", "-c", "cd '" + debCache + "' && (ls " + pkg + "_*.deb >/dev/null 2>&1 || apt-get download -q " + pkg
                    + " >/dev/null 2>&1)");
            Path deb;
            try (Stream<Path> s = Files.list(debCache)) {
                deb = s.filter(p -> p.getFileName().toString().startsWith(pkg + "_")).findFirst().orElseThrow();
            }
            Path tree = work.resolve("tree-" + pkg);
            run("dpkg-deb", "-x", deb.toString(), tree.toString());
            run("dpkg-deb", "-x", deb.toString(), merged.toString());
            SealedVdisk v = BenchTrees.vdisk(tree, work.resolve(pkg + ".vdisk"), pkg);
            layers.add(new AppLayer(pkg, "deb", v.id(), v.manifest(), 0));
            content += v.manifest().contentBytes();
        }
        DiskSpec spec = DiskSpec.builder().vmId("bench").fsType(FsType.EXT4).diskSize(DISK).createdEpochSeconds(1_750_000_000L).build();
        // Synthesis runs on the calling thread, its final fdatasync included; the thread's CPU clock has nanosecond
        // resolution (the process one has 10 ms).
        var threads = ManagementFactory.getThreadMXBean();
        // The process clock counts every thread (GC, JIT) but ticks in 10 ms steps; its mean
        // over the rounds is still an unbiased per-synthesis figure.
        var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        for (int i = 0; i < WARMUP; i++) {   // a long-running dcd shell synthesizes with a warm JIT
            Synthesizers.forType(FsType.EXT4).synthesize(spec, layers, work.resolve("warm-" + i), Progress.NONE);
        }
        long partitionKib = Synthesizers.forType(FsType.EXT4).synthesize(spec, layers, work.resolve("warm-peer"),
                Progress.NONE).partitionLength() / 1024;
        for (int i = 0; i < PEER_WARMUP; i++) {
            Path img = work.resolve("mke2fs-warm.img");
            run("mke2fs", "-q", "-F", "-t", "ext4", "-d", merged.toString(), img.toString(), partitionKib + "k");
            Files.delete(img);
        }
        long dcdProcessCpu = 0;
        long[] dcdWall = new long[RUNS];
        long[] dcdCpu = new long[RUNS];
        long[] peerWall = new long[RUNS];
        long[] peerCpu = new long[RUNS];
        SynthesizedDisk disk = null;
        long peerAllocated = 0;
        for (int i = 0; i < RUNS; i++) {
            // Interleaved, so both see the same machine load.
            Path dir = work.resolve("dcd-" + i);
            long p0 = os.getProcessCpuTime();
            long c0 = threads.getCurrentThreadCpuTime();
            long t0 = System.nanoTime();
            disk = Synthesizers.forType(FsType.EXT4).synthesize(spec, layers, dir, Progress.NONE);
            dcdWall[i] = System.nanoTime() - t0;
            dcdCpu[i] = threads.getCurrentThreadCpuTime() - c0;
            dcdProcessCpu += os.getProcessCpuTime() - p0;
            Path img = work.resolve("mke2fs-" + i + ".img");
            String[] times = run("bash", "-c", "TIMEFORMAT='%R %U %S'; time mke2fs -q -F -t ext4 -d '" + merged + "' '" + img + "' "
                    + (disk.partitionLength() / 1024) + "k").trim().split("\\s+");
            int n = times.length;
            peerWall[i] = (long) (Double.parseDouble(times[n - 3]) * 1e9);
            peerCpu[i] = (long) ((Double.parseDouble(times[n - 2]) + Double.parseDouble(times[n - 1])) * 1e9);
            peerAllocated = allocated(img);
            Files.delete(img);
            deleteTree(dir);
        }
        disk = Synthesizers.forType(FsType.EXT4).synthesize(spec, layers, work.resolve("dcd-final"), Progress.NONE);
        long dcdAllocated = allocated(disk.image());
        System.out.printf("apps: %s (%d files, %d dirs, %.1f MiB content), disk %d GiB, %d interleaved runs, medians%n",
                packages, disk.fileCount(), disk.directoryCount(), content / 1048576.0, DISK >> 30, RUNS);
        System.out.printf("  dcd synthesize:    wall %7.1f ms, cpu %7.1f ms (synthesizing thread; all JVM threads, mean: %.1f ms), thin image allocates"
                        + " %6d KiB (%.2f%% of content)%n", median(dcdWall) / 1e6, median(dcdCpu) / 1e6,
                dcdProcessCpu / 1e6 / RUNS, dcdAllocated >> 10, 100.0 * dcdAllocated / content);
        System.out.printf("  mke2fs -t ext4 -d: wall %7.1f ms, cpu %7.1f ms, image allocates %6d KiB (%.1f%% of content)%n",
                median(peerWall) / 1e6, median(peerCpu) / 1e6, peerAllocated >> 10, 100.0 * peerAllocated / content);
        System.out.printf("  ratio: dcd is %.1fx faster (wall), %.1fx (cpu), %.1fx (cpu of all JVM threads);"
                        + " allocates %.4f of mke2fs's bytes%n",
                (double) median(peerWall) / median(dcdWall), (double) median(peerCpu) / median(dcdCpu),
                (double) median(peerCpu) * RUNS / Math.max(1, dcdProcessCpu), (double) dcdAllocated / peerAllocated);
        fsck(disk);
    }

    private static void manyFiles(Path work, int files) throws Exception {
        Path vdisk = work.resolve("many.vdisk");
        SealedVdisk v;
        try (VdiskWriter w = VdiskWriter.create(vdisk, "many", "1", 1L << 40)) {
            for (int i = 0; i < files; i++) {
                String body = "generated file " + (i % 1000) + "\n";
                w.file(String.format("tree/d%03d/sub%d/file-%06d.txt", i / 1000, (i / 100) % 10, i), 0644, 0, 0,
                        1_750_000_000L, i, new ByteArrayInputStream(body.getBytes(StandardCharsets.UTF_8)), -1);
            }
            v = w.finish();
        }
        List<AppLayer> layers = List.of(new AppLayer("many", "1", v.id(), v.manifest(), 0));
        DiskSpec spec = DiskSpec.builder().vmId("bench-many").fsType(FsType.EXT4).diskSize(8L << 30)
                .createdEpochSeconds(1_750_000_000L).build();
        // Warm up on a throwaway run, then measure one with the peak counters reset.
        Synthesizers.forType(FsType.EXT4).synthesize(spec, layers, work.resolve("many-warm"), Progress.NONE);
        System.gc();
        long baseline = heapUsed();
        for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
            pool.resetPeakUsage();
        }
        long t0 = System.nanoTime();
        SynthesizedDisk disk = Synthesizers.forType(FsType.EXT4).synthesize(spec, layers, work.resolve("many-dcd"), Progress.NONE);
        long elapsed = System.nanoTime() - t0;
        long peak = 0;
        for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
            if (pool.getType() == MemoryType.HEAP) {
                peak += pool.getPeakUsage().getUsed();
            }
        }
        System.out.printf("%d files in %d dirs: synthesize %.0f ms, peak heap %d MiB (baseline with manifest loaded %d MiB),"
                        + " thin image allocates %d KiB, files.idx %d KiB, VmHWM %s%n", disk.fileCount(), disk.directoryCount(),
                elapsed / 1e6, peak >> 20, baseline >> 20, allocated(disk.image()) >> 10,
                Files.size(disk.dir().resolve("files.idx")) >> 10, vmHwm());
        fsck(disk);
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    private static long heapUsed() {
        Runtime r = Runtime.getRuntime();
        return r.totalMemory() - r.freeMemory();
    }

    private static String vmHwm() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmHWM:")) {
                return line.substring(6).trim();
            }
        }
        return "?";
    }

    private static void fsck(SynthesizedDisk disk) throws Exception {
        String loop = run("losetup", "--find", "--show", "--read-only", "--offset", Long.toString(disk.partitionOffset()),
                "--sizelimit", Long.toString(disk.partitionLength()), disk.image().toString()).trim();
        try {
            String out = run("e2fsck", "-fn", loop);
            System.out.println("  e2fsck -fn (metadata only): clean, " + out.lines().reduce((a, b) -> b).orElse(""));
        } finally {
            run("losetup", "--detach", loop);
        }
    }

    private static long allocated(Path file) throws Exception {
        String[] f = run("stat", "-c", "%b %B", file.toString()).trim().split(" ");
        return Long.parseLong(f[0]) * Long.parseLong(f[1]);
    }

    static String run(String... command) throws Exception {
        return dev.dcd.testing.ProcessRunner.command(command).mergeErr().timeout(java.time.Duration.ofSeconds(600))
                .run().requireOk().out();
    }
}
