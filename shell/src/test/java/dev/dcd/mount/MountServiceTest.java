package dev.dcd.mount;

import dev.dcd.block.BlockDevice;
import dev.dcd.synth.FileIndex;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The checks dcd mount and dcd umount make before touching FUSE; nothing here mounts. */
class MountServiceTest {
    @TempDir
    Path tmp;

    private MountService service() {
        MountContext ctx = MountContext.of(tmp.resolve("home"), vm -> {
            throw new IOException("VM " + vm + " has no built disk");
        });
        return new MountService(ctx, new PrintWriter(new StringWriter(), true));
    }

    private void record(String vm, Path mountpoint, long pid) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("home/mounts"));
        Files.writeString(dir.resolve(vm + ".pid"), "vm=" + vm + "\nmountpoint=" + mountpoint + "\npid=" + pid + "\n");
    }

    @Test
    void mountsAreSupervisedByDefaultAndEveryFallbackSaysWhyInOneLogLine() {
        assertEquals(null, MountService.unsupervisedBecause(false, false, null), "root or not: supervised");
        assertEquals(null, MountService.unsupervisedBecause(false, false, "1"));
        assertEquals("--nbd serves NBD from the mount's own process", MountService.unsupervisedBecause(false, true, null));
        assertEquals("DCD_MOUNT_SUPERVISED=0", MountService.unsupervisedBecause(false, false, "0"));
        assertEquals("", MountService.unsupervisedBecause(true, false, null), "--foreground was asked for: no line");
        assertEquals("dcd mount: serving web1 without a supervisor (--nbd serves NBD from the mount's own process): if"
                + " the server dies, the mount stays stale until the next dcd mount",
                MountService.fallbackLine("web1", MountService.unsupervisedBecause(false, true, null)));
    }

    @Test
    void supervisedAndUnsupervisedTogetherAreOneLineError() {
        StringWriter err = new StringWriter();
        picocli.CommandLine cl = new picocli.CommandLine(new MountCommand(MountContext.of(tmp.resolve("home"), vm -> {
            throw new IOException("unused");
        })));
        cl.setErr(new PrintWriter(err, true));
        assertEquals(1, cl.execute("--supervised", "--unsupervised", "web1", tmp.toString()));
        assertEquals("dcd: --supervised and --unsupervised exclude each other\n", err.toString());
    }

    @Test
    void aMissingMountpointIsNamed() {
        MountException e = assertThrows(MountException.class,
                () -> service().mount("web1", tmp.resolve("nope"), false, false));
        assertEquals("mountpoint " + tmp.resolve("nope") + " does not exist", e.getMessage());
    }

    @Test
    void aMountpointWithFilesInItIsBusy() throws IOException {
        Path mp = Files.createDirectories(tmp.resolve("mp"));
        Files.writeString(mp.resolve("x"), "x");
        MountException e = assertThrows(MountException.class, () -> service().mount("web1", mp, false, false));
        assertTrue(e.getMessage().endsWith("is busy: not an empty directory"), e.getMessage());
    }

    @Test
    void aVmWhosePidFileNamesALiveServerIsAlreadyMounted() throws IOException {
        Path mp = Files.createDirectories(tmp.resolve("mp"));
        record("web1", Path.of("/mnt/elsewhere"), ProcessHandle.current().pid());
        MountException e = assertThrows(MountException.class, () -> service().mount("web1", mp, false, false));
        assertEquals("VM web1 is already mounted at /mnt/elsewhere (pid " + ProcessHandle.current().pid() + ")",
                e.getMessage());
    }

    @Test
    void aPidFileOfADeadServerIsForgottenAndTheFactoryDecides() throws Exception {
        Path mp = Files.createDirectories(tmp.resolve("mp"));
        Process dead = new ProcessBuilder("true").start();
        dead.waitFor();
        record("web1", Path.of("/mnt/elsewhere"), dead.pid());
        MountException e = assertThrows(MountException.class, () -> service().mount("web1", mp, false, false));
        assertEquals("cannot mount VM web1: VM web1 has no built disk", e.getMessage());
        assertFalse(Files.exists(tmp.resolve("home/mounts/web1.pid")));
    }

    @Test
    void umountOfADirectoryThatIsNotMountedSaysSo() throws IOException {
        Path mp = Files.createDirectories(tmp.resolve("mp"));
        MountException e = assertThrows(MountException.class, () -> service().umount(mp));
        assertEquals(mp.toRealPath() + " is not mounted", e.getMessage());
    }
    @Test
    void aVmWithOnlyLocalAppsGetsTheLocalLoopThreadsAndAnyOtherTheRemoteOnes() {
        assertEquals(MountOptions.LOCAL_THREADS, MountService.loopThreads(sourceThatIsLocalOnly(true)));
        assertEquals(MountOptions.REMOTE_THREADS, MountService.loopThreads(sourceThatIsLocalOnly(false)));
    }

    /** Only {@code localOnly()} is asked; nothing here is mounted or read. */
    private static MountSource sourceThatIsLocalOnly(boolean localOnly) {
        return new MountSource() {
            @Override
            public BlockDevice disk() {
                throw new UnsupportedOperationException();
            }

            @Override
            public FileIndex files() {
                throw new UnsupportedOperationException();
            }

            @Override
            public String vmdkDescriptor() {
                throw new UnsupportedOperationException();
            }

            @Override
            public byte[] statsJson() {
                throw new UnsupportedOperationException();
            }

            @Override
            public String describe() {
                return "test source";
            }

            @Override
            public boolean localOnly() {
                return localOnly;
            }
        };
    }
}
