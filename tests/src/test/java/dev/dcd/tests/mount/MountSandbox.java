package dev.dcd.tests.mount;

import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * One test's dcd home with VMs over a built {@link TestDisk}, and everything the test mounts or attaches on the
 * way (FUSE mountpoints, loop devices, kernel ext4 mounts), so that {@link #close()} undoes it all even when the
 * test failed half-way. Shared by the mount ITs.
 */
final class MountSandbox implements AutoCloseable {
    /** One in-process {@code dcd} run: its exit code and what it printed. */
    record Dcd(int code, String out, String err) {
    }

    private final Path tmp;
    private final Path home;
    private final TestDisk disk;
    private final List<Path> mountpoints = new ArrayList<>();
    private final List<String> loops = new ArrayList<>();
    private final List<Path> kernelMounts = new ArrayList<>();

    /** A home under {@code tmp} (which must be the test's own) with nothing in it yet. */
    MountSandbox(Path tmp, TestDisk disk) {
        this.tmp = tmp;
        this.home = tmp.resolve("home");
        this.disk = disk;
    }

    Path home() {
        return home;
    }

    /** Gives VM {@code vm} its own sparse copy of the built disk, index and descriptor. */
    void addVm(String vm) throws IOException {
        Path dir = home.resolve("vms").resolve(vm);
        Files.createDirectories(dir);
        Tools.ok("cp", "--sparse=always", disk.image.toString(), dir.resolve("disk.img").toString());
        Files.copy(disk.index, dir.resolve("files.idx"));
        Files.copy(disk.descriptor, dir.resolve("disk.vmdk"));
    }

    /** Runs {@code dcd args} in this process against the home. */
    Dcd dcd(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cl = TestDcd.commandLine(home);
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        return new Dcd(code, out.toString(), err.toString());
    }

    /** An empty directory to mount on, unmounted (dcd umount, then fusermount -uz) at the end. */
    Path mountpoint(String name) {
        Path p = tmp.resolve(name);
        try {
            Files.createDirectories(p);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        mountpoints.add(p);
        return p;
    }

    /** The partition of the FUSE disk.img as a loop device, detached at the end. */
    String attach(Path image, boolean readOnly) {
        List<String> cmd = new ArrayList<>(List.of("losetup", "-f", "--show", "-o", Long.toString(TestDisk.PARTITION_OFFSET),
                "--sizelimit", Long.toString(disk.partitionLength)));
        if (readOnly) {
            cmd.add("-r");
        }
        cmd.add(image.toString());
        Tools.Result r = Tools.run(cmd);
        assertEquals(0, r.code(), r.all());
        String loop = r.out().strip();
        loops.add(loop);
        return loop;
    }

    /** The ext4 on {@code loop} mounted by the kernel (read-only without replaying the journal, or read-write). */
    Path kernelMount(String loop, boolean readOnly) throws IOException {
        Path m = Files.createTempDirectory(tmp, "kernel");
        Tools.ok("mount", "-t", "ext4", "-o", readOnly ? "ro,noload" : "rw", loop, m.toString());
        kernelMounts.add(m);
        return m;
    }

    /** Unmounts a kernel mount of {@link #kernelMount} now (it must succeed), so that the end leaves it be. */
    void unmountKernel(Path m) {
        Tools.ok("umount", m.toString());
        kernelMounts.remove(m);
    }

    /** Detaches a loop device of {@link #attach} now (it must succeed), so that the end leaves it be. */
    void detach(String loop) {
        Tools.ok("losetup", "-d", loop);
        loops.remove(loop);
    }

    /** A key of the mount record (home/mounts/VM.pid) as a number; -1 when the record lacks it. */
    long mountRecord(String vm, String key) throws IOException {
        Properties p = new Properties();
        try (var in = Files.newInputStream(home.resolve("mounts").resolve(vm + ".pid"))) {
            p.load(in);
        }
        return Long.parseLong(p.getProperty(key, "-1"));
    }

    /** Undoes in reverse order of building up: kernel mounts, then loop devices, then the FUSE mounts. */
    @Override
    public void close() {
        for (Path m : kernelMounts) {
            Tools.quietly("umount", "-l", m.toString());
        }
        for (String loop : loops) {
            Tools.quietly("losetup", "-d", loop);
        }
        for (Path m : mountpoints) {
            dcd("umount", m.toString());
            Tools.quietly("fusermount", "-u", "-z", m.toString());
        }
    }
}
