package dev.dcd.tests.nfs;

import dev.dcd.block.FileBlockDevice;
import dev.dcd.tests.vmmount.VmCli;
import dev.dcd.vdisk.AppVdisk;
import dev.dcd.vdisk.Entry;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static dev.dcd.tests.vmmount.VmCli.dcd;
import static dev.dcd.tests.vmmount.VmCli.dcdOk;
import static dev.dcd.tests.vmmount.VmCli.ok;
import static dev.dcd.tests.vmmount.VmCli.quietly;
import static dev.dcd.tests.vmmount.VmCli.sha256;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The NFS issue end to end with the real jar: real Debian packages and a generated app imported onto an
 * {@code nfs://} backend served by nfs-ganesha, one local app beside them in the same VM, the VM mounted with
 * {@code dcd mount}. Then ganesha is killed, frozen, and a vdisk is corrupted on the export, and finally every
 * file is compared with its source through {@code files/} and through a kernel loop mount of {@code disk.img}.
 * Needs root (FUSE, loop devices, drop_caches).
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(600)
class NfsMountIT {
    private static final String BACKEND = "nas";
    private static final long DEADLINE_MS = 3000;
    /** Slack over the deadline for the FUSE round trip and the JVM on 2 loaded cores. */
    private static final long SLACK_MS = 3000;

    @TempDir
    static Path dir;
    private static GaneshaServer server;
    private static Path home;
    private static Path mnt;
    private static Path log;
    /** Source root of each app, by the name the VM knows it under. */
    private static final Map<String, Path> sources = new LinkedHashMap<>();
    private static final List<Runnable> cleanups = new ArrayList<>();

    @BeforeAll
    static void importBuildAndMount() throws Exception {
        server = GaneshaServer.start(dir.resolve("export"));
        Files.createDirectories(server.export().resolve("apps"));
        home = dir.resolve("home");
        String uri = server.uri("apps", "&deadline-ms=" + DEADLINE_MS);
        assertTrue(dcdOk(home, "backend", "add", BACKEND, uri).out().contains("added backend " + BACKEND));
        String check = dcdOk(home, "backend", "check", BACKEND).out();
        assertTrue(check.startsWith(BACKEND + ": ok") && check.contains("probe write/commit/read/remove ok"), check);
        assertTrue(dcdOk(home, "backend", "list").out().contains(uri), "listed with its URI");

        for (String pkg : List.of("hello", "tzdata")) {
            Path deb = debian(pkg);
            Path tree = Files.createDirectories(dir.resolve("src/" + pkg));
            ok("dpkg-deb", "-x", deb.toString(), tree.toString());
            sources.put(pkg, tree);
            dcdOk(home, "catalog", "import", deb.toString(), "--backend", BACKEND);
        }
        Path data = Files.createDirectories(dir.resolve("src/data-1.0"));
        Random random = new Random(14);
        // Readahead may run up to two 16 MiB windows past what was read: 48 MiB gaps keep each phase's files cold.
        String[][] files = {{"a/warm1", "1"}, {"a/warm2", "2"}, {"b/gap1", "16"}, {"b/gap2", "16"}, {"b/gap3", "16"},
                {"c/cold1", "2"}, {"c/cold2", "3"}, {"d/gap1", "16"}, {"d/gap2", "16"}, {"d/gap3", "16"},
                {"e/hung1", "2"}, {"e/hung2", "1"}, {"f/gap1", "16"}, {"f/gap2", "16"}, {"f/gap3", "16"},
                {"g/corrupt", "1"}};
        for (String[] f : files) {
            write(data.resolve(f[0]), Integer.parseInt(f[1]) * 1024 * 1024 + 333, random);
        }
        sources.put("data", data);
        dcdOk(home, "catalog", "import", data.toString(), "--backend", BACKEND);
        Path local = Files.createDirectories(dir.resolve("src/localapp-1.0"));
        write(local.resolve("opt/localapp/blob"), 3 * 1024 * 1024 + 7, random);
        write(local.resolve("opt/localapp/small"), 999, random);
        sources.put("localapp", local);
        dcdOk(home, "catalog", "import", local.toString());

        try (Stream<Path> vdisks = Files.list(server.export().resolve("apps"))) {
            List<String> names = vdisks.map(p -> p.getFileName().toString()).sorted().toList();
            assertEquals(3, names.size(), "three vdisks on the export, no temporary files: " + names);
            assertTrue(names.stream().allMatch(n -> n.matches("[0-9a-f]{64}\\.vdisk")), names.toString());
        }
        String listing = VmCli.ok("nfs-ls", server.libnfsUrl("apps"));
        assertEquals(3, listing.lines().filter(l -> l.endsWith(".vdisk")).count(), "an independent client sees them: " + listing);

        dcdOk(home, "vm", "create", "web", "--size", "512M");
        dcdOk(home, "vm", "assign", "web", "hello", "tzdata", "data", "localapp");
        dcdOk(home, "disk", "build", "web");
        mnt = Files.createDirectories(dir.resolve("mnt"));
        String mounted = dcdOk(home, "mount", "web", mnt.toString()).out();
        assertTrue(mounted.startsWith("mounted web at " + mnt), mounted);
        cleanups.add(() -> {
            quietly("java", "-jar", VmCli.JAR.toString(), "--home", home.toString(), "umount", mnt.toString());
            quietly("fusermount", "-u", "-z", mnt.toString());
        });
        log = home.resolve("log").resolve("mount-web.log");
    }

    /** A real package, downloaded once per checkout into tests/target/packages. */
    private static Path debian(String pkg) throws IOException {
        return dev.dcd.tests.scripts.DebianPackages.get(pkg);
    }

    private static void write(Path file, int size, Random random) throws IOException {
        byte[] bytes = new byte[size];
        random.nextBytes(bytes);
        Files.createDirectories(file.getParent());
        Files.write(file, bytes);
    }

    @AfterAll
    static void cleanUp() {
        for (int i = cleanups.size() - 1; i >= 0; i--) {
            cleanups.get(i).run();
        }
        if (server != null) {
            server.close();
        }
    }

    private static Path file(String app, String path) {
        return mnt.resolve("files").resolve(path);
    }

    private static String expected(String app, String path) throws IOException {
        return sha256(sources.get(app).resolve(path));
    }

    private static void dropPageCache() throws IOException {
        ok("sync");
        Files.writeString(Path.of("/proc/sys/vm/drop_caches"), "3");
    }

    /** Reads a file through the mount and expects EIO within the deadline; returns how long it took. */
    private static long assertEio(String path) {
        long start = System.nanoTime();
        IOException e = assertThrows(IOException.class, () -> sha256(file("data", path)), path);
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertTrue(String.valueOf(e.getMessage()).contains("Input/output error"), "EIO: " + e);
        assertTrue(millis < DEADLINE_MS + SLACK_MS, path + " failed after " + millis + " ms; deadline " + DEADLINE_MS + " ms");
        System.out.println("EIO for " + path + " after " + millis + " ms");
        return millis;
    }

    private static void assertLogged(String path, String... words) throws IOException {
        String logged = Files.readString(log);
        assertTrue(logged.lines().anyMatch(l -> l.startsWith("dcd-fuse: read /files/" + path) && l.contains("returning EIO")
                        && l.contains("app data@1.0 on backend '" + BACKEND + "'") && List.of(words).stream().allMatch(l::contains)),
                "the serving log names app and backend for " + path + ":\n" + logged);
    }

    private static void assertLocalAppReads() throws IOException {
        for (String p : List.of("opt/localapp/blob", "opt/localapp/small")) {
            assertEquals(expected("localapp", p), sha256(file("localapp", p)), p + " (local backend) keeps reading");
        }
    }

    @Test
    @Order(1)
    void aKilledServerFailsColdNfsReadsWithEioWithinTheDeadlineWhileWarmAndLocalFilesReadAndColdOnesReturnAfterRestart()
            throws Exception {
        for (String warm : List.of("a/warm1", "a/warm2")) {
            assertEquals(expected("data", warm), sha256(file("data", warm)), warm);
        }
        server.kill();
        try {
            dropPageCache();
            for (String warm : List.of("a/warm1", "a/warm2")) {
                assertEquals(expected("data", warm), sha256(file("data", warm)), warm + " is served from dcd's cache");
            }
            assertEio("c/cold1");
            assertEio("c/cold2");
            assertLogged("c/cold1");
            assertLocalAppReads();
            assertEquals(List.of("cold1", "cold2"), list(mnt.resolve("files/c")), "metadata is local and keeps working");
        } finally {
            server.restart();
        }
        for (String cold : List.of("c/cold1", "c/cold2")) {
            assertEquals(expected("data", cold), sha256(file("data", cold)), cold + " reads again, without a remount");
        }
    }

    @Test
    @Order(2)
    void aHungServerGivesTheSameEioWithinTheDeadlineAndReadsResumeWhenItWakes() throws Exception {
        server.freeze();
        try {
            dropPageCache();
            assertEio("e/hung1");
            assertLogged("e/hung1");
            assertLocalAppReads();
            assertEquals(expected("data", "a/warm1"), sha256(file("data", "a/warm1")), "warm files read while it hangs");
        } finally {
            server.thaw();
        }
        for (String p : List.of("e/hung1", "e/hung2")) {
            assertEquals(expected("data", p), sha256(file("data", p)), p + " reads once the server resumes");
        }
    }

    @Test
    @Order(3)
    void aVdiskCorruptedOnTheExportIsDetectedAndNeverServed() throws Exception {
        Path vdisk = vdiskHolding("g/corrupt");
        long at;
        try (FileBlockDevice device = FileBlockDevice.openReadOnly(vdisk)) {
            Entry victim = AppVdisk.open(device).manifest().entry("g/corrupt");
            at = victim.dataOffset() + 12345;
        }
        try (RandomAccessFile raf = new RandomAccessFile(vdisk.toFile(), "rw")) {
            raf.seek(at);
            int b = raf.read();
            raf.seek(at);
            raf.write(b ^ 0x40);
        }
        dropPageCache();
        IOException e = assertThrows(IOException.class, () -> sha256(file("data", "g/corrupt")));
        assertTrue(String.valueOf(e.getMessage()).contains("Input/output error"), "EIO: " + e);
        assertLogged("g/corrupt", "CRC32C");
    }

    /** The export's vdisk file whose manifest lists {@code path}. */
    private static Path vdiskHolding(String path) throws IOException {
        try (Stream<Path> vdisks = Files.list(server.export().resolve("apps"))) {
            for (Path p : vdisks.toList()) {
                try (FileBlockDevice device = FileBlockDevice.openReadOnly(p)) {
                    AppVdisk vdisk = AppVdisk.open(device);
                    if (vdisk.manifest().entries().stream().anyMatch(en -> en.path().equals(path))) {
                        return p;
                    }
                }
            }
        }
        throw new AssertionError("no vdisk holds " + path);
    }

    @Test
    @Order(4)
    void everyFileEqualsItsSourceThroughFilesAndThroughAKernelLoopMountOfTheDisk() throws Exception {
        Map<String, String> want = new LinkedHashMap<>();
        for (Map.Entry<String, Path> app : sources.entrySet()) {
            for (Map.Entry<String, String> f : VmCli.fileHashes(app.getValue()).entrySet()) {
                if (!f.getKey().equals("g/corrupt")) {
                    want.put(f.getKey(), f.getValue());
                }
            }
        }
        assertTrue(want.size() > 500, "tzdata alone has hundreds of files: " + want.size());
        dropPageCache();
        for (Map.Entry<String, String> f : want.entrySet()) {
            assertEquals(f.getValue(), sha256(mnt.resolve("files").resolve(f.getKey())), "files/" + f.getKey());
        }
        String loop = ok("losetup", "-f", "--show", "-r", "-o", Long.toString(VmCli.PARTITION_OFFSET),
                mnt.resolve("disk.img").toString()).strip();
        Path kernel = Files.createDirectories(dir.resolve("kernel"));
        try {
            ok("mount", "-t", "ext4", "-o", "ro,noload", loop, kernel.toString());
            try {
                for (Map.Entry<String, String> f : want.entrySet()) {
                    assertEquals(f.getValue(), sha256(kernel.resolve(f.getKey())), "loop-mounted " + f.getKey());
                }
            } finally {
                quietly("umount", kernel.toString());
            }
        } finally {
            quietly("losetup", "-d", loop);
        }
    }

    @Test
    @Order(5)
    void aBackendThatHoldsAppsCannotBeRemoved() {
        VmCli.Result r = dcd(home, "backend", "rm", BACKEND);
        assertEquals(1, r.code(), r.toString());
        assertEquals(1, r.err().strip().lines().count(), "one line: " + r);
        assertTrue(dcdOk(home, "backend", "list").out().contains(BACKEND));
    }

    private static List<String> list(Path directory) throws IOException {
        try (var names = Files.list(directory)) {
            return names.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }
}
