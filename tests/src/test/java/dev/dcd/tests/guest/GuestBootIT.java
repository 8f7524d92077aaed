package dev.dcd.tests.guest;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dcd.tests.support.Cleanups;
import dev.dcd.tests.vmmount.VmCli;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static dev.dcd.tests.vmmount.VmCli.PARTITION_OFFSET;
import static dev.dcd.tests.vmmount.VmCli.dcd;
import static dev.dcd.tests.vmmount.VmCli.dcdOk;
import static dev.dcd.tests.vmmount.VmCli.ok;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A real Linux guest uses dcd's disks: Debian's kernel under qemu (TCG) attaches the disk as virtio-blk,
 * over the FUSE mount's {@code disk.img} and over dcd's NBD export, mounts it with its own ext4 or vfat,
 * runs the busybox that was imported as an app (from the real busybox-static package) and prints
 * sha256s, which must equal the sources'. Writes from the guest must survive a server restart and leave
 * the host's e2fsck and fsck.fat clean. The guest reports through markers on its serial console.
 */
class GuestBootIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path PACKAGES = Path.of("target", "packages").toAbsolutePath();
    /** Names vfat must carry both ways: long, Latin with diacritics, Greek, Japanese. */
    private static final List<String> FAT_NAMES = List.of("Ein sehr langer Dateiname mit Umlauten äöüß.txt",
            "Ελληνικά ονόματα.txt", "日本語のファイル名.txt", "SHORT.TXT");

    @TempDir
    static Path shared;
    private static Path home;
    private static GuestKernel kernel;
    private static Path busyboxSource;
    private static Path dataSource;
    private static Path namesSource;
    private static Map<String, String> vdisks;

    @TempDir
    Path tmp;
    @RegisterExtension
    final Cleanups cleanups = new Cleanups();

    @BeforeAll
    static void importApps() throws Exception {
        kernel = GuestKernel.get();
        home = shared.resolve("home");
        Path deb = busyboxDeb();
        busyboxSource = shared.resolve("busybox-src");
        ok("dpkg-deb", "-x", deb.toString(), busyboxSource.toString());
        dcdOk(home, "catalog", "import", deb.toString());

        dataSource = shared.resolve("data-1.0");
        Path data = Files.createDirectories(dataSource.resolve("srv/data"));
        byte[] big = new byte[6 << 20];
        new Random(42).nextBytes(big);
        Files.write(data.resolve("big.bin"), big);
        Files.writeString(data.resolve("hello.sh"), "echo DCD-HELLO \"$($B uname -r)\"\n");
        dcdOk(home, "catalog", "import", dataSource.toString());

        namesSource = shared.resolve("names-1.0");
        Path docs = Files.createDirectories(namesSource.resolve("Dokumente"));
        for (String name : FAT_NAMES) {
            Files.writeString(docs.resolve(name), "content of " + name + "\n");
        }
        dcdOk(home, "catalog", "import", namesSource.toString());
        vdisks = VmCli.fileHashes(home.resolve("vdisks"));
    }

    /** Mount the disk read-only, run the app's own busybox, print hashes of the app files. */
    private static final String READ_APPS = """
            $B mount -o ro -t ext4 /dev/vda1 /mnt || echo DCD-FAIL mount
            /mnt/bin/busybox echo DCD-APP-RAN
            /mnt/bin/busybox sh /mnt/srv/data/hello.sh
            cd /mnt && $B sha256sum bin/busybox srv/data/big.bin srv/data/hello.sh | $B sed 's/^/DCD-SHA /'
            cd / && $B umount /mnt
            """;

    @Test
    void anExt4VmBootsFromTheFuseDiskImgAndRunsItsApps() throws Exception {
        vm("fuse", "ext4", "256M", "busybox-static", "data");
        Path mnt = Files.createDirectories(tmp.resolve("mnt"));
        dcdOk(home, "mount", "fuse", mnt.toString());
        cleanups.add(() -> dcd(home, "umount", mnt.toString()));

        Guest.Boot boot = Guest.boot(kernel, tmp.resolve("guest"), mnt.resolve("disk.img").toString(), true, Guest.EXT4, READ_APPS);
        assertAppsRan(boot);
    }

    @Test
    void anExt4VmBootsFromTheNbdExportAndRunsItsApps() throws Exception {
        vm("nbd", "ext4", "256M", "busybox-static", "data");
        String uri = serve("nbd");
        Guest.Boot boot = Guest.boot(kernel, tmp.resolve("guest"), uri, true, Guest.EXT4, READ_APPS);
        assertAppsRan(boot);
        assertEquals(vdisks, VmCli.fileHashes(home.resolve("vdisks")), "app vdisks are never written");
    }

    @Test
    void guestWritesOverNbdSurviveARestartAndLeaveE2fsckClean() throws Exception {
        vm("rw", "ext4", "256M", "busybox-static", "data");
        String uri = serve("rw");
        Guest.Boot first = Guest.boot(kernel, tmp.resolve("first"), uri, false, Guest.EXT4, """
                $B mount -t ext4 /dev/vda1 /mnt || echo DCD-FAIL mount
                $B mkdir -p /mnt/home/guest
                echo "written by the guest" > /mnt/home/guest/notes.txt
                $B dd if=/dev/urandom of=/mnt/home/guest/blob.bin bs=64k count=32 2>/dev/null
                echo patched >> /mnt/srv/data/hello.sh
                cd /mnt && $B sha256sum home/guest/blob.bin srv/data/hello.sh | $B sed 's/^/DCD-SHA /'
                cd / && $B sync && $B umount /mnt && echo DCD-UNMOUNTED
                """);
        assertTrue(first.has("DCD-UNMOUNTED"), first.serial());
        Map<String, String> written = first.hashes();
        assertEquals(2, written.size(), first.serial());
        stop("rw");

        uri = serve("rw");
        Guest.Boot second = Guest.boot(kernel, tmp.resolve("second"), uri, true, Guest.EXT4, """
                $B mount -o ro -t ext4 /dev/vda1 /mnt || echo DCD-FAIL mount
                $B cat /mnt/home/guest/notes.txt | $B sed 's/^/DCD-NOTES /'
                cd /mnt && $B sha256sum home/guest/blob.bin srv/data/hello.sh | $B sed 's/^/DCD-SHA /'
                """);
        assertEquals(List.of("written by the guest"), second.values("DCD-NOTES"), second.serial());
        assertEquals(written, second.hashes(), "the second boot reads what the first wrote");
        stop("rw");

        // The host's view of the same disk: e2fsck through a FUSE mount of the generation with its overlay.
        Path mnt = Files.createDirectories(tmp.resolve("mnt"));
        dcdOk(home, "mount", "rw", mnt.toString());
        cleanups.add(() -> dcd(home, "umount", mnt.toString()));
        VmCli.Result fsck = VmCli.run("e2fsck", "-fn", mnt.resolve("disk.img") + "?offset=" + PARTITION_OFFSET);
        assertEquals(0, fsck.code(), "e2fsck -fn after the guest's writes: " + fsck);
        assertEquals(VmCli.sha256(dataSource.resolve("srv/data/big.bin")),
                VmCli.sha256(mnt.resolve("files/srv/data/big.bin")), "untouched app data reads as imported");
        assertEquals(vdisks, VmCli.fileHashes(home.resolve("vdisks")), "app vdisks are never written");
    }

    @Test
    void aFat32VmIsMountedByTheGuestsVfatWithLongAndNonLatinNamesAndStaysCleanForFsckFat() throws Exception {
        vm("fat", "fat32", "128M", "names");
        String uri = serve("fat");
        String written = "Vom Gast geschrieben – ελληνικά 日本.txt";
        Guest.Boot boot = Guest.boot(kernel, tmp.resolve("guest"), uri, false, Guest.VFAT, """
                $B mount -t vfat -o iocharset=utf8,codepage=437 /dev/vda1 /mnt || echo DCD-FAIL mount
                # The shell's own echo: busybox ls would print non-ASCII bytes as '?' without a UTF-8 locale.
                for f in /mnt/Dokumente/*; do echo "DCD-NAME ${f##*/}"; done
                cd /mnt/Dokumente && $B sha256sum * | $B sed 's/^/DCD-SHA /'
                echo "from the guest" > "/mnt/Dokumente/%s"
                cd / && $B sync && $B umount /mnt && echo DCD-UNMOUNTED
                $B mount -o ro -t vfat -o iocharset=utf8 /dev/vda1 /mnt
                $B cat "/mnt/Dokumente/%s" | $B sed 's/^/DCD-READBACK /'
                $B umount /mnt
                """.formatted(written, written));
        List<String> expectedNames = new ArrayList<>(FAT_NAMES);
        java.util.Collections.sort(expectedNames);
        List<String> seen = new ArrayList<>(boot.values("DCD-NAME"));
        java.util.Collections.sort(seen);
        assertEquals(expectedNames, seen, "the guest's vfat lists every name as imported:\n" + boot.serial());
        Map<String, String> expected = new LinkedHashMap<>();
        for (String name : FAT_NAMES) {
            expected.put(name, VmCli.sha256(namesSource.resolve("Dokumente").resolve(name)));
        }
        assertEquals(new java.util.TreeMap<>(expected), new java.util.TreeMap<>(boot.hashes()), boot.serial());
        assertTrue(boot.has("DCD-UNMOUNTED"), boot.serial());
        assertEquals(List.of("from the guest"), boot.values("DCD-READBACK"), boot.serial());

        // fsck.fat on the filesystem as served afterwards: the partition copied out of the export.
        Path raw = tmp.resolve("fat.raw");
        ok("nbdcopy", uri, raw.toString());
        Path partition = tmp.resolve("fat-part.img");
        long partitionLength = dev.dcd.synth.Gpt.layout(128L << 20).partitionLength();
        try (FileChannel in = FileChannel.open(raw); FileChannel out = FileChannel.open(partition,
                StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            long done = 0;
            while (done < partitionLength) {
                done += in.transferTo(PARTITION_OFFSET + done, partitionLength - done, out);
            }
        }
        VmCli.Result fsck = VmCli.run("fsck.fat", "-n", partition.toString());
        assertEquals(0, fsck.code(), "fsck.fat -n after the guest's write: " + fsck);
        String listing = ok("mdir", "-i", partition.toString(), "::/Dokumente");
        assertTrue(listing.contains("Vom Gast geschrieben"), listing);
    }

    @Test
    void aNewGenerationBringsTheNewAppAndStartsFromTheAppsNotFromOldGuestWrites() throws Exception {
        vm("gen", "ext4", "256M", "busybox-static");
        String uri = serve("gen");
        Guest.Boot first = Guest.boot(kernel, tmp.resolve("first"), uri, false, Guest.EXT4, """
                $B mount -t ext4 /dev/vda1 /mnt || echo DCD-FAIL mount
                echo one > /mnt/written-in-generation-1.txt
                $B test -e /mnt/srv/data/big.bin && echo DCD-HAS-DATA
                $B sync && $B umount /mnt && echo DCD-UNMOUNTED
                """);
        assertTrue(first.has("DCD-UNMOUNTED"), first.serial());
        assertFalse(first.has("DCD-HAS-DATA"), "the data app is not assigned yet");
        stop("gen");

        dcdOk(home, "vm", "assign", "gen", "data");
        VmCli.Result build = dcdOk(home, "disk", "build", "gen");
        assertTrue(build.err().contains("holds guest writes; it is kept"), build.toString());
        uri = serve("gen");
        Guest.Boot second = Guest.boot(kernel, tmp.resolve("second"), uri, true, Guest.EXT4, """
                $B mount -o ro -t ext4 /dev/vda1 /mnt || echo DCD-FAIL mount
                cd /mnt && $B sha256sum srv/data/big.bin bin/busybox | $B sed 's/^/DCD-SHA /'
                $B test -e /mnt/written-in-generation-1.txt && echo DCD-OLD-WRITE-VISIBLE
                """);
        assertEquals(Map.of("srv/data/big.bin", VmCli.sha256(dataSource.resolve("srv/data/big.bin")),
                "bin/busybox", VmCli.sha256(busyboxSource.resolve("bin/busybox"))), second.hashes(), second.serial());
        assertFalse(second.has("DCD-OLD-WRITE-VISIBLE"),
                "generation 2 is synthesized from the apps; generation 1's guest writes stay in generation 1");
        String generations = dcdOk(home, "disk", "generations", "gen").out();
        assertTrue(generations.lines().anyMatch(l -> l.trim().startsWith("1") && l.trim().endsWith("yes")), generations);
    }

    // ------------------------------------------------------------------ helpers

    private void assertAppsRan(Guest.Boot boot) throws IOException {
        assertTrue(boot.has("DCD-APP-RAN"), "the app's busybox ran in the guest:\n" + boot.serial());
        assertEquals(1, boot.values("DCD-HELLO").size(), boot.serial());
        assertFalse(boot.serial().contains("DCD-FAIL"), boot.serial());
        assertEquals(Map.of("bin/busybox", VmCli.sha256(busyboxSource.resolve("bin/busybox")),
                "srv/data/big.bin", VmCli.sha256(dataSource.resolve("srv/data/big.bin")),
                "srv/data/hello.sh", VmCli.sha256(dataSource.resolve("srv/data/hello.sh"))), boot.hashes(), boot.serial());
    }

    private static void vm(String name, String fs, String size, String... apps) {
        dcdOk(home, "vm", "create", name, "--fs", fs, "--size", size);
        List<String> assign = new ArrayList<>(List.of("vm", "assign", name));
        assign.addAll(List.of(apps));
        dcdOk(home, assign.toArray(String[]::new));
        dcdOk(home, "disk", "build", name);
    }

    private String serve(String vm) throws IOException {
        Path socket = tmp.resolve(vm + "-" + System.nanoTime() + ".sock");
        JsonNode started = JSON.readTree(dcdOk(home, "--json", "serve", vm, "--nbd", "unix:" + socket, "--background").out());
        cleanups.add(() -> dcd(home, "serve", "--stop", vm));
        return started.get("uri").asText();
    }

    private static void stop(String vm) {
        dcdOk(home, "serve", "--stop", vm);
    }

    private static Path busyboxDeb() throws IOException {
        Files.createDirectories(PACKAGES);
        Path found = findDeb();
        if (found == null) {
            VmCli.Result r = VmCli.run("sh", "-c", "cd '" + PACKAGES + "' && apt-get download busybox-static");
            if (r.code() != 0) {
                throw new AssertionError("apt-get download busybox-static failed: " + r);
            }
            found = findDeb();
        }
        return found;
    }

    private static Path findDeb() throws IOException {
        try (Stream<Path> s = Files.list(PACKAGES)) {
            return s.filter(p -> p.getFileName().toString().matches("busybox-static_.*\\.deb")).findFirst().orElse(null);
        }
    }
}
