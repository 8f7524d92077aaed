package dev.dcd.tests.vmmount;

import dev.dcd.tests.support.Cleanups;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Random;

import static dev.dcd.tests.vmmount.VmCli.dcd;
import static dev.dcd.tests.vmmount.VmCli.dcdOk;
import static dev.dcd.tests.vmmount.VmCli.quietly;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 13's reproduction, end to end through the packaged jar and a real FUSE mount: an app removed from the
 * catalog while a mounted generation reads it keeps its vdisk, so files/ still serves it and the generation
 * still mounts after a remount; the export of a disk the guest wrote to is byte for byte the mounted disk.img
 * (judged by qemu-img compare); a rebuild, a mount and a discard each say what happens to the guest's writes,
 * and only {@code catalog gc} deletes the vdisk, once nothing reads it.
 */
class DataSafetyIT {
    private static final long DISK = 64L << 20;
    /** Guest writes go to the first all-zero window at or after this offset, so they never land on the app's file. */
    private static final long GUEST_SEARCH_FROM = 32L << 20;
    private static final String FILE = "opt/lazy/data.bin";

    @TempDir
    Path tmp;
    @RegisterExtension
    final Cleanups cleanups = new Cleanups();

    @Test
    void aRemovedAppStaysReadableWhileAMountedGenerationUsesItAndOnlyGcReclaimsIt() throws Exception {
        Path home = tmp.resolve("home");
        Path app = tmp.resolve("lazy-1.0");
        byte[] data = new byte[(2 << 20) + 333];
        new Random(13).nextBytes(data);
        Files.write(Files.createDirectories(app.resolve("opt/lazy")).resolve("data.bin"), data);
        dcdOk(home, "catalog", "import", app.toString());
        String vdisk = dcdOk(home, "--json", "catalog", "list").out().replaceFirst("(?s).*\"contentId\" : \"([0-9a-f]{64})\".*", "$1");
        Path vdiskFile = home.resolve("vdisks").resolve(vdisk + ".vdisk");
        assertTrue(Files.exists(vdiskFile), vdiskFile.toString());
        dcdOk(home, "vm", "create", "vl", "--size", "64M");
        dcdOk(home, "vm", "assign", "vl", "lazy");
        dcdOk(home, "disk", "build", "vl");
        Path mnt = mount(home, "vl", tmp.resolve("mnt"));

        // A guest writes to its disk (through the mount's disk.img, as a hypervisor would) and flushes.
        byte[] guest = new byte[100_000];
        new Random(7).nextBytes(guest);
        long guestOffset = zeroWindow(mnt.resolve("disk.img"), GUEST_SEARCH_FROM, guest.length);
        try (FileChannel ch = FileChannel.open(mnt.resolve("disk.img"), StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(guest), guestOffset);
            ch.force(true);
        }

        // The reproduction: unassign, then rm while the mount's generation still reads the vdisk.
        dcdOk(home, "vm", "unassign", "vl", "lazy");
        VmCli.Result rm = dcdOk(home, "catalog", "rm", "lazy@1.0");
        assertTrue(rm.out().startsWith("retired lazy@1.0: "), rm.toString());
        assertTrue(rm.out().contains("while VM vl generation 1 (mounted at " + mnt.toRealPath() + ") reads it"), rm.toString());
        assertTrue(Files.exists(vdiskFile), "the vdisk a mounted generation reads is kept");
        // Not read before the rm, so this is the first open of the vdisk: it used to fail with EIO.
        assertArrayEquals(data, Files.readAllBytes(mnt.resolve("files").resolve(FILE)), "files/ serves the app");

        // The export is the disk as the guest sees it: qemu-img finds no difference from the mounted disk.img.
        Path exported = tmp.resolve("export.img");
        VmCli.Result export = dcdOk(home, "disk", "export", "vl", exported.toString());
        assertTrue(export.out().contains("of guest writes)"), export.toString());
        assertTrue(export.err().contains("is mounted at"), "warns that a live guest may still write: " + export);
        VmCli.Result same = VmCli.run("qemu-img", "compare", "-f", "raw", "-F", "raw", exported.toString(),
                mnt.resolve("disk.img").toString());
        assertEquals(0, same.code(), "export against disk.img of the mount: " + same);
        assertTrue(same.out().contains("Images are identical"), same.toString());
        Path pristine = tmp.resolve("pristine.img");
        dcdOk(home, "disk", "export", "vl", pristine.toString(), "--pristine");
        VmCli.Result differs = VmCli.run("qemu-img", "compare", "-f", "raw", "-F", "raw", pristine.toString(),
                mnt.resolve("disk.img").toString());
        assertEquals(1, differs.code(), "--pristine leaves the guest's writes out: " + differs);

        VmCli.Result gcMounted = dcdOk(home, "catalog", "gc");
        assertTrue(gcMounted.out().startsWith("kept vdisk " + vdisk.substring(0, 12)), gcMounted.toString());
        assertTrue(Files.exists(vdiskFile));

        // After a remount the generation still mounts and still serves the app and the guest's bytes.
        dcdOk(home, "umount", mnt.toString());
        mount(home, "vl", mnt);
        assertArrayEquals(data, Files.readAllBytes(mnt.resolve("files").resolve(FILE)));
        assertArrayEquals(guest, read(mnt.resolve("disk.img"), guestOffset, guest.length));

        // A rebuild while mounted says that the mount keeps generation 1 and the guest's writes stay there.
        VmCli.Result build = dcdOk(home, "disk", "build", "vl");
        assertTrue(build.err().contains("VM 'vl' is mounted at " + mnt.toRealPath() + " and keeps serving generation 1"
                + " until it is remounted"), build.toString());
        assertTrue(build.err().contains("the guest's writes stay in generation 1 and do not carry over to generation 2"),
                build.toString());
        dcdOk(home, "umount", mnt.toString());

        // Mounting the newer generation says which older one holds the guest's writes.
        VmCli.Result newer = mountResult(home, "vl", mnt);
        assertTrue(newer.err().contains("generation 1 of VM 'vl' holds guest writes that generation 2, mounted now,"
                + " does not have"), newer.toString());
        dcdOk(home, "umount", mnt.toString());

        // The older generation can still be mounted, and serves the guest's bytes.
        VmCli.Result older = dcdOk(home, "mount", "vl", mnt.toString(), "--generation", "1");
        assertTrue(older.out().startsWith("mounted vl at "), older.toString());
        assertArrayEquals(guest, read(mnt.resolve("disk.img"), guestOffset, guest.length));
        assertTrue(dcdOk(home, "--json", "stats", "vl").out().contains("\"generation\" : 1"), "stats name generation 1");
        dcdOk(home, "umount", mnt.toString());

        // Discarding them needs --force and says what is lost; then gc reclaims the vdisk nothing reads.
        VmCli.Result discard = dcd(home, "disk", "discard", "vl", "1");
        assertEquals(1, discard.code(), discard.toString());
        assertTrue(discard.err().contains("generation 1 of VM 'vl' holds ") && discard.err().contains(" of guest writes"),
                discard.toString());
        assertTrue(Files.exists(home.resolve("vms/vl/gen-1/overlay.data")));
        assertTrue(Files.exists(vdiskFile), "a refused discard frees nothing");
        dcdOk(home, "disk", "discard", "vl", "1", "--force");
        VmCli.Result gc = dcdOk(home, "catalog", "gc");
        assertTrue(gc.out().startsWith("deleted vdisk " + vdisk.substring(0, 12) + " on local (lazy@1.0)"), gc.toString());
        assertFalse(Files.exists(vdiskFile), "reclaimed once no generation reads it");
    }

    private Path mount(Path home, String vm, Path mountpoint) throws IOException {
        VmCli.Result r = mountResult(home, vm, mountpoint);
        assertTrue(r.out().startsWith("mounted " + vm + " at "), r.toString());
        return mountpoint;
    }

    private VmCli.Result mountResult(Path home, String vm, Path mountpoint) throws IOException {
        Files.createDirectories(mountpoint);
        cleanups.add(() -> {
            quietly("java", "-jar", VmCli.JAR.toString(), "--home", home.toString(), "umount", mountpoint.toString());
            quietly("fusermount", "-u", "-z", mountpoint.toString());
        });
        return dcdOk(home, "mount", vm, mountpoint.toString());
    }

    /** The first 4 KiB-aligned offset from {@code from} on where {@code length} bytes read as zeros. */
    private static long zeroWindow(Path disk, long from, int length) throws IOException {
        for (long at = from; at + length <= DISK; at += 4096) {
            byte[] b = read(disk, at, length);
            boolean zero = true;
            for (byte x : b) {
                if (x != 0) {
                    zero = false;
                    break;
                }
            }
            if (zero) {
                return at;
            }
        }
        throw new AssertionError("no free window of " + length + " bytes on " + disk);
    }

    private static byte[] read(Path file, long offset, int length) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(length);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            while (b.hasRemaining()) {
                if (ch.read(b, offset + b.position()) < 0) {
                    throw new IOException(file + " ends before " + (offset + length));
                }
            }
        }
        return b.array();
    }
}
