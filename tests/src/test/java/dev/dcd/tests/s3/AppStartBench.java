package dev.dcd.tests.s3;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dcd.tests.net.LatencyProxy;
import dev.dcd.tests.scripts.DebianPackages;
import dev.dcd.tests.vmmount.VmCli;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The measure that matters (issue 19): how long a real app takes to start from a dcd disk. The app is CPython's
 * standard library, the Debian packages {@code libpython3.11-minimal} and {@code libpython3.11-stdlib} imported as two
 * apps of one ext4 VM; "starting" it is the system's {@code python3} run with {@code PYTHONHOME} on the VM's
 * {@code usr/}, from a kernel loop mount of the mounted {@code disk.img}, importing a set of stdlib modules (as a
 * program's start-up does; Debian ships no .pyc, so every module is read and compiled). Page caches are dropped
 * before each start. Compared in one run, S3 behind a {@link LatencyProxy} adding {@code bench.delay-ms} (20) per
 * request:
 * <ul>
 * <li>local: the same packages on the local backend (a second home);</li>
 * <li>S3 cold, no list: an empty dcd cache and no prefetch list (this start records the list);</li>
 * <li>S3 cold with the list: an empty cache, the list replayed from the mount on, python started at once;</li>
 * <li>S3 warm: the same mount again, dcd's cache holding what the start read.</li>
 * </ul>
 * Target: cold with the list at most 1.5x local. Also reports the bytes dcd fetched from S3 before the app had started
 * against the app's size. Needs root (FUSE, loop devices, drop_caches). A benchmark: it reports, it asserts only that
 * each start worked and read the stdlib from the mount.
 *
 * <pre>
 * mvn -B -o -pl tests -am verify -Dit.test=AppStartBench -Dtest=NONE -Dsurefire.failIfNoSpecifiedTests=false
 * </pre>
 * Knobs: {@code -Dbench.rounds=3}, {@code -Dbench.delay-ms=20}. Output also in {@code tests/target/bench/app-start.txt}.
 */
class AppStartBench {
    private static final String BUCKET = "dcd-appstart";
    private static final String BACKEND = "s3far";
    private static final String VM = "py";
    private static final long PARTITION_OFFSET = VmCli.PARTITION_OFFSET;
    private static final String MODULES = "json, email.parser, http.client, xml.etree.ElementTree, urllib.request, "
            + "asyncio, decimal, logging, argparse, unittest, dataclasses, typing, pathlib, csv, zipfile, tarfile, "
            + "sqlite3, ssl, shutil, tempfile, configparser";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final List<Runnable> cleanups = new ArrayList<>();

    @Test
    void startPythonFromLocalS3ColdS3ColdWithListAndS3Warm() throws Exception {
        int rounds = Integer.getInteger("bench.rounds", 3);
        int delayMs = Integer.getInteger("bench.delay-ms", 20);
        Path dir = Files.createTempDirectory("dcd-app-start");
        List<String> report = new ArrayList<>();
        Path minimal = DebianPackages.get("libpython3.11-minimal");
        Path stdlib = DebianPackages.get("libpython3.11-stdlib");
        try (S3ProxyServer server = S3ProxyServer.start(Files.createDirectories(dir.resolve("s3proxy")));
             LatencyProxy proxy = LatencyProxy.builder().target(server.port()).start()) {
            server.createBucket(BUCKET);
            DcdJar local = new DcdJar(dir.resolve("home-local"), server, dir.resolve("io"));
            DcdJar remote = new DcdJar(dir.resolve("home-s3"), server, dir.resolve("io"));
            remote.ok("backend", "add", BACKEND, "s3://" + BUCKET + "/apps?endpoint=" + proxy.httpEndpoint()
                    + "&region=us-east-1&path-style=true&deadline-ms=30000");
            for (DcdJar dcd : List.of(local, remote)) {
                String[] on = dcd == remote ? new String[] {"--backend", BACKEND} : new String[0];
                dcd.ok(concat(new String[] {"catalog", "import", minimal.toString()}, on));
                dcd.ok(concat(new String[] {"catalog", "import", stdlib.toString()}, on));
                dcd.ok("vm", "create", VM, "--size", "1G");
                dcd.ok("vm", "assign", VM, "libpython3.11-minimal", "libpython3.11-stdlib");
                dcd.ok("disk", "build", VM);
            }
            proxy.delay(Duration.ofMillis(delayMs));
            Path localHome = dir.resolve("home-local");
            Path remoteHome = dir.resolve("home-s3");
            long appBytes;
            long[] localNanos = new long[rounds];
            long[] coldNanos = new long[rounds];
            long[] listNanos = new long[rounds];
            long[] warmNanos = new long[rounds];
            long[] coldFetched = new long[rounds];
            long[] listFetched = new long[rounds];
            long listChunks = 0;
            String[] replayText = new String[rounds];
            Path mntLocal = dir.resolve("mnt-local");
            Path fsLocal = dir.resolve("fs-local");
            mount(local, mntLocal, fsLocal);
            try {
                appBytes = treeBytes(fsLocal.resolve("usr"));
                start(fsLocal); // warm-up of python itself (its binary and libc stay cached: they are not the app)
                for (int r = 0; r < rounds; r++) {
                    localNanos[r] = start(fsLocal);
                }
            } finally {
                unmount(local, mntLocal, fsLocal);
            }
            Path mnt = dir.resolve("mnt-s3");
            Path fs = dir.resolve("fs-s3");
            for (int r = 0; r < rounds; r++) {
                remote.run("catalog", "prefetch", "clear", "libpython3.11-minimal");
                remote.run("catalog", "prefetch", "clear", "libpython3.11-stdlib");
                deleteTree(remoteHome.resolve("cache"));
                mount(remote, mnt, fs);
                try {
                    coldNanos[r] = start(fs);
                    coldFetched[r] = fetchedBytes(mnt);
                } finally {
                    unmount(remote, mnt, fs); // stores the recorded lists
                }
                deleteTree(remoteHome.resolve("cache"));
                mount(remote, mnt, fs);
                try {
                    listNanos[r] = start(fs);
                    listFetched[r] = fetchedBytes(mnt);
                    JsonNode p = stats(mnt).path("prefetch");
                    listChunks = p.path("listed").asLong();
                    replayText[r] = String.format(Locale.ROOT, "replay when python exited: %d of %d listed chunks done, "
                            + "%d fetched, %d hits (listed chunks whose first read found them replayed)",
                            p.path("done").asLong(), listChunks, p.path("fetched").asLong(), p.path("hits").asLong());
                    warmNanos[r] = start(fs);
                } finally {
                    unmount(remote, mnt, fs);
                }
                report.add(String.format(Locale.ROOT, "round %d: local %.0f ms; S3 cold without list %.0f ms (%.1f MiB "
                                + "fetched); S3 cold with list %.0f ms (%.1f MiB fetched by the time python exited, list %d "
                                + "chunks); S3 warm %.0f ms; %s", r + 1, localNanos[r] / 1e6, coldNanos[r] / 1e6,
                        coldFetched[r] / 1048576.0, listNanos[r] / 1e6, listFetched[r] / 1048576.0, listChunks,
                        warmNanos[r] / 1e6, replayText[r]));
            }
            double local50 = BenchMedian.of(localNanos);
            report.add(String.format(Locale.ROOT, "median at %d ms added per request: local %.0f ms, S3 cold without list "
                            + "%.0f ms (%.2fx local), S3 cold with list %.0f ms (%.2fx local), S3 warm %.0f ms (%.2fx local); "
                            + "fetched before start: %.1f MiB without list, %.1f MiB with, of %.1f MiB of app files; "
                            + "load average %.1f", delayMs,
                    local50 / 1e6, BenchMedian.of(coldNanos) / 1e6, BenchMedian.of(coldNanos) / local50,
                    BenchMedian.of(listNanos) / 1e6, BenchMedian.of(listNanos) / local50,
                    BenchMedian.of(warmNanos) / 1e6, BenchMedian.of(warmNanos) / local50,
                    BenchMedian.of(coldFetched) / 1048576.0, BenchMedian.of(listFetched) / 1048576.0,
                    appBytes / 1048576.0, ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage()));
        } finally {
            for (int i = cleanups.size() - 1; i >= 0; i--) {
                cleanups.get(i).run();
            }
            deleteTree(dir);
        }
        String text = String.join("\n", report) + "\n";
        System.out.print("AppStartBench (python3 -c 'import " + MODULES + "')\n" + text);
        Path out = Path.of("target", "bench");
        Files.createDirectories(out);
        Files.writeString(out.resolve("app-start.txt"), text, StandardCharsets.UTF_8);
    }

    /** Medians of a few figures. */
    private static final class BenchMedian {
        static double of(long[] values) {
            long[] sorted = values.clone();
            Arrays.sort(sorted);
            int n = sorted.length;
            return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0;
        }
    }

    private static String[] concat(String[] a, String[] b) {
        String[] all = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }

    /** dcd mount, then the ext4 partition of disk.img on a read-only loop device, mounted by the kernel. */
    private void mount(DcdJar dcd, Path mnt, Path fs) throws Exception {
        Files.createDirectories(mnt);
        Files.createDirectories(fs);
        String out = dcd.ok("mount", VM, mnt.toString());
        assertTrue(out.startsWith("mounted " + VM), out);
        String loop = ok("losetup", "-f", "--show", "-r", "-o", Long.toString(PARTITION_OFFSET),
                mnt.resolve("disk.img").toString()).strip();
        Runnable detach = () -> VmCli.run("losetup", "-d", loop);
        cleanups.add(detach);
        ok("mount", "-t", "ext4", "-o", "ro,noload", loop, fs.toString());
        Runnable umount = () -> VmCli.run("umount", "-l", fs.toString());
        cleanups.add(umount);
        loops.put(fs, loop);
    }

    private final java.util.Map<Path, String> loops = new java.util.HashMap<>();

    private void unmount(DcdJar dcd, Path mnt, Path fs) throws Exception {
        ok("umount", fs.toString());
        ok("losetup", "-d", loops.remove(fs));
        DcdJar.Result r = dcd.run("umount", mnt.toString());
        assertEquals(0, r.code(), r.toString());
    }

    /** Drops the page cache, then runs python from the mounted stdlib; returns the wall time of the start. */
    private static long start(Path fs) throws Exception {
        ok("sync");
        Files.writeString(Path.of("/proc/sys/vm/drop_caches"), "3");
        ProcessBuilder pb = new ProcessBuilder("/usr/bin/python3.11", "-s", "-B", "-c",
                "import " + MODULES + "; print(json.__file__)");
        pb.environment().clear();
        pb.environment().put("PYTHONHOME", fs.resolve("usr").toString());
        pb.environment().put("PATH", "/usr/bin:/bin");
        pb.redirectErrorStream(true);
        long t0 = System.nanoTime();
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), "python did not exit");
        long nanos = System.nanoTime() - t0;
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.strip().startsWith(fs.resolve("usr/lib/python3.11/json").toString()),
                "the stdlib came from the mounted disk: " + out);
        return nanos;
    }

    private static JsonNode stats(Path mnt) throws IOException {
        return JSON.readTree(Files.readString(mnt.resolve("stats.json")));
    }

    /** Bytes the mount fetched from S3 so far: the cache's misses (each one 64 KiB chunk). */
    private static long fetchedBytes(Path mnt) throws IOException {
        return stats(mnt).path("cache").path("misses").asLong() * 65536L;
    }

    private static long treeBytes(Path root) throws IOException {
        try (Stream<Path> all = Files.walk(root)) {
            return all.filter(Files::isRegularFile).mapToLong(p -> {
                try {
                    return Files.size(p);
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }).sum();
        }
    }

    private static String ok(String... command) {
        VmCli.Result r = VmCli.run(command);
        assertEquals(0, r.code(), String.join(" ", command) + ": " + r);
        return r.out();
    }

    private static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> all = Files.walk(root)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
