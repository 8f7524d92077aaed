package dev.dcd.tests.bench;

import dev.dcd.backend.Backend;
import dev.dcd.backend.Backends;
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
import java.io.InputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

/**
 * dcd's FAT32 synthesis against the usual way to make the same volume: {@code mkfs.fat -F 32} on an image of
 * the partition's size, then {@code mcopy -s} of the tree into it. Both start from the same tree, already on
 * the host (as a directory for mcopy, as an imported app vdisk for dcd); import time is not counted.
 *
 * <p>Run (from the repository root):
 * <pre>
 * mvn -B -o -q -pl tests -am test-compile dependency:build-classpath -Dmdep.includeScope=test \
 *     -Dmdep.outputFile=$PWD/target/bench.cp
 * java -cp tests/target/test-classes:$(cat target/bench.cp) dev.dcd.tests.bench.Fat32SynthBench [files] [runs]
 * </pre>
 */
public final class Fat32SynthBench {
    private static final long DISK_SIZE = 2L << 30;

    public static void main(String[] args) throws Exception {
        int files = args.length > 0 ? Integer.parseInt(args[0]) : 3000;
        int runs = args.length > 1 ? Integer.parseInt(args[1]) : 3;
        Path work = Files.createTempDirectory("fat32-bench");
        try {
            run(work, files, runs);
        } finally {
            delete(work);
        }
    }

    private static void run(Path work, int fileCount, int runs) throws Exception {
        Path tree = Files.createDirectories(work.resolve("tree"));
        Path store = Files.createDirectories(work.resolve("store"));
        Random random = new Random(42);
        long contentBytes = 0;
        Path vdiskFile = work.resolve("app.vdisk");
        SealedVdisk sealed;
        try (VdiskWriter writer = VdiskWriter.create(vdiskFile, "bench", "1.0", 64L << 30)) {
            for (int i = 0; i < fileCount; i++) {
                // A package-like mix: mostly small files, some medium, a few large ones.
                int size = i % 100 == 0 ? (2 << 20) + random.nextInt(4 << 20)
                        : i % 10 == 0 ? 64_000 + random.nextInt(256_000) : random.nextInt(12_000);
                byte[] data = new byte[size];
                random.nextBytes(data);
                String path = "pkg" + (i % 40) + "/sub" + (i % 7) + "/file number " + i + ".dat";
                Path onDisk = tree.resolve(path);
                Files.createDirectories(onDisk.getParent());
                Files.write(onDisk, data);
                writer.file(path, 0644, 0, 0, 1_700_000_000L, 0, new ByteArrayInputStream(data), size);
                contentBytes += size;
            }
            sealed = writer.finish();
        }
        AppLayer layer;
        try (Backend backend = Backends.open("bench", URI.create("local://" + store.toAbsolutePath()));
             InputStream in = Files.newInputStream(sealed.file())) {
            backend.put(sealed.id(), in, sealed.length(), Progress.NONE);
            layer = new AppLayer("bench", "1.0", sealed.id(), sealed.manifest(), 0);
        }
        DiskSpec spec = DiskSpec.builder().vmId("bench").fsType(FsType.FAT32).diskSize(DISK_SIZE)
                .createdEpochSeconds(1_700_000_000L).build();
        System.out.printf("tree: %d files, %d bytes of content; disk %d bytes%n", fileCount, contentBytes, DISK_SIZE);

        java.lang.management.ThreadMXBean threads = java.lang.management.ManagementFactory.getThreadMXBean();
        long[] dcdNanos = new long[runs + 1];
        long[] dcdCpu = new long[runs + 1];
        long dcdAllocated = 0;
        long partitionLength = 0;
        int sectorsPerCluster = 0;
        for (int r = 0; r <= runs; r++) {          // run 0 warms the JIT and is not counted
            Path out = work.resolve("dcd" + r);
            long start = System.nanoTime();
            long cpuStart = threads.getCurrentThreadCpuTime();
            SynthesizedDisk disk = Synthesizers.forType(FsType.FAT32).synthesize(spec, List.of(layer), out, Progress.NONE);
            dcdCpu[r] = threads.getCurrentThreadCpuTime() - cpuStart;
            dcdNanos[r] = System.nanoTime() - start;
            dcdAllocated = allocated(out);
            if (r == runs) {
                for (String f : new String[] {SynthesizedDisk.IMAGE, SynthesizedDisk.REGIONS, "files.idx"}) {
                    System.out.printf("  dcd %-12s %10d bytes allocated%n", f, allocated(out.resolve(f)));
                }
                System.out.printf("  region map: %d regions, %d metadata bytes%n", disk.regionMap().regionCount(),
                        disk.regionMap().bytesOf(dev.dcd.synth.RegionMap.Kind.METADATA));
            }
            partitionLength = disk.partitionLength();
            try (var ch = java.nio.channels.FileChannel.open(disk.image())) {
                var b = java.nio.ByteBuffer.allocate(1);
                ch.read(b, disk.partitionOffset() + 13);
                sectorsPerCluster = b.get(0) & 0xFF;
            }
            delete(out);
        }

        long[] peerNanos = new long[runs + 1];
        long[] peerCpu = new long[runs + 1];
        long peerAllocated = 0;
        StringBuilder sources = new StringBuilder();
        try (Stream<Path> s = Files.list(tree)) {
            s.sorted().forEach(p -> sources.append(" '").append(p).append('\''));
        }
        for (int r = 0; r <= runs; r++) {
            Path image = work.resolve("peer" + r + ".img");
            // One shell runs the three steps; its "times" builtin reports the CPU the tools used.
            String script = "truncate -s " + partitionLength + " '" + image + "' && mkfs.fat -F 32 -s "
                    + sectorsPerCluster + " -n DCD '" + image + "' >/dev/null && mcopy -s -i '" + image + "'"
                    + sources + " ::/ && times";
            long start = System.nanoTime();
            String out = exec(List.of("bash", "-c", script));
            peerNanos[r] = System.nanoTime() - start;
            peerCpu[r] = childCpuNanos(out);
            peerAllocated = allocated(image);
            Files.delete(image);
        }
        double dcdMs = median(dcdNanos) / 1e6;
        double peerMs = median(peerNanos) / 1e6;
        System.out.printf("cluster size %d bytes, partition %d bytes, median of %d runs%n", sectorsPerCluster * 512,
                partitionLength, runs);
        double dcdCpuMs = median(dcdCpu) / 1e6;
        double peerCpuMs = median(peerCpu) / 1e6;
        System.out.printf("%-34s %12s %12s %16s%n", "", "wall (ms)", "cpu (ms)", "allocated (B)");
        System.out.printf("%-34s %12.1f %12.1f %16d%n", "dcd synthesize (meta+map+index)", dcdMs, dcdCpuMs, dcdAllocated);
        System.out.printf("%-34s %12.1f %12.1f %16d%n", "mkfs.fat -F 32 + mcopy -s", peerMs, peerCpuMs,
                peerAllocated);
        System.out.printf("ratio dcd/peer: wall time %.3f, cpu time %.3f, allocated bytes %.4f%n", dcdMs / peerMs,
                dcdCpuMs / peerCpuMs, (double) dcdAllocated / peerAllocated);
    }

    /** Parses bash's "times" output: the second line is the children's user and system time. */
    private static long childCpuNanos(String timesOutput) {
        String[] lines = timesOutput.trim().split("\n");
        long total = 0;
        for (String t : lines[lines.length - 1].trim().split("\\s+")) {
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("(\\d+)m([\\d.]+)s").matcher(t);
            if (!m.matches()) {
                throw new IllegalStateException("unexpected times output: " + timesOutput);
            }
            total += (long) ((Long.parseLong(m.group(1)) * 60 + Double.parseDouble(m.group(2))) * 1e9);
        }
        return total;
    }

    private static long median(long[] samples) {
        long[] counted = Arrays.copyOfRange(samples, 1, samples.length);
        Arrays.sort(counted);
        return counted[counted.length / 2];
    }

    private static long allocated(Path path) throws IOException, InterruptedException {
        String out = exec(List.of("du", "-s", "-B1", path.toString()));
        return Long.parseLong(out.trim().split("\\s+")[0]);
    }

    private static String exec(List<String> command) throws IOException, InterruptedException {
        return dev.dcd.testing.ProcessRunner.command(command).env("MTOOLS_SKIP_CHECK", "1").mergeErr()
                .timeout(java.time.Duration.ofMinutes(10)).run().requireOk().out();
    }

    private static void delete(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : (Iterable<Path>) s.sorted(Comparator.reverseOrder())::iterator) {
                Files.delete(p);
            }
        }
    }
}
