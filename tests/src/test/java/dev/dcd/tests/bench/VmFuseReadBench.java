package dev.dcd.tests.bench;

import static dev.dcd.tests.bench.FuseReads.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dcd.synth.Gpt;
import dev.dcd.tests.vmmount.VmCli;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
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
import java.util.stream.Stream;

/**
 * Cold sequential read of every file of one app through a REAL VM mount: the tree is imported by the packaged
 * jar onto the local backend, synthesized as an ext4 VM disk, and served by {@code dcd mount} (the whole
 * filter chain: stats, overlay, readahead, redirect to the app vdisk). Compared in the same run, interleaved:
 * <ul>
 *   <li>{@code fuse2fs -o ro} over an image built by {@code mke2fs -t ext4 -d TREE} from the same tree (the peer),</li>
 *   <li>dcd's {@code MOUNTPOINT/files/},</li>
 *   <li>the kernel's ext4 on a read-only loop device over {@code MOUNTPOINT/disk.img}.</li>
 * </ul>
 * Page cache dropped before every cold pass; median of {@code bench.rounds} rounds.
 *
 * <p>Run (root: FUSE, loop devices, drop_caches; the jar must be packaged, which {@code -am verify} does):
 * {@code mvn -B -o -pl tests -am verify -Dit.test=VmFuseReadBench -Dtest=NONE -Dsurefire.failIfNoSpecifiedTests=false}.
 * Output also in tests/target/bench/vm-fuse-read.txt. {@code -Dbench.mib} (default 384), {@code -Dbench.rounds} (3).
 */
class VmFuseReadBench {
    private static final int ROUNDS = Integer.getInteger("bench.rounds", 3);
    private static final int MIB = Integer.getInteger("bench.mib", 384);
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    @Test
    void coldSequentialReadOfEveryFileThroughARealVmMount() throws Exception {
        Path tree = tmp.resolve("tree");
        long total = makeTree(tree, MIB);
        List<String> relative = list(tree);
        long diskSize = ((long) MIB * 2 << 20) + (256L << 20);
        long partitionLength = Gpt.layout(diskSize).partitionLength();
        Path home = tmp.resolve("home");
        VmCli.dcdOk(home, "catalog", "import", tree.toString(), "--name", "bench", "--version", "1");
        VmCli.dcdOk(home, "vm", "create", "bench", "--size", Long.toString(diskSize));
        VmCli.dcdOk(home, "vm", "assign", "bench", "bench");
        VmCli.dcdOk(home, "disk", "build", "bench");

        Path peerImage = tmp.resolve("peer.img");
        VmCli.ok("mke2fs", "-q", "-F", "-t", "ext4", "-d", tree.toString(), peerImage.toString(),
                (partitionLength >> 10) + "k");

        Map<String, List<Double>> seq = new LinkedHashMap<>();
        Map<String, List<Double>> par = new LinkedHashMap<>();
        Map<String, List<Double>> warm = new LinkedHashMap<>();
        String readOps;
        List<Runnable> cleanups = new ArrayList<>();
        try {
            Path dcdMp = Files.createDirectories(tmp.resolve("dcd"));
            VmCli.dcdOk(home, "mount", "bench", dcdMp.toString());
            cleanups.add(() -> {
                VmCli.quietly("java", "-jar", VmCli.JAR.toString(), "--home", home.toString(), "umount", dcdMp.toString());
                VmCli.quietly("fusermount", "-u", "-z", dcdMp.toString());
            });
            Path fuse2fsMp = Files.createDirectories(tmp.resolve("fuse2fs"));
            VmCli.ok("fuse2fs", peerImage.toString(), fuse2fsMp.toString(), "-o", "ro");
            cleanups.add(() -> VmCli.quietly("fusermount", "-u", "-z", fuse2fsMp.toString()));
            String loop = VmCli.ok("losetup", "-f", "--show", "-r", "-o", Long.toString(VmCli.PARTITION_OFFSET),
                    "--sizelimit", Long.toString(partitionLength), dcdMp.resolve("disk.img").toString()).strip();
            cleanups.add(() -> VmCli.quietly("losetup", "-d", loop));
            Path kernelMp = Files.createDirectories(tmp.resolve("kernel"));
            VmCli.ok("mount", "-t", "ext4", "-o", "ro,noload", loop, kernelMp.toString());
            cleanups.add(() -> VmCli.quietly("umount", "-l", kernelMp.toString()));

            Map<String, Path> roots = new LinkedHashMap<>();
            roots.put("fuse2fs -o ro (mke2fs -d image)", fuse2fsMp);
            roots.put("dcd mount VM: files/", dcdMp.resolve("files"));
            roots.put("kernel ext4 on loop over dcd disk.img", kernelMp);
            measureRounds(roots, relative, total, ROUNDS, seq, par, warm);
            JsonNode stats = JSON.readTree(Files.readString(dcdMp.resolve("stats.json")));
            JsonNode read = null;
            for (JsonNode op : stats.get("disk").get("ops")) {
                if (op.get("op").asText().equals("read")) {
                    read = op;
                }
            }
            readOps = read == null ? "?" : String.format("%d reads, %.1f KiB on average, p50 %.1f us, p99 %.1f us",
                    read.get("ops").asLong(), read.get("bytes").asLong() / 1024.0 / Math.max(1, read.get("ops").asLong()),
                    read.get("p50Nanos").asLong() / 1000.0, read.get("p99Nanos").asLong() / 1000.0);
        } finally {
            for (int i = cleanups.size() - 1; i >= 0; i--) {
                cleanups.get(i).run();
            }
        }

        StringBuilder report = new StringBuilder();
        report.append(String.format("VmFuseReadBench: %d files, %.0f MiB, ext4 VM of %d MiB, cold (drop_caches before every"
                + " pass), %d rounds, median MiB/s%n", relative.size(), total / 1048576.0, diskSize >> 20, ROUNDS));
        report.append(String.format("%-40s %12s %12s %10s %10s %12s%n", "path", "cold 1 rdr", "cold 4 rdrs", "vs fuse2fs",
                "(4 rdrs)", "warm reread"));
        String peer = roots0(seq);
        for (String k : seq.keySet()) {
            report.append(String.format("%-40s %12.1f %12.1f %9.2fx %9.2fx %12.1f%n", k, median(seq.get(k)), median(par.get(k)),
                    median(seq.get(k)) / median(seq.get(peer)), median(par.get(k)) / median(par.get(peer)),
                    median(warm.get(k))));
        }
        report.append("dcd chain (files/ and disk.img together, whole run): ").append(readOps).append('\n');
        report.append("all passes (1 reader): ").append(seq).append('\n');
        report.append("all passes (4 readers): ").append(par).append('\n');
        report.append("all passes (warm): ").append(warm).append('\n');
        BenchFiles.writeReport("vm-fuse-read.txt", report);
    }

    private static String roots0(Map<String, List<Double>> results) {
        return results.keySet().iterator().next();
    }

    /** The same mix as FuseReadBench: a quarter in 1-97 KiB files (100 per directory), the rest 8 MiB files. */
}
