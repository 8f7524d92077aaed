package dev.dcd.tests.mount;

import dev.dcd.tests.mount.MountSandbox.Dcd;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
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
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code dcd mount --supervised} against the real kernel: the server is killed with SIGKILL while a guest-like
 * workload runs (ext4 on a read-write loop device over {@code disk.img} writing and fsyncing files, a reader
 * hashing {@code files/}, a reader of {@code disk.img}); the mount must never fail a request, only pause.
 */
class SupervisedMountIT {
    private static final long DISK_SIZE = 64L << 20;
    private static final int KILLS = Integer.getInteger("supervised.kills", 20);

    @TempDir
    static Path shared;
    private static TestDisk disk;
    private static Map<String, String> treeDigests;

    @TempDir
    Path tmp;
    private Path home;
    private MountSandbox sandbox;

    @BeforeAll
    static void buildDisk() throws IOException {
        Path tree = shared.resolve("tree");
        TestDisk.writeRandomFiles(tree, 17, new int[] {0, 1, 4097, 131073, 1 << 20, 3_000_001}, "etc/app", "usr/lib");
        Files.writeString(tree.resolve("etc/app/config.txt"), "answer=42\n");
        disk = TestDisk.build(tree, shared.resolve("built"), DISK_SIZE);
        treeDigests = TestDisk.digests(tree);
    }

    @BeforeEach
    void newHome() throws IOException {
        sandbox = new MountSandbox(tmp, disk);
        home = sandbox.home();
        sandbox.addVm("web1");
    }

    @AfterEach
    void cleanUp() {
        sandbox.close();
    }

    @Test
    void killingTheServerRepeatedlyUnderAGuestWorkloadFailsNoReadOrWrite() throws Exception {
        Path mp = sandbox.mountpoint("mnt");
        Dcd mounted = sandbox.dcd("mount", "--supervised", "web1", mp.toString());
        assertEquals(0, mounted.code(), mounted.err());
        assertTrue(mounted.out().contains("supervisor pid"), mounted.out());
        long supervisor = record("pid");
        assertTrue(record("server-pid") > 0);

        String loop = sandbox.attach(mp.resolve("disk.img"), false);
        Path kernel = sandbox.kernelMount(loop, false);
        Files.createDirectories(kernel.resolve("w"));
        byte[] head = Arrays.copyOf(Files.readAllBytes(disk.image), 1 << 20); // GPT and the gap: no guest writes there

        AtomicBoolean stop = new AtomicBoolean();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        AtomicInteger failures = new AtomicInteger();
        Map<String, String> synced = new ConcurrentHashMap<>();
        AtomicLong worstWriteNanos = new AtomicLong();
        AtomicInteger readerPasses = new AtomicInteger();
        AtomicInteger writes = new AtomicInteger();
        List<Thread> workload = List.of(
                worker("writer", stop, failures, failure, i -> {
                    // A guest writing a file and fsyncing it: ext4 -> loop -> FUSE WRITE + FSYNC.
                    byte[] b = new byte[64 << 10];
                    new Random(i).nextBytes(b);
                    // A ring of 256 names (16 MiB) so that a long run does not fill the 64 MiB disk.
                    Path f = kernel.resolve("w").resolve("f" + (i % 256) + ".bin");
                    long t0 = System.nanoTime();
                    try (FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                            StandardOpenOption.TRUNCATE_EXISTING)) {
                        ByteBuffer buf = ByteBuffer.wrap(b);
                        while (buf.hasRemaining()) {
                            ch.write(buf);
                        }
                        ch.force(true);
                    }
                    worstWriteNanos.accumulateAndGet(System.nanoTime() - t0, Math::max);
                    synced.put(f.getFileName().toString(), TestDisk.sha256OfBytes(b));
                    writes.incrementAndGet();
                }),
                worker("files-reader", stop, failures, failure, i -> {
                    assertEquals(treeDigests, TestDisk.digests(mp.resolve("files")));
                    readerPasses.incrementAndGet();
                }),
                worker("disk-reader", stop, failures, failure, i -> {
                    // A fresh open of disk.img drops its page cache, so these reads reach the server.
                    byte[] read = new byte[head.length];
                    try (FileChannel ch = FileChannel.open(mp.resolve("disk.img"))) {
                        ByteBuffer buf = ByteBuffer.wrap(read);
                        while (buf.hasRemaining() && ch.read(buf, buf.position()) > 0) {
                            // reads until full
                        }
                    }
                    assertTrue(Arrays.equals(head, read), "disk.img's first MiB");
                }));
        workload.forEach(Thread::start);

        List<Long> pausesMillis = new ArrayList<>();
        Random moments = new Random(3);
        try {
            for (int k = 1; k <= KILLS; k++) {
                awaitStandby();
                Thread.sleep(100 + moments.nextInt(900)); // a random moment in the workload, not a synchronisation
                long server = record("server-pid");
                ProcessHandle handle = ProcessHandle.of(server).orElseThrow(() -> new AssertionError("server gone"));
                long t0 = System.nanoTime();
                Tools.ok("kill", "-9", Long.toString(server));
                // stats.json is direct_io and not cached: opening and reading it needs a live server.
                assertTrue(Files.readString(mp.resolve("stats.json")).startsWith("{"));
                pausesMillis.add((System.nanoTime() - t0) / 1_000_000);
                handle.onExit().get(30, TimeUnit.SECONDS);
                awaitRecord(k, server);
            }
        } finally {
            stop.set(true);
            for (Thread t : workload) {
                t.join(TimeUnit.SECONDS.toMillis(120));
            }
        }
        List<Long> sorted = new ArrayList<>(pausesMillis);
        Collections.sort(sorted);
        List<String> takeovers = Files.readAllLines(home.resolve("log/mount-web1.log")).stream()
                .filter(l -> l.contains("took over in") || l.contains("warmed up in"))
                .map(l -> l.replaceAll(".*(took over in \\d+ ms|warmed up in \\d+ ms).*", "$1")).toList();
        System.out.println("SupervisedMountIT: pauses in kill order (ms): " + pausesMillis + "; server log: " + takeovers);
        System.out.printf("SupervisedMountIT: %d kills; pause from kill -9 until a fresh request is answered: median %d ms,"
                        + " max %d ms; worst write+fsync %d ms; %d files written and synced; %d files/ passes; load %s%n", KILLS,
                sorted.get(sorted.size() / 2), sorted.get(sorted.size() - 1),
                worstWriteNanos.get() / 1_000_000, writes.get(), readerPasses.get(),
                Files.readString(Path.of("/proc/loadavg")).strip());
        if (failure.get() != null) {
            Files.readAllLines(home.resolve("log/mount-web1.log")).stream()
                    .filter(l -> l.contains("failed") || l.contains("refused") || l.contains("ended"))
                    .forEach(l -> System.out.println("SupervisedMountIT: mount log: " + l));
            throw new AssertionError(failures.get() + " failed operations; the first:", failure.get());
        }
        assertEquals(0, failures.get());
        assertEquals(KILLS, record("restarts"));
        assertEquals(supervisor, record("pid"), "the supervisor stayed");
        assertTrue(synced.size() > 0 && readerPasses.get() > 0, "the workload ran");

        // Everything synced is on the disk, and the file system is clean, as a fresh (unsupervised) mount sees it.
        sandbox.unmountKernel(kernel);
        sandbox.detach(loop);
        Dcd unmounted = sandbox.dcd("umount", mp.toString());
        assertEquals(0, unmounted.code(), unmounted.err());
        assertFalse(ProcessHandle.of(supervisor).map(ProcessHandle::isAlive).orElse(false), "the supervisor ended");
        assertEquals(0, sandbox.dcd("mount", "--unsupervised", "web1", mp.toString()).code());
        String again = sandbox.attach(mp.resolve("disk.img"), true);
        Tools.Result fsck = Tools.run("e2fsck", "-fn", again);
        assertEquals(0, fsck.code(), fsck.all());
        Path ro = sandbox.kernelMount(again, true);
        for (Map.Entry<String, String> e : synced.entrySet()) {
            assertEquals(e.getValue(), TestDisk.sha256(ro.resolve("w").resolve(e.getKey())), e.getKey());
        }
    }

    @Test
    void umountEndsTheSupervisorAndEveryServer() throws Exception {
        Path mp = sandbox.mountpoint("mnt");
        assertEquals(0, sandbox.dcd("mount", "--supervised", "web1", mp.toString()).code());
        ProcessHandle supervisor = ProcessHandle.of(record("pid")).orElseThrow();
        List<ProcessHandle> servers = supervisor.children().toList();
        assertEquals(2, servers.size(), "the server and its standby");
        Dcd u = sandbox.dcd("umount", mp.toString());
        assertEquals(0, u.code(), u.err());
        supervisor.onExit().get(30, TimeUnit.SECONDS);
        for (ProcessHandle s : servers) {
            s.onExit().get(30, TimeUnit.SECONDS);
        }
        assertFalse(Files.exists(home.resolve("mounts/web1.pid")), "record removed");
        assertFalse(Files.exists(mp.resolve("disk.img")), "unmounted");
    }

    @Test
    void sigtermToTheSupervisorUnmountsCleanly() throws Exception {
        Path mp = sandbox.mountpoint("mnt");
        assertEquals(0, sandbox.dcd("mount", "--supervised", "web1", mp.toString()).code());
        ProcessHandle supervisor = ProcessHandle.of(record("pid")).orElseThrow();
        List<ProcessHandle> servers = supervisor.children().toList();
        Tools.ok("kill", "-TERM", Long.toString(supervisor.pid()));
        supervisor.onExit().get(30, TimeUnit.SECONDS);
        for (ProcessHandle s : servers) {
            s.onExit().get(30, TimeUnit.SECONDS);
        }
        assertTrue(Tools.run("findmnt", mp.toString()).code() != 0, "no mount left at " + mp);
        assertFalse(Files.exists(home.resolve("mounts/web1.pid")), "record removed");
    }

    @Test
    void aServerThatKeepsCrashingIsGivenUpOnWithOneLogLine() throws Exception {
        Path mp = sandbox.mountpoint("mnt");
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), TestDcd.class.getName(), "--home", home.toString(),
                "mount", "--supervised", "web1", mp.toString()));
        Tools.Result r = Tools.run(command, Map.of("DCD_MOUNT_MAX_CRASHES", "2"), 120);
        assertEquals(0, r.code(), r.all());
        ProcessHandle supervisor = ProcessHandle.of(record("pid")).orElseThrow();
        // From now on no server can open the VM's disk: every start fails.
        Files.move(home.resolve("vms/web1/disk.img"), home.resolve("vms/web1/disk.img.away"));
        Tools.ok("kill", "-9", Long.toString(record("server-pid")));
        supervisor.onExit().get(60, TimeUnit.SECONDS);
        String log = Files.readString(home.resolve("log/mount-web1.log"));
        assertTrue(log.contains("giving up on web1: 3 server crashes within 60 s; unmounting " + mp), log);
        assertTrue(Tools.run("findmnt", mp.toString()).code() != 0, "no mount left at " + mp);
        assertFalse(Files.exists(home.resolve("mounts/web1.pid")), "record removed");
    }

    @Test
    void directReadsOfDiskImgArriveInOneMebibyteRequestsInsteadOf128KiB() throws Exception {
        sandbox.addVm("web2");
        Path plain = sandbox.mountpoint("plain");
        Path supervised = sandbox.mountpoint("supervised");
        assertEquals(0, sandbox.dcd("mount", "--unsupervised", "web1", plain.toString()).code());
        assertEquals(0, sandbox.dcd("mount", "--supervised", "web2", supervised.toString()).code());
        Map<Path, List<Double>> mibPerSecond = new java.util.LinkedHashMap<>();
        Map<Path, Long> readsPerPass = new java.util.LinkedHashMap<>();
        for (int round = 0; round < 3; round++) {
            for (Path mp : List.of(plain, supervised)) {
                long before = deviceReads(mp);
                long t0 = System.nanoTime();
                Tools.ok("dd", "if=" + mp.resolve("disk.img"), "of=/dev/null", "bs=1M", "iflag=direct");
                double seconds = (System.nanoTime() - t0) / 1e9;
                readsPerPass.put(mp, deviceReads(mp) - before);
                mibPerSecond.computeIfAbsent(mp, k -> new ArrayList<>()).add(Math.round(DISK_SIZE / 1048576.0 / seconds * 10) / 10.0);
            }
        }
        System.out.printf("SupervisedMountIT: dd bs=1M iflag=direct of the 64 MiB disk.img, MiB/s per pass: default (libfuse2) %s,"
                        + " %d requests per pass; supervised (low-level) %s, %d requests per pass; load %s%n",
                mibPerSecond.get(plain), readsPerPass.get(plain), mibPerSecond.get(supervised), readsPerPass.get(supervised),
                Files.readString(Path.of("/proc/loadavg")).strip());
        assertEquals(DISK_SIZE / (128 << 10), readsPerPass.get(plain), "libfuse 2: 128 KiB requests");
        assertEquals(DISK_SIZE / (1 << 20), readsPerPass.get(supervised), "max_pages 256: 1 MiB requests");
    }

    /** Device reads the mount's source counted so far (FileMountSource's stats.json). */
    private static long deviceReads(Path mountpoint) throws IOException {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"reads\":(\\d+)")
                .matcher(Files.readString(mountpoint.resolve("stats.json")));
        assertTrue(m.find());
        return Long.parseLong(m.group(1));
    }

    // ---------------------------------------------------------------- plumbing

    interface Step {
        void run(int i) throws Exception;
    }

    private static Thread worker(String name, AtomicBoolean stop, AtomicInteger failures,
                                 AtomicReference<Throwable> first, Step step) {
        Thread t = new Thread(() -> {
            for (int i = 0; !stop.get(); i++) {
                try {
                    step.run(i);
                } catch (Throwable e) {
                    failures.incrementAndGet();
                    first.compareAndSet(null, new AssertionError(name + " step " + i, e));
                }
            }
        }, name);
        t.setDaemon(true);
        return t;
    }

    /** Waits until a warm standby waits for the lock (the supervisor records it once the standby says so). */
    private void awaitStandby() throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (record("standby-pid") <= 0) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("no standby: " + Files.readString(home.resolve("mounts/web1.pid")));
            }
            waitWhileTheSupervisorLives();
        }
    }

    /** Waits until the supervisor recorded restart {@code k} and a server other than {@code killed}. */
    private void awaitRecord(int k, long killed) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (record("restarts") < k || record("server-pid") == killed || record("server-pid") <= 0) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("restart " + k + " not recorded: " + Files.readString(home.resolve("mounts/web1.pid")));
            }
            waitWhileTheSupervisorLives();
        }
    }

    /** Waits 20 ms on the supervisor's exit, which must not come. */
    private void waitWhileTheSupervisorLives() throws Exception {
        ProcessHandle supervisor = ProcessHandle.of(record("pid")).orElseThrow(() -> new AssertionError("no supervisor"));
        try {
            supervisor.onExit().get(20, TimeUnit.MILLISECONDS);
            throw new AssertionError("the supervisor ended: " + Files.readString(home.resolve("log/mount-web1.log")));
        } catch (java.util.concurrent.TimeoutException stillThere) {
            // as it should
        }
    }

    private long record(String key) throws IOException {
        return sandbox.mountRecord("web1", key);
    }
}
