package dev.dcd.tests.vmmount;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dcd.mount.MountOptions;
import dev.dcd.synth.Gpt;
import dev.dcd.tests.support.Cleanups;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static dev.dcd.tests.vmmount.VmCli.PARTITION_OFFSET;
import static dev.dcd.tests.vmmount.VmCli.dcd;
import static dev.dcd.tests.vmmount.VmCli.dcdOk;
import static dev.dcd.tests.vmmount.VmCli.ok;
import static dev.dcd.tests.vmmount.VmCli.quietly;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code dcd mount} of real VMs, end to end through the packaged jar: a Debian package and a generated tree
 * (hardlinks, symlinks, an empty file, setuid, a few MiB) imported, synthesized as ext4 and FAT32, mounted,
 * and judged by e2fsck, fsck.fat, the kernel's ext4 over a loop device, mtools and qemu-img. Guest writes go
 * through a read-write loop mount and must survive a remount without touching the app vdisks.
 */
class VmMountIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path PACKAGES = Path.of("target", "packages").toAbsolutePath();
    private static final long EXT4_SIZE = 256L << 20;
    private static final long FAT_SIZE = 128L << 20;
    private static final String BIG = "srv/gen/data/big.bin";

    @TempDir
    static Path shared;
    private static Path home;
    private static Path source;
    private static Path genTree;

    @TempDir
    Path tmp;
    @RegisterExtension
    final Cleanups cleanups = new Cleanups();

    @BeforeAll
    static void importApps() throws Exception {
        home = shared.resolve("home");
        source = shared.resolve("source");
        Path deb = helloDeb();
        ok("dpkg-deb", "-x", deb.toString(), source.toString());
        genTree = shared.resolve("gen-1.0");
        makeTree(genTree.resolve("srv/gen"));
        dcdOk(home, "catalog", "import", deb.toString());
        dcdOk(home, "catalog", "import", genTree.toString());
        // The merged view of both apps, as the kernel must show it.
        ok("cp", "-a", genTree.resolve("srv").toString(), source.toString());
    }

    @Test
    void anExt4VmMountIsCleanForE2fsckReadsLikeTheSourceKeepsGuestWritesAndLeavesTheAppsAlone() throws Exception {
        dcdOk(home, "vm", "create", "e4", "--size", "256M");
        dcdOk(home, "vm", "assign", "e4", "hello", "gen");
        dcdOk(home, "disk", "build", "e4");
        Map<String, String> vdisksBefore = VmCli.fileHashes(home.resolve("vdisks"));
        long partitionLength = Gpt.layout(EXT4_SIZE).partitionLength();
        Path mnt = mount("e4", tmp.resolve("mnt"));
        Path img = mnt.resolve("disk.img");

        assertE2fsckClean(img);
        Map<String, String> expected = VmCli.describeTree(source, true);
        assertEquals(expected, VmCli.describeTree(mnt.resolve("files"), true), "files/ against the source");
        Path ro = loopMount(img, partitionLength, true, tmp.resolve("ro"));
        assertEquals(expected, VmCli.describeTree(ro, true), "kernel ext4 on disk.img against the source");
        assertEquals(Files.getAttribute(ro.resolve("srv/gen/etc/a.conf"), "unix:ino"),
                Files.getAttribute(ro.resolve("srv/gen/etc/a-link.conf"), "unix:ino"), "hardlinks share an inode");
        unmountLast();

        JsonNode info = JSON.readTree(ok("qemu-img", "info", "--output=json", mnt.resolve("disk.vmdk").toString()));
        assertEquals(EXT4_SIZE, info.get("virtual-size").asLong(), info.toString());
        Path exported = tmp.resolve("export.img");
        dcdOk(home, "disk", "export", "e4", exported.toString());
        VmCli.Result same = VmCli.run("qemu-img", "compare", "-f", "vmdk", "-F", "raw", mnt.resolve("disk.vmdk").toString(),
                exported.toString());
        assertEquals(0, same.code(), "the mounted disk is the exported generation: " + same);

        JsonNode stats = JSON.readTree(dcdOk(home, "stats", "e4", "--json").out()).get("e4");
        assertAppsRead(stats, "hello", "gen");

        // Guest writes through a read-write loop mount: new files and an app file changed in place.
        byte[] patch = "written by the guest\n".getBytes(StandardCharsets.UTF_8);
        String patchedBig = patchedSha(source.resolve(BIG), patch);
        Path rw = loopMount(img, partitionLength, false, tmp.resolve("rw"));
        Files.writeString(Files.createDirectories(rw.resolve("home/guest")).resolve("notes.txt"), "hello from the guest\n");
        byte[] blob = new byte[3 << 20];
        new Random(7).nextBytes(blob);
        Files.write(rw.resolve("home/guest/blob.bin"), blob);
        try (FileChannel ch = FileChannel.open(rw.resolve(BIG), StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(patch), 0);
        }
        ok("sync");
        String loop = loops.get(loops.size() - 1);
        VmCli.Result busy = dcd(home, "umount", mnt.toString());
        assertEquals(1, busy.code(), busy.toString());
        assertTrue(busy.err().contains(loop), "names the loop device: " + busy);
        assertTrue(Files.exists(img), "the mount stays");
        VmCli.Result discard = dcd(home, "disk", "discard", "e4", "1", "--force");
        assertEquals(1, discard.code(), discard.toString());
        assertTrue(discard.err().contains("mounted"), discard.toString());
        unmountLast();

        VmCli.Result differs = VmCli.run("qemu-img", "compare", "-f", "vmdk", "-F", "raw",
                mnt.resolve("disk.vmdk").toString(), exported.toString());
        assertEquals(1, differs.code(), "guest writes are served from the overlay: " + differs);
        dcdOk(home, "umount", mnt.toString());
        assertFalse(Files.exists(img), "unmounted");

        mount("e4", mnt);
        assertE2fsckClean(img);
        Path again = loopMount(img, partitionLength, true, tmp.resolve("again"));
        assertEquals("hello from the guest\n", Files.readString(again.resolve("home/guest/notes.txt")));
        assertEquals(sha(blob), VmCli.sha256(again.resolve("home/guest/blob.bin")));
        assertEquals(patchedBig, VmCli.sha256(again.resolve(BIG)));
        assertEquals(VmCli.sha256(source.resolve("usr/bin/hello")), VmCli.sha256(again.resolve("usr/bin/hello")));
        unmountLast();
        String generations = dcdOk(home, "disk", "generations", "e4").out();
        assertTrue(generations.contains("GUEST WRITES"), generations);
        assertTrue(generations.lines().anyMatch(l -> l.trim().startsWith("1") && l.trim().endsWith("yes")), generations);
        dcdOk(home, "umount", mnt.toString());
        assertEquals(vdisksBefore, VmCli.fileHashes(home.resolve("vdisks")), "app vdisks are never written");

        VmCli.Result rebuilt = dcdOk(home, "disk", "build", "e4");
        assertTrue(rebuilt.err().contains("generation 1 holds guest writes; it is kept"), rebuilt.toString());
        Path gen1 = home.resolve("vms/e4/gen-1");
        assertTrue(Files.exists(gen1.resolve("overlay.data")), "generation 1 keeps its overlay");
        VmCli.Result keeps = dcd(home, "disk", "discard", "e4", "1");
        assertEquals(1, keeps.code(), "the guest's writes are not discarded without --force: " + keeps);
        assertTrue(keeps.err().contains("of guest writes, which discarding deletes for good"), keeps.toString());
        dcdOk(home, "disk", "discard", "e4", "1", "--force");
        assertFalse(Files.exists(gen1), "discarded once unmounted");
    }

    @Test
    void aFat32VmMountPassesFsckFatAndMtoolsReadsEveryFileBack() throws Exception {
        dcdOk(home, "vm", "create", "f32", "--fs", "fat32", "--size", "128M");
        dcdOk(home, "vm", "assign", "f32", "gen");
        dcdOk(home, "disk", "build", "f32");
        Path mnt = mount("f32", tmp.resolve("mnt"));
        Path img = mnt.resolve("disk.img");
        long partitionLength = Gpt.layout(FAT_SIZE).partitionLength();

        Path partition = tmp.resolve("partition.img");
        ok("dd", "if=" + img, "of=" + partition, "bs=1M", "skip=" + (PARTITION_OFFSET >> 20),
                "count=" + (partitionLength >> 20), "status=none");
        VmCli.Result fsck = VmCli.run("fsck.fat", "-n", partition.toString());
        assertEquals(0, fsck.code(), fsck.toString());

        // FAT32 keeps no symlinks (skipped by default), modes or owners; hardlinks become two files.
        Map<String, String> expected = VmCli.fileHashes(genTree);
        Path copied = Files.createDirectories(tmp.resolve("mcopy"));
        ok("env", "MTOOLS_SKIP_CHECK=1", "mcopy", "-s", "-n", "-i", img + "@@" + PARTITION_OFFSET, "::/srv", copied.toString());
        assertEquals(expected, VmCli.fileHashes(copied));
        assertEquals(expected, VmCli.fileHashes(mnt.resolve("files")));

        Path exported = tmp.resolve("export.img");
        dcdOk(home, "disk", "export", "f32", exported.toString());
        VmCli.Result same = VmCli.run("qemu-img", "compare", "-f", "vmdk", "-F", "raw", mnt.resolve("disk.vmdk").toString(),
                exported.toString());
        assertEquals(0, same.code(), same.toString());
        assertAppsRead(JSON.readTree(dcdOk(home, "stats", "f32", "--json").out()).get("f32"), "gen");
    }

    @Test
    void mountErrorsAreOneLineAndLeaveEverythingAsItWas() throws Exception {
        dcdOk(home, "vm", "create", "nodisk", "--size", "64M");
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        VmCli.Result noDisk = dcd(home, "mount", "nodisk", empty.toString());
        assertOneLineFailure(noDisk, "has no disk yet");
        assertFalse(Files.exists(empty.resolve("disk.img")));

        dcdOk(home, "vm", "create", "err", "--size", "64M");
        dcdOk(home, "vm", "assign", "err", "gen");
        dcdOk(home, "disk", "build", "err");
        dcdOk(home, "vm", "create", "other", "--size", "64M");
        dcdOk(home, "vm", "assign", "other", "gen");
        dcdOk(home, "disk", "build", "other");
        Path mnt = mount("err", tmp.resolve("mnt"));
        assertOneLineFailure(dcd(home, "mount", "other", mnt.toString()), "busy");
        Path elsewhere = Files.createDirectories(tmp.resolve("elsewhere"));
        assertOneLineFailure(dcd(home, "mount", "err", elsewhere.toString()), "already mounted at " + mnt);
        assertFalse(Files.exists(elsewhere.resolve("disk.img")));
        Path full = Files.createDirectories(tmp.resolve("full"));
        Files.writeString(full.resolve("keep.txt"), "x");
        assertOneLineFailure(dcd(home, "mount", "other", full.toString()), "not an empty directory");
        assertEquals("x", Files.readString(full.resolve("keep.txt")));
        assertTrue(Files.exists(mnt.resolve("files/srv/gen/data/big.bin")), "the first mount still serves");
    }

    // ---- steps

    private final List<String> loops = new ArrayList<>();
    private final List<Path> kernelMounts = new ArrayList<>();

    private Path mount(String vm, Path mountpoint) throws IOException {
        Files.createDirectories(mountpoint);
        VmCli.Result r = dcdOk(home, "mount", vm, mountpoint.toString());
        assertTrue(r.out().startsWith("mounted " + vm + " at "), r.toString());
        // Every app here is on the local backend, so the mount runs the local number of loop threads (docs/fuse.md).
        Path log = Path.of(r.out().strip().replaceFirst("(?s).*, log (.*)\\)$", "$1"));
        assertTrue(Files.readString(log).contains(" on " + MountOptions.LOCAL_THREADS + " loop threads"), log.toString());
        cleanups.add(() -> {
            quietly("java", "-jar", VmCli.JAR.toString(), "--home", home.toString(), "umount", mountpoint.toString());
            quietly("fusermount", "-u", "-z", mountpoint.toString());
        });
        return mountpoint;
    }

    /** The ext4 partition inside {@code image} on a loop device, mounted by the kernel. */
    private Path loopMount(Path image, long partitionLength, boolean readOnly, Path at) throws IOException {
        List<String> losetup = new ArrayList<>(List.of("losetup", "-f", "--show", "-o", Long.toString(PARTITION_OFFSET),
                "--sizelimit", Long.toString(partitionLength)));
        if (readOnly) {
            losetup.add("-r");
        }
        losetup.add(image.toString());
        String loop = ok(losetup.toArray(String[]::new)).strip();
        loops.add(loop);
        cleanups.add(() -> quietly("losetup", "-d", loop));
        Files.createDirectories(at);
        ok("mount", "-t", "ext4", "-o", readOnly ? "ro,noload" : "rw", loop, at.toString());
        kernelMounts.add(at);
        cleanups.add(() -> quietly("umount", "-l", at.toString()));
        return at;
    }

    /** Unmounts the newest kernel mount and detaches its loop device, so that the disk is idle again. */
    private void unmountLast() {
        Path at = kernelMounts.remove(kernelMounts.size() - 1);
        String loop = loops.remove(loops.size() - 1);
        ok("umount", at.toString());
        ok("losetup", "-d", loop);
    }

    private static void assertE2fsckClean(Path image) {
        VmCli.Result fsck = VmCli.run("e2fsck", "-fn", image + "?offset=" + PARTITION_OFFSET);
        assertEquals(0, fsck.code(), fsck.toString());
    }

    private static void assertAppsRead(JsonNode stats, String... apps) {
        JsonNode groups = stats.get("disk").get("apps");
        for (String app : apps) {
            long reads = 0;
            for (JsonNode g : groups) {
                if (g.get("name").asText().startsWith(app + "@")) {
                    reads += g.get("reads").asLong();
                }
            }
            assertTrue(reads > 0, app + " was read: " + stats);
        }
    }

    private static void assertOneLineFailure(VmCli.Result r, String reason) {
        assertEquals(1, r.code(), r.toString());
        assertTrue(r.err().startsWith("dcd") && r.err().strip().lines().count() == 1, "one line: " + r);
        assertTrue(r.err().contains(reason), r.toString());
    }

    private static String patchedSha(Path file, byte[] patch) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        System.arraycopy(patch, 0, bytes, 0, patch.length);
        return sha(bytes);
    }

    private static String sha(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    // ---- content

    /** Downloads once per checkout, like RealPackagesImportIT. */
    private static Path helloDeb() throws IOException {
        Files.createDirectories(PACKAGES);
        Path found = findDeb();
        if (found == null) {
            VmCli.Result r = VmCli.run(List.of("sh", "-c", "cd '" + PACKAGES + "' && apt-get download hello"), 300);
            if (r.code() != 0) {
                throw new AssertionError("apt-get download hello failed: " + r);
            }
            found = findDeb();
        }
        return found;
    }

    private static Path findDeb() throws IOException {
        try (Stream<Path> s = Files.list(PACKAGES)) {
            return s.filter(p -> p.getFileName().toString().matches("hello_.*\\.deb")).findFirst().orElse(null);
        }
    }

    /** Hardlinks, symlinks (file, directory, dangling-free), an empty file, setuid, an owner, a few MiB. */
    private static void makeTree(Path root) throws IOException {
        Random random = new Random(11);
        Path etc = Files.createDirectories(root.resolve("etc"));
        Path data = Files.createDirectories(root.resolve("data"));
        Path bin = Files.createDirectories(root.resolve("bin"));
        Files.writeString(etc.resolve("a.conf"), "key=value\n");
        Files.createLink(etc.resolve("a-link.conf"), etc.resolve("a.conf"));
        Files.createFile(etc.resolve("empty"));
        Files.createSymbolicLink(etc.resolve("current"), Path.of("a.conf"));
        Files.createSymbolicLink(root.resolve("lib"), Path.of("data"));
        byte[] big = new byte[(5 << 20) + 123];
        random.nextBytes(big);
        Files.write(data.resolve("big.bin"), big);
        for (int i = 0; i < 40; i++) {
            byte[] b = new byte[random.nextInt(70_000)];
            random.nextBytes(b);
            Files.write(data.resolve("f" + i + ".dat"), b);
        }
        Files.writeString(bin.resolve("tool"), "#!/bin/sh\necho tool\n");
        ok("chmod", "4755", bin.resolve("tool").toString());
        ok("chmod", "0640", etc.resolve("a.conf").toString());
        ok("chown", "1000:1000", data.resolve("f1.dat").toString());
    }
}
