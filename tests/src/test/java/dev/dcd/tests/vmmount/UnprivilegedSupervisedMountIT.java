package dev.dcd.tests.vmmount;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static dev.dcd.tests.vmmount.VmCli.dcdOk;
import static dev.dcd.tests.vmmount.VmCli.quietly;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A user who is not root gets a supervised mount too: the setuid {@code fusermount} mounts and hands the
 * {@code /dev/fuse} descriptor to dcd's supervisor over a socket, and the mount survives kill -9 of its server.
 * Runs the real jar as {@code nobody} (uid 65534) with {@code setpriv}.
 *
 * <p>fusermount opens {@code /dev/fuse} as the calling user. Debian's udev rule makes it 0666; this test's
 * container has it 0600, so the test widens it to 0666 for its run and puts the old mode back afterwards.
 */
class UnprivilegedSupervisedMountIT {
    private static final String NOBODY = "65534";
    private static final int KILLS = 3;

    @TempDir
    Path tmp;
    private Path home;
    private Path mountpoint;
    private String fuseModeBefore;

    @AfterEach
    void cleanUp() {
        if (mountpoint != null) {
            quietly(asNobody("java", "-jar", VmCli.JAR.toString(), "--home", home.toString(), "umount",
                    mountpoint.toString()).toArray(String[]::new));
            quietly("fusermount", "-u", "-z", mountpoint.toString());
        }
        if (fuseModeBefore != null) {
            quietly("chmod", fuseModeBefore, "/dev/fuse");
        }
    }

    @Test
    void nobodyMountsSupervisedThroughFusermountAndReadsOnAcrossKillsOfTheServer() throws Exception {
        Path app = Files.createDirectories(tmp.resolve("tool-1.0/bin"));
        byte[] blob = new byte[3_000_001];
        new Random(17).nextBytes(blob);
        Files.write(app.resolve("blob"), blob);
        Files.writeString(app.resolve("readme"), "served to nobody\n");
        String blobSha = VmCli.sha256(app.resolve("blob"));
        home = tmp.resolve("home");
        dcdOk(home, "catalog", "import", app.getParent().toString());
        dcdOk(home, "vm", "create", "web", "--size", "64M");
        dcdOk(home, "vm", "assign", "web", "tool");
        dcdOk(home, "disk", "build", "web");
        mountpoint = Files.createDirectories(tmp.resolve("mnt"));
        VmCli.ok("chown", "-R", NOBODY + ":" + NOBODY, tmp.toString());
        VmCli.ok("chmod", "755", tmp.toString());
        fuseModeBefore = VmCli.ok("stat", "-c", "%a", "/dev/fuse").strip();
        VmCli.ok("chmod", "666", "/dev/fuse");

        VmCli.Result mounted = nobody("java", "-jar", VmCli.JAR.toString(), "--home", home.toString(), "mount", "web",
                mountpoint.toString());

        assertEquals(0, mounted.code(), mounted.toString());
        assertTrue(mounted.out().contains("supervisor pid"), "supervised, not the fallback: " + mounted);
        String line = VmCli.ok("grep", " " + mountpoint + " ", "/proc/mounts");
        assertTrue(line.startsWith("dcd:web " + mountpoint + " fuse.dcd "), line);
        assertTrue(line.contains("user_id=" + NOBODY), "mounted by nobody through fusermount: " + line);
        assertEquals(blobSha + "  " + mountpoint.resolve("files/bin/blob") + "\n",
                nobodyOk("sha256sum", mountpoint.resolve("files/bin/blob").toString()));
        String diskSha = nobodyOk("sha256sum", mountpoint.resolve("disk.img").toString());

        // A reader as nobody hashes the app file in a loop while its server is killed; any failed read ends it.
        Path stop = tmp.resolve("stop");
        Path readerLog = tmp.resolve("reader.log");
        Process reader = new ProcessBuilder(asNobody("sh", "-c", "n=0; while [ ! -e " + stop + " ]; do"
                + " s=$(sha256sum " + mountpoint.resolve("files/bin/blob") + ") || exit 1;"
                + " [ \"${s%% *}\" = " + blobSha + " ] || exit 2; n=$((n+1)); done; echo passes=$n"))
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectErrorStream(true).redirectOutput(readerLog.toFile()).start();
        try {
            long server = record("server-pid");
            for (int k = 1; k <= KILLS; k++) {
                // pid 0 or -1 would signal a whole process group or every process: only ever a real server's pid.
                assertTrue(server > 1, "the record names the serving process: " + server);
                VmCli.ok("kill", "-9", Long.toString(server));
                long killed = server;
                int restarts = k;
                // The record says server-pid=0 between the death and the standby's take-over: wait for a new one.
                awaitRecord(() -> record("restarts") >= restarts && record("server-pid") > 1
                        && record("server-pid") != killed, "restart " + k);
                server = record("server-pid");
                assertTrue(reader.isAlive(), "the reader saw no failed read: " + Files.readString(readerLog));
            }
        } finally {
            Files.writeString(stop, "");
            VmCli.ok("chown", NOBODY, stop.toString());
        }
        assertTrue(reader.waitFor(60, TimeUnit.SECONDS), "the reader ends once told");
        String readerOut = Files.readString(readerLog);
        assertEquals(0, reader.exitValue(), "every read across " + KILLS + " kills returned the right bytes: " + readerOut);
        assertTrue(readerOut.startsWith("passes="), readerOut);
        assertEquals(diskSha, nobodyOk("sha256sum", mountpoint.resolve("disk.img").toString()), "disk.img after kills");

        long supervisor = record("pid");
        VmCli.Result umount = nobody("java", "-jar", VmCli.JAR.toString(), "--home", home.toString(), "umount",
                mountpoint.toString());
        assertEquals(0, umount.code(), umount.toString());
        assertFalse(VmCli.run("grep", " " + mountpoint + " ", "/proc/mounts").code() == 0, "unmounted");
        ProcessHandle.of(supervisor).ifPresent(p -> p.onExit().orTimeout(30, TimeUnit.SECONDS).join());
        mountpoint = null;
    }

    private long record(String key) throws IOException {
        Properties p = new Properties();
        try (var in = Files.newInputStream(home.resolve("mounts/web.pid"))) {
            p.load(in);
        }
        return Long.parseLong(p.getProperty(key, "-1"));
    }

    private interface Condition {
        boolean holds() throws IOException;
    }

    /** Waits (bounded) until {@code condition} holds of the mount record, which the supervisor rewrites. */
    private void awaitRecord(Condition condition, String what) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        Path file = home.resolve("mounts/web.pid");
        try (var watch = file.getFileSystem().newWatchService()) {
            file.getParent().register(watch, java.nio.file.StandardWatchEventKinds.ENTRY_CREATE,
                    java.nio.file.StandardWatchEventKinds.ENTRY_MODIFY);
            while (!condition.holds()) {
                long left = deadline - System.nanoTime();
                assertTrue(left > 0, what + " never showed in " + file + ": " + Files.readString(file));
                var signalled = watch.poll(Math.min(left, TimeUnit.MILLISECONDS.toNanos(200)), TimeUnit.NANOSECONDS);
                if (signalled != null) {
                    signalled.pollEvents();
                    signalled.reset();
                }
            }
        }
    }

    private static List<String> asNobody(String... command) {
        List<String> c = new ArrayList<>(List.of("setpriv", "--reuid=" + NOBODY, "--regid=" + NOBODY, "--clear-groups"));
        c.addAll(List.of(command));
        return c;
    }

    private VmCli.Result nobody(String... command) {
        List<String> c = new ArrayList<>(List.of("env", "HOME=" + tmp));
        c.addAll(List.of(command));
        return VmCli.run(asNobody(c.toArray(String[]::new)), 120);
    }

    private String nobodyOk(String... command) {
        VmCli.Result r = nobody(command);
        assertEquals(0, r.code(), String.join(" ", command) + ": " + r);
        return r.out();
    }
}
