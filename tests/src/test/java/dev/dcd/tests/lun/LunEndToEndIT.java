package dev.dcd.tests.lun;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dcd.synth.Gpt;
import dev.dcd.tests.vmmount.VmCli;
import dev.dcd.tests.support.Cleanups;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Stream;

import static dev.dcd.tests.vmmount.VmCli.dcd;
import static dev.dcd.tests.vmmount.VmCli.dcdOk;
import static dev.dcd.tests.vmmount.VmCli.ok;
import static dev.dcd.tests.vmmount.VmCli.quietly;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The SAN issue end to end through the real command line: a Debian package and a directory app imported into a
 * LUN that nbdkit serves from a file, a VM built from them and mounted through FUSE; every file read through
 * {@code files/} and through the kernel's ext4 on a loop device of {@code disk.img} equals its source; nbdinfo and
 * nbdcopy see the layout the doc describes with each vdisk byte for byte at its extent. Needs root (FUSE, loop).
 */
@Timeout(900)
class LunEndToEndIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path PACKAGES = Path.of("target", "packages").toAbsolutePath();
    private static final long LUN_SIZE = 512L << 20;
    private static final long EXT4_SIZE = 256L << 20;

    @TempDir
    static Path dir;
    private static NbdServer server;
    private static Path lunFile;
    private static Path home;
    private static Path source;
    private static Path deb;
    private static Path toolsTree;
    @RegisterExtension
    final Cleanups cleanups = new Cleanups();

    @BeforeAll
    static void importIntoTheLunAndBuild() throws Exception {
        lunFile = dir.resolve("lun0.img");
        try (RandomAccessFile f = new RandomAccessFile(lunFile.toFile(), "rw")) {
            f.setLength(LUN_SIZE);
        }
        server = NbdServer.nbdkit(dir, List.of(), "file", lunFile.toString());
        home = dir.resolve("home");
        source = dir.resolve("source");
        deb = helloDeb();
        ok("dpkg-deb", "-x", deb.toString(), source.toString());
        toolsTree = dir.resolve("tools-1.0");
        makeTree(toolsTree.resolve("opt/tools"));
        ok("cp", "-a", toolsTree.resolve("opt").toString(), source.toString());

        String added = dcdOk(home, "backend", "add", "lun0", server.uri().toString()).out();
        assertEquals("added backend lun0 " + server.uri() + " (509.0 MiB, 509.0 MiB free)\n", added);
        dcdOk(home, "catalog", "import", deb.toString(), "--backend", "lun0");
        dcdOk(home, "catalog", "import", toolsTree.toString(), "--backend", "lun0");
        dcdOk(home, "vm", "create", "web", "--size", "256M");
        dcdOk(home, "vm", "assign", "web", "hello", "tools");
        dcdOk(home, "disk", "build", "web");
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    private static Map<String, String> contentIds() throws IOException {
        Map<String, String> ids = new TreeMap<>();
        for (JsonNode app : JSON.readTree(dcdOk(home, "--json", "catalog", "list").out())) {
            assertEquals("lun0", app.get("backend").asText());
            ids.put(app.get("name").asText(), app.get("contentId").asText());
        }
        return ids;
    }

    @Test
    void nbdinfoAndNbdcopySeeTheDocumentedLayoutWithEachVdiskByteForByteAtItsExtent() throws Exception {
        JsonNode info = JSON.readTree(ok("nbdinfo", "--json", server.uri().toString()));
        assertEquals(LUN_SIZE, info.get("exports").get(0).get("export-size").asLong(), info.toString());
        Path copy = dir.resolve("copy.img");
        ok("nbdcopy", server.uri().toString(), copy.toString());
        LunImage image = LunImage.read(copy);
        Map<String, String> ids = contentIds();
        assertEquals(2, image.extents().size(), image.toString());

        // The same sources imported into a local backend give the same vdisks; the LUN holds exactly those bytes.
        Path localHome = dir.resolve("local-home");
        dcdOk(localHome, "catalog", "import", deb.toString());
        dcdOk(localHome, "catalog", "import", toolsTree.toString());
        for (String id : ids.values()) {
            LunImage.Extent e = image.extent(id);
            assertEquals(0, e.offset() % 65536, "extents start on the allocation unit");
            Path local = localHome.resolve("vdisks").resolve(id + ".vdisk");
            assertEquals(Files.size(local), e.length());
            assertEquals(VmCli.sha256(local), sha256(copy, e.offset(), e.length()), "vdisk " + id + " on the LUN");
        }
        Path localStore = home.resolve("vdisks");
        if (Files.exists(localStore)) {
            try (Stream<Path> s = Files.list(localStore)) {
                assertEquals(0, s.count(), "nothing went to the local backend");
            }
        }
    }

    @Test
    void backendListShowsCapacityUsedAndFreeAndCheckDoesARoundTrip() throws Exception {
        LunImage image = LunImage.read(lunFile);
        JsonNode lun = null;
        for (JsonNode b : JSON.readTree(dcdOk(home, "--json", "backend", "list").out())) {
            if (b.get("name").asText().equals("lun0")) {
                lun = b;
            }
        }
        assertNotNull(lun);
        long capacity = LUN_SIZE - (3L << 20);
        assertEquals(capacity, lun.get("capacityBytes").asLong());
        assertEquals(image.allocated(), lun.get("usedBytes").asLong());
        assertEquals(capacity - image.allocated(), lun.get("freeBytes").asLong());
        String table = dcdOk(home, "backend", "list").out();
        assertTrue(table.lines().anyMatch(l -> l.startsWith("lun0 ") && l.contains(" 509.0 MiB ")), table);
        String check = dcdOk(home, "backend", "check", "lun0").out();
        assertTrue(check.startsWith("lun0: ok, ") && check.contains("2 vdisk(s)"), check);
    }

    @Test
    void everyFileReadsLikeItsSourceThroughFilesAndThroughTheKernelsExt4OnALoopDevice() throws Exception {
        Path mnt = Files.createDirectories(dir.resolve("mnt"));
        dcdOk(home, "mount", "web", mnt.toString());
        cleanups.add(() -> {
            quietly("java", "-jar", VmCli.JAR.toString(), "--home", home.toString(), "umount", mnt.toString());
            quietly("fusermount", "-u", "-z", mnt.toString());
        });
        Map<String, String> expected = VmCli.describeTree(source, true);
        assertTrue(expected.size() > 10, expected.toString());
        assertEquals(expected, VmCli.describeTree(mnt.resolve("files"), true), "files/ against the source");

        Path img = mnt.resolve("disk.img");
        VmCli.Result fsck = VmCli.run("e2fsck", "-fn", img + "?offset=" + VmCli.PARTITION_OFFSET);
        assertEquals(0, fsck.code(), fsck.toString());
        long partitionLength = Gpt.layout(EXT4_SIZE).partitionLength();
        String loop = ok("losetup", "-f", "--show", "-r", "-o", Long.toString(VmCli.PARTITION_OFFSET), "--sizelimit",
                Long.toString(partitionLength), img.toString()).strip();
        cleanups.add(() -> quietly("losetup", "-d", loop));
        Path ro = Files.createDirectories(dir.resolve("ro"));
        ok("mount", "-t", "ext4", "-o", "ro,noload", loop, ro.toString());
        cleanups.add(() -> quietly("umount", "-l", ro.toString()));
        assertEquals(expected, VmCli.describeTree(ro, true), "kernel ext4 on disk.img against the source");
        ok("umount", ro.toString());
        ok("losetup", "-d", loop);
        assertEquals(0, dcd(home, "umount", mnt.toString()).code());
    }

    @Test
    void catalogRmFreesTheExtentAndTheNextImportReusesTheSpace() throws Exception {
        Path small = Files.createDirectories(dir.resolve("small-0.1/srv/small"));
        Files.writeString(small.resolve("readme.txt"), "a small app\n");
        long before = LunImage.read(lunFile).allocated();
        dcdOk(home, "catalog", "import", small.getParent().getParent().toString(), "--backend", "lun0");
        LunImage with = LunImage.read(lunFile);
        String id = contentIdOf("small");
        LunImage.Extent first = with.extent(id);
        assertEquals(before + first.allocated(), with.allocated());
        dcdOk(home, "catalog", "rm", "small");
        LunImage without = LunImage.read(lunFile);
        assertEquals(before, without.allocated(), "the extent's space is free again");
        assertTrue(without.extents().stream().noneMatch(e -> e.contentId().equals(id)));
        dcdOk(home, "catalog", "import", small.getParent().getParent().toString(), "--backend", "lun0");
        assertEquals(first.offset(), LunImage.read(lunFile).extent(id).offset(), "the freed range is used again");
        dcdOk(home, "catalog", "rm", "small");
    }

    private static String contentIdOf(String app) throws IOException {
        for (JsonNode a : JSON.readTree(dcdOk(home, "--json", "catalog", "list").out())) {
            if (a.get("name").asText().equals(app)) {
                return a.get("contentId").asText();
            }
        }
        throw new AssertionError("no app " + app);
    }

    static String sha256(Path file, long offset, long length) throws Exception {
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        try (InputStream in = Files.newInputStream(file)) {
            in.skipNBytes(offset);
            byte[] buffer = new byte[1 << 20];
            long left = length;
            while (left > 0) {
                int n = in.read(buffer, 0, (int) Math.min(buffer.length, left));
                if (n < 0) {
                    throw new IOException("short file");
                }
                sha.update(buffer, 0, n);
                left -= n;
            }
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    static Path helloDeb() throws IOException {
        Files.createDirectories(PACKAGES);
        Path found = findDeb();
        if (found == null) {
            VmCli.Result r = VmCli.run("sh", "-c", "cd '" + PACKAGES + "' && apt-get download hello");
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

    /** Text, a hardlink, a symlink, an empty file, and 12 MiB of random data over many 64 KiB chunks. */
    static void makeTree(Path root) throws IOException {
        Random random = new Random(15);
        Path etc = Files.createDirectories(root.resolve("etc"));
        Path data = Files.createDirectories(root.resolve("data"));
        Files.writeString(etc.resolve("tools.conf"), "mode=san\n");
        Files.createLink(etc.resolve("tools-link.conf"), etc.resolve("tools.conf"));
        Files.createSymbolicLink(etc.resolve("current"), Path.of("tools.conf"));
        Files.createFile(etc.resolve("empty"));
        for (int i = 0; i < 6; i++) {
            byte[] b = new byte[(i == 0 ? 12 << 20 : 1 + random.nextInt(400_000))];
            random.nextBytes(b);
            Files.write(data.resolve("blob" + i + ".bin"), b);
        }
    }
}
