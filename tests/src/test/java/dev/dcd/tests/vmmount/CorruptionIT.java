package dev.dcd.tests.vmmount;

import dev.dcd.block.FileBlockDevice;
import dev.dcd.vdisk.AppVdisk;
import dev.dcd.vdisk.Entry;
import dev.dcd.vdisk.VdiskFormat;
import dev.dcd.tests.support.Cleanups;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static dev.dcd.tests.vmmount.VmCli.dcd;
import static dev.dcd.tests.vmmount.VmCli.dcdOk;
import static dev.dcd.tests.vmmount.VmCli.quietly;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Damaged bytes on disk are never served, end to end through the packaged jar and a real FUSE mount: 4 flipped
 * bytes inside a local app vdisk make reads of that chunk fail with EIO (and one log line naming app and chunk)
 * while the rest of the file system reads right; a damaged {@code files.idx} or {@code regions.bin} makes
 * {@code dcd mount} and {@code dcd disk stat} fail with one line naming the file, and mounts nothing.
 */
class CorruptionIT {
    private static final String BIG = "srv/bad/data/big.bin";
    private static final String SMALL = "srv/bad/etc/a.conf";

    @TempDir
    static Path shared;
    private static Path home;
    private static Path tree;

    @TempDir
    Path tmp;
    @RegisterExtension
    final Cleanups cleanups = new Cleanups();

    @BeforeAll
    static void importApp() throws Exception {
        home = shared.resolve("home");
        tree = shared.resolve("bad-1.0");
        Path data = Files.createDirectories(tree.resolve("srv/bad/data"));
        Path etc = Files.createDirectories(tree.resolve("srv/bad/etc"));
        Files.writeString(etc.resolve("a.conf"), "key=value\n");
        byte[] big = new byte[(2 << 20) + 77];
        new Random(3).nextBytes(big);
        Files.write(data.resolve("big.bin"), big);
        dcdOk(home, "catalog", "import", tree.toString());
    }

    private Path mount(String vm, Path mountpoint) throws IOException {
        Files.createDirectories(mountpoint);
        cleanups.add(() -> {
            quietly("java", "-jar", VmCli.JAR.toString(), "--home", home.toString(), "umount", mountpoint.toString());
            quietly("fusermount", "-u", "-z", mountpoint.toString());
        });
        dcdOk(home, "mount", vm, mountpoint.toString());
        return mountpoint;
    }

    private static Path onlyVdisk() throws IOException {
        try (Stream<Path> s = Files.list(home.resolve("vdisks"))) {
            List<Path> all = s.filter(p -> p.getFileName().toString().endsWith(".vdisk")).toList();
            assertEquals(1, all.size(), all.toString());
            return all.get(0);
        }
    }

    private static void flip(Path file, long offset, int count) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer b = ByteBuffer.allocate(count);
            ch.read(b, offset);
            for (int i = 0; i < count; i++) {
                b.put(i, (byte) ~b.get(i));
            }
            ch.write(b.flip(), offset);
        }
    }

    @Test
    void fourFlippedBytesInALocalVdiskGiveEioThroughFilesNeverADifferentFile() throws Exception {
        dcdOk(home, "vm", "create", "c1", "--size", "64M");
        dcdOk(home, "vm", "assign", "c1", "bad");
        dcdOk(home, "disk", "build", "c1");
        Path vdisk = onlyVdisk();
        long fileStart;
        try (FileBlockDevice device = FileBlockDevice.openReadOnly(vdisk)) {
            Entry big = AppVdisk.open(device).manifest().entries().stream()
                    .filter(e -> e.path().equals(BIG)).findFirst().orElseThrow();
            fileStart = big.dataOffset();
        }
        long flipAt = fileStart + 1_000_000;
        int chunk = (int) ((flipAt - VdiskFormat.HEADER_SIZE) / VdiskFormat.CHECKSUM_CHUNK);
        vdisk.toFile().setWritable(true);
        flip(vdisk, flipAt, 4);

        Path mnt = mount("c1", tmp.resolve("mnt"));
        VmCli.Result md5 = VmCli.run("md5sum", mnt.resolve("files").resolve(BIG).toString());
        assertNotEquals(0, md5.code(), "a damaged chunk is never served: " + md5);
        assertTrue(md5.err().contains("Input/output error"), md5.toString());
        assertEquals("key=value\n", Files.readString(mnt.resolve("files").resolve(SMALL)), "other chunks still read");
        // The bytes before the damaged chunk are served and right (dd stops at the first error).
        long goodBytes = (long) chunk * VdiskFormat.CHECKSUM_CHUNK + VdiskFormat.HEADER_SIZE - fileStart;
        VmCli.Result head = VmCli.run("sh", "-c", "head -c " + goodBytes + " '" + mnt.resolve("files").resolve(BIG)
                + "' | sha256sum");
        assertEquals(0, head.code(), head.toString());
        VmCli.Result want = VmCli.run("sh", "-c", "head -c " + goodBytes + " '" + tree.resolve(BIG) + "' | sha256sum");
        assertEquals(want.out(), head.out());

        dcdOk(home, "umount", mnt.toString());
        Path log;
        try (Stream<Path> s = Files.list(home.resolve("log"))) {
            log = s.filter(p -> p.getFileName().toString().contains("c1")).findFirst().orElseThrow();
        }
        List<String> lines = Files.readAllLines(log);
        List<String> damaged = lines.stream().filter(l -> l.contains("does not match its CRC32C")).toList();
        assertFalse(damaged.isEmpty(), "the log says why: " + lines);
        for (String line : damaged) {
            assertTrue(line.contains("app bad@1.0") && line.contains("chunk " + chunk + " of vdisk"), line);
        }
        assertTrue(lines.stream().noneMatch(l -> l.startsWith("\tat ") || l.startsWith("Caused by")), "no stack trace: " + lines);

        // An export checks the chunks it copies as the chain does: it fails with one line and leaves the file the
        // user had at the target as it was, with no half image beside it.
        Path out = tmp.resolve("c1.img");
        Files.writeString(out, "mine");
        VmCli.Result export = dcd(home, "disk", "export", "c1", out.toString());
        assertEquals(1, export.code(), export.toString());
        assertEquals(1, export.err().strip().lines().count(), "one line: " + export);
        assertTrue(export.err().contains("app bad@1.0") && export.err().contains("chunk " + chunk), export.toString());
        assertEquals("mine", Files.readString(out), "a failed export leaves the user's file as it was");
        try (Stream<Path> s = Files.list(tmp)) {
            assertTrue(s.noneMatch(p -> p.getFileName().toString().endsWith(".dcd-partial")), "no half image left");
        }
    }

    @Test
    void damagedIndexFilesFailMountAndStatWithOneLineNamingTheFile() throws Exception {
        dcdOk(home, "vm", "create", "c2", "--size", "64M");
        dcdOk(home, "vm", "assign", "c2", "bad");
        dcdOk(home, "disk", "build", "c2");
        Path gen = home.resolve("vms/c2/gen-1");
        Path index = gen.resolve("files.idx");
        Path regions = gen.resolve("regions.bin");
        byte[] goodIndex = Files.readAllBytes(index);
        byte[] goodRegions = Files.readAllBytes(regions);
        Path mnt = Files.createDirectories(tmp.resolve("mnt"));

        flip(index, goodIndex.length / 2, 1);
        assertOneLine(dcd(home, "mount", "c2", mnt.toString()), "file index " + index + " is damaged");
        assertEquals(0, Files.list(mnt).count(), "nothing mounted");
        Files.write(index, goodIndex);

        Files.write(regions, new byte[0]);
        assertOneLine(dcd(home, "mount", "c2", mnt.toString()), "region map " + regions + " is damaged: it holds 0 bytes");
        assertOneLine(dcd(home, "disk", "stat", "c2"), "region map " + regions + " is damaged");
        Files.write(regions, goodRegions);
        flip(regions, goodRegions.length - 20, 1);
        assertOneLine(dcd(home, "mount", "c2", mnt.toString()), "region map " + regions + " is damaged: its body checksum");
        assertEquals(0, Files.list(mnt).count(), "nothing mounted");
        Files.write(regions, goodRegions);

        mount("c2", mnt);
        assertEquals("key=value\n", Files.readString(mnt.resolve("files").resolve(SMALL)));
    }

    private static void assertOneLine(VmCli.Result r, String reason) {
        assertEquals(1, r.code(), r.toString());
        assertEquals(1, r.err().strip().lines().count(), "one line: " + r);
        assertTrue(r.err().contains(reason), r.toString());
        assertTrue(r.err().contains("'dcd disk build c2' builds a new generation"), r.toString());
        assertFalse(r.err().contains("null") || r.err().contains("Exception") || r.err().contains("out of bounds"), r.toString());
    }
}
