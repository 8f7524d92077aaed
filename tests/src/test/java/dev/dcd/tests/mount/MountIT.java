package dev.dcd.tests.mount;

import dev.dcd.tests.mount.MountSandbox.Dcd;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * dcd mount / umount against the real kernel: FUSE, loop devices, ext4, e2fsck, qemu-img. The disk is a GPT +
 * ext4 image built by mke2fs -d; its files/ index comes from debugfs.
 */
class MountIT {
    private static final long DISK_SIZE = 64L << 20;

    @TempDir
    static Path shared;
    private static TestDisk disk;

    @TempDir
    Path tmp;
    private Path home;
    private MountSandbox sandbox;

    @BeforeAll
    static void buildDisk() throws IOException {
        Path tree = shared.resolve("tree");
        int[] sizes = {0, 1, 4095, 4096, 4097, 131071, 131072, 131073, 1 << 20, 3_000_001};
        TestDisk.writeRandomFiles(tree, 42, sizes, "etc/app", "usr/lib/deep/er");
        Files.writeString(tree.resolve("etc/app/config.txt"), "answer=42\n");
        Files.createLink(tree.resolve("etc/app/config-link.txt"), tree.resolve("etc/app/config.txt"));
        Files.createSymbolicLink(tree.resolve("usr/lib/current"), Path.of("deep/er"));
        disk = TestDisk.build(tree, shared.resolve("built"), DISK_SIZE);
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

    // ---------------------------------------------------------------- what the kernel and tools see

    @Test
    void theMountedDiskPassesE2fsckAndTheKernelReadsEveryFileIntact() throws IOException {
        Path mp = sandbox.mountpoint("mnt");
        Dcd mounted = sandbox.dcd("mount", "web1", mp.toString());
        assertEquals(0, mounted.code(), mounted.err());
        assertTrue(mounted.out().contains("mounted web1 at " + mp), mounted.out());
        assertEquals(DISK_SIZE, Files.size(mp.resolve("disk.img")));

        String loop = sandbox.attach(mp.resolve("disk.img"), true);
        Tools.Result fsck = Tools.run("e2fsck", "-fn", loop);
        assertEquals(0, fsck.code(), fsck.all());

        Path kernel = sandbox.kernelMount(loop, true);
        assertEquals(TestDisk.digests(disk.tree), TestDisk.digests(kernel));
    }

    @Test
    void filesShowsTheSynthesizedTreeWithContentsLinksAndAttributes() throws IOException {
        Path mp = sandbox.mountpoint("mnt");
        assertEquals(0, sandbox.dcd("mount", "web1", mp.toString()).code());
        Path files = mp.resolve("files");
        assertEquals(TestDisk.digests(disk.tree), TestDisk.digests(files));
        assertEquals("deep/er", Files.readSymbolicLink(files.resolve("usr/lib/current")).toString());
        Object a = Files.getAttribute(files.resolve("etc/app/config.txt"), "unix:ino");
        Object b = Files.getAttribute(files.resolve("etc/app/config-link.txt"), "unix:ino");
        assertEquals(a, b);
        assertEquals(2, Files.getAttribute(files.resolve("etc/app/config.txt"), "unix:nlink"));
        assertEquals(Files.getLastModifiedTime(disk.tree.resolve("etc/app/f0.bin")),
                Files.getLastModifiedTime(files.resolve("etc/app/f0.bin")));
        assertEquals(Files.getAttribute(disk.tree.resolve("usr/lib/deep/er/f9.bin"), "unix:mode"),
                Files.getAttribute(files.resolve("usr/lib/deep/er/f9.bin"), "unix:mode"));
        FileSystemException refused = assertThrows(FileSystemException.class,
                () -> Files.writeString(files.resolve("etc/app/config.txt"), "x"));
        assertTrue(refused.getMessage().contains("Read-only file system"), refused.getMessage());

        String stats = Files.readString(mp.resolve("stats.json"));
        assertTrue(stats.startsWith("{\"vm\":\"web1\"") && stats.contains("\"readBytes\":"), stats);
    }

    @Test
    void qemuImgReadsTheDescriptorAsTheSameDisk() {
        Path mp = sandbox.mountpoint("mnt");
        assertEquals(0, sandbox.dcd("mount", "web1", mp.toString()).code());
        String info = Tools.ok("qemu-img", "info", "--output=json", mp.resolve("disk.vmdk").toString());
        assertTrue(info.contains("\"virtual-size\": " + DISK_SIZE), info);
        assertTrue(info.contains("\"format\": \"vmdk\""), info);
        Tools.Result compare = Tools.run("qemu-img", "compare", "-f", "vmdk", "-F", "raw",
                mp.resolve("disk.vmdk").toString(), disk.image.toString());
        assertEquals(0, compare.code(), compare.all());
    }

    @Test
    void writesThroughAKernelMountSurviveUnmountAndRemount() throws IOException {
        Path mp = sandbox.mountpoint("mnt");
        assertEquals(0, sandbox.dcd("mount", "web1", mp.toString()).code());
        String loop = sandbox.attach(mp.resolve("disk.img"), false);
        Path kernel = sandbox.kernelMount(loop, false);
        byte[] payload = new byte[2_500_000];
        new Random(7).nextBytes(payload);
        Files.write(kernel.resolve("written.bin"), payload);
        sandbox.unmountKernel(kernel);
        sandbox.detach(loop);

        Dcd umount = sandbox.dcd("umount", mp.toString());
        assertEquals(0, umount.code(), umount.err());
        assertFalse(Files.exists(mp.resolve("disk.img")));
        assertEquals(0, sandbox.dcd("mount", "web1", mp.toString()).code());

        String again = sandbox.attach(mp.resolve("disk.img"), true);
        Tools.Result fsck = Tools.run("e2fsck", "-fn", again);
        assertEquals(0, fsck.code(), fsck.all());
        Path ro = sandbox.kernelMount(again, true);
        assertEquals(TestDisk.sha256OfBytes(payload), TestDisk.sha256(ro.resolve("written.bin")));
    }

    // ---------------------------------------------------------------- lifecycle

    @Test
    void aKilledServerLeavesAStaleMountThatTheNextMountCleansUp() throws Exception {
        Path mp = sandbox.mountpoint("mnt");
        assertEquals(0, sandbox.dcd("mount", "web1", mp.toString()).code());
        long pid = sandbox.mountRecord("web1", "pid");
        ProcessHandle server = ProcessHandle.of(pid).orElseThrow();
        Tools.ok("kill", "-9", Long.toString(pid));
        server.onExit().get(10, TimeUnit.SECONDS);
        FileSystemException stale = assertThrows(FileSystemException.class,
                () -> Files.readAttributes(mp, java.nio.file.attribute.BasicFileAttributes.class));
        assertTrue(stale.getMessage().contains("Transport endpoint is not connected"), stale.getMessage());

        Dcd again = sandbox.dcd("mount", "web1", mp.toString());
        assertEquals(0, again.code(), again.err());
        assertTrue(again.out().contains("cleaning up stale mount"), again.out());
        assertEquals(DISK_SIZE, Files.size(mp.resolve("disk.img")));
        assertTrue(sandbox.mountRecord("web1", "pid") != pid);
    }

    @Test
    void umountRefusesWhileALoopDeviceIsAttachedAndNamesIt() {
        Path mp = sandbox.mountpoint("mnt");
        assertEquals(0, sandbox.dcd("mount", "web1", mp.toString()).code());
        String loop = sandbox.attach(mp.resolve("disk.img"), true);

        Dcd refused = sandbox.dcd("umount", mp.toString());
        assertEquals(1, refused.code());
        assertTrue(refused.err().contains("in use") && refused.err().contains(loop), refused.err());
        assertTrue(Files.exists(mp.resolve("disk.img")), "still mounted");

        sandbox.detach(loop);
        assertEquals(0, sandbox.dcd("umount", mp.toString()).code());
    }

    @Test
    void umountOfABusyMountNamesTheProcessAndDoesNotHang() throws Exception {
        Path mp = sandbox.mountpoint("mnt");
        assertEquals(0, sandbox.dcd("mount", "web1", mp.toString()).code());
        Process holder = new ProcessBuilder("sleep", "60").directory(mp.resolve("files").toFile()).start();
        try {
            Dcd refused = sandbox.dcd("umount", mp.toString());
            assertEquals(1, refused.code());
            assertTrue(refused.err().contains("pid " + holder.pid() + " (sleep)"), refused.err());
        } finally {
            holder.destroyForcibly().waitFor();
        }
        assertEquals(0, sandbox.dcd("umount", mp.toString()).code());
    }

    @Test
    void mountProblemsAreOneLineErrorsThatChangeNothing() throws IOException {
        Path missing = tmp.resolve("nowhere/mnt");
        assertError(sandbox.dcd("mount", "web1", missing.toString()), "does not exist");
        Path missingLeaf = tmp.resolve("missing");
        assertError(sandbox.dcd("mount", "web1", missingLeaf.toString()), "mountpoint " + missingLeaf + " does not exist");

        Path full = sandbox.mountpoint("full");
        Files.writeString(full.resolve("x"), "x");
        assertError(sandbox.dcd("mount", "web1", full.toString()), "not an empty directory");

        assertError(sandbox.dcd("mount", "ghost", sandbox.mountpoint("ghost").toString()), "VM ghost has no built disk");

        Path mp = sandbox.mountpoint("mnt");
        assertEquals(0, sandbox.dcd("mount", "web1", mp.toString()).code());
        assertError(sandbox.dcd("mount", "web1", sandbox.mountpoint("other").toString()), "VM web1 is already mounted at " + mp);
        sandbox.addVm("web2");
        assertError(sandbox.dcd("mount", "web2", mp.toString()), mp + " is busy: dcd:web1 (fuse.dcd) is mounted there");
        assertError(sandbox.dcd("umount", sandbox.mountpoint("idle").toString()), "is not mounted");
        assertTrue(Files.exists(mp.resolve("disk.img")), "the first mount is untouched");
    }

    @Test
    void foregroundServesUntilInterruptedAndThenUnmountsCleanly() throws Exception {
        Path mp = sandbox.mountpoint("fg");
        // env --default-signal=INT: a JVM whose parent ignored SIGINT (a background job of a non-interactive shell,
        // as CI may be) installs no Ctrl-C handler; this test's SIGINT must act as a user's Ctrl-C.
        List<String> cmd = new ArrayList<>(List.of("env", "--default-signal=INT"));
        cmd.addAll(TestDcd.context(home).relaunchPrefix());
        cmd.addAll(List.of("mount", "web1", mp.toString(), "--foreground"));
        Process fg = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(tmp.resolve("fg.log").toFile()).start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!Files.exists(mp.resolve("disk.img"))) {
                assertTrue(fg.isAlive() && System.nanoTime() < deadline, Files.readString(tmp.resolve("fg.log")));
                Thread.sleep(50);
            }
            assertEquals(fg.pid(), sandbox.mountRecord("web1", "pid"));
            Tools.ok("kill", "-INT", Long.toString(fg.pid()));
            assertTrue(fg.waitFor(20, TimeUnit.SECONDS), "foreground mount exits on SIGINT");
            assertFalse(Tools.ok("cat", "/proc/self/mountinfo").contains(" " + mp + " "), "unmounted");
            assertFalse(Files.exists(home.resolve("mounts/web1.pid")), "pid file removed");
        } finally {
            fg.destroyForcibly();
        }
    }

    // ---------------------------------------------------------------- helpers

    private static void assertError(Dcd result, String expected) {
        assertEquals(1, result.code(), result.out());
        String err = result.err().strip();
        assertFalse(err.contains("\n"), "one line: " + err);
        assertTrue(err.contains(expected), err);
    }
}
