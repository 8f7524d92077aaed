package dev.dcd.tests.lun;

import dev.dcd.backend.Backend;
import dev.dcd.backend.Backends;
import dev.dcd.block.BlockDevice;
import dev.dcd.filter.AppReadException;
import dev.dcd.filter.DynamicContentDisk;
import dev.dcd.filter.ReadaheadConfig;
import dev.dcd.synth.FileIndex;
import dev.dcd.tests.s3.S3Home;
import dev.dcd.vdisk.ContentId;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Misbehaving LUNs, each a real nbdkit with a fault filter: random EIO (nbdkit's error filter, switched on and
 * off by a trigger file), every read failing, reads slower than the deadline (delay filter), a server killed
 * in the middle of a read and started again, and a byte changed behind dcd's back. dcd retries within the
 * deadline, never serves a wrong byte, and a LUN that stays broken fails only its own app's reads.
 */
@Timeout(300)
class LunFaultIT {
    private static final int FUSE_REQUEST = 128 * 1024;
    private static final long LUN_SIZE = 64L << 20;

    @TempDir
    static Path dir;
    private static NbdServer flaky;
    private static NbdServer broken;
    private static Path flakyTrigger;
    private static Path brokenTrigger;
    private static Path brokenLun;
    private static S3Home home;
    private static final Map<String, String> expected = new TreeMap<>();

    @BeforeAll
    static void twoAppsOnTwoLuns() throws Exception {
        flakyTrigger = dir.resolve("flaky.on");
        brokenTrigger = dir.resolve("broken.on");
        Path flakyLun = lun("flaky.img");
        brokenLun = lun("broken.img");
        // Errors only on reads and only while the trigger file exists: the imports run against a healthy LUN.
        flaky = NbdServer.nbdkit(dir, List.of("--filter=error", "error-pread=EIO", "error-pread-rate=50%",
                "error-pread-file=" + flakyTrigger), "file", flakyLun.toString());
        broken = NbdServer.nbdkit(dir, List.of("--filter=error", "error-pread=EIO", "error-pread-rate=100%",
                "error-pread-file=" + brokenTrigger), "file", brokenLun.toString());
        home = new S3Home(dir.resolve("home"));
        home.ok("backend", "add", "flaky", flaky.uri("deadline-ms=20000").toString());
        home.ok("backend", "add", "broken", broken.uri("deadline-ms=2000").toString());
        Random random = new Random(5);
        home.ok("catalog", "import", app("alpha-1.0", "srv/alpha", random, 6 << 20, 3).toString(), "--backend", "flaky");
        home.ok("catalog", "import", app("beta-1.0", "srv/beta", random, 2 << 20, 2).toString(), "--backend", "broken");
        home.ok("vm", "create", "two", "--size", "64M");
        home.ok("vm", "assign", "two", "alpha", "beta");
        home.ok("disk", "build", "two");
    }

    private static Path lun(String name) throws IOException {
        Path file = dir.resolve(name);
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(LUN_SIZE);
        }
        return file;
    }

    private static Path app(String name, String prefix, Random random, int big, int small) throws IOException {
        Path root = dir.resolve("src").resolve(name);
        for (int i = 0; i <= small; i++) {
            byte[] b = new byte[i == 0 ? big : 1 + random.nextInt(200_000)];
            random.nextBytes(b);
            Path file = root.resolve(prefix).resolve("f" + i + ".bin");
            Files.createDirectories(file.getParent());
            Files.write(file, b);
            expected.put(prefix + "/f" + i + ".bin", S3Home.sha256(file));
        }
        return root;
    }

    @AfterAll
    static void stop() throws IOException {
        for (NbdServer s : new NbdServer[]{flaky, broken}) {
            if (s != null) {
                s.close();
            }
        }
        if (home != null) {
            home.close();
        }
    }

    private static Map<String, FileIndex.Node> files() throws IOException {
        Map<String, FileIndex.Node> files = new TreeMap<>();
        for (FileIndex.Node n : S3Home.files(home.index("two"))) {
            files.put(n.path(), n);
        }
        assertEquals(expected.keySet(), files.keySet());
        return files;
    }

    /** The chain without a cache: every read goes to the LUNs. */
    private static DynamicContentDisk open(S3Home view) throws IOException {
        return view.open("two", null, Set.of(), ReadaheadConfig.DEFAULT, Set.of("flaky", "broken"));
    }

    @Test
    void withHalfOfAllReadsFailingEveryFileStillReadsRightBecauseEachReadIsRetriedWithinTheDeadline() throws Exception {
        Files.createFile(flakyTrigger);
        try (S3Home view = new S3Home(home.home()); DynamicContentDisk disk = open(view)) {
            for (var e : files().entrySet()) {
                if (e.getKey().startsWith("srv/alpha/")) {
                    assertEquals(expected.get(e.getKey()), S3Home.sha256(disk, e.getValue(), FUSE_REQUEST), e.getKey());
                }
            }
        } finally {
            Files.delete(flakyTrigger);
        }
    }

    @Test
    void aLunWhoseEveryReadFailsGivesEioForItsOwnAppOnlyWithinItsDeadlineAndRecoversWithoutReopening() throws Exception {
        Map<String, FileIndex.Node> files = files();
        try (S3Home view = new S3Home(home.home()); DynamicContentDisk disk = open(view)) {
            // Opened while healthy, as a mount would be.
            assertEquals(expected.get("srv/beta/f1.bin"), S3Home.sha256(disk, files.get("srv/beta/f1.bin"), FUSE_REQUEST));
            Files.createFile(brokenTrigger);
            try {
                long start = System.nanoTime();
                IOException e = assertThrows(IOException.class,
                        () -> S3Home.sha256(disk, files.get("srv/beta/f0.bin"), FUSE_REQUEST));
                long millis = (System.nanoTime() - start) / 1_000_000;
                AppReadException app = assertInstanceOf(AppReadException.class, e);
                assertEquals("beta@1.0", app.app());
                assertEquals("broken", app.backend());
                assertTrue(e.getMessage().contains("EIO"), e.getMessage());
                assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
                assertTrue(millis < 10_000, "bounded by the 2 s deadline (and readahead's): " + millis + " ms");
                for (String path : List.of("srv/alpha/f0.bin", "srv/alpha/f2.bin")) {
                    assertEquals(expected.get(path), S3Home.sha256(disk, files.get(path), FUSE_REQUEST),
                            path + " on the healthy LUN is untouched");
                }
            } finally {
                Files.delete(brokenTrigger);
            }
            assertEquals(expected.get("srv/beta/f0.bin"), S3Home.sha256(disk, files.get("srv/beta/f0.bin"), FUSE_REQUEST),
                    "the same disk reads again once the LUN is healthy");
        }
    }

    @Test
    void aReadSlowerThanTheDeadlineFailsInBoundedTimeAndSucceedsUnderALongerOne() throws Exception {
        Path file = dir.resolve("broken.img");
        try (NbdServer slow = NbdServer.nbdkit(dir, List.of("--filter=delay", "rdelay=1500ms"), "file", file.toString());
             Backend patient = Backends.open("patient", slow.uri("deadline-ms=20000"));
             Backend hasty = Backends.open("hasty", slow.uri("deadline-ms=500"))) {
            ContentId beta = new ContentId(home.app("beta").contentId());
            long start = System.nanoTime();
            IOException e = assertThrows(IOException.class, () -> hasty.open(beta));
            long millis = (System.nanoTime() - start) / 1_000_000;
            assertTrue(e.getMessage().startsWith("backend 'hasty'"), e.getMessage());
            assertTrue(e.getMessage().contains("no answer within the deadline"), e.getMessage());
            assertTrue(millis < 5_000, millis + " ms");
            try (BlockDevice device = patient.open(beta)) {
                ByteBuffer all = ByteBuffer.allocate((int) device.size());
                device.read(0, all);
                assertTrue(all.position() == all.limit());
            }
        }
    }

    @Test
    void aServerKilledInTheMiddleOfAReadAndStartedAgainLetsTheReadFinishWithTheRightBytes() throws Exception {
        Path file = lun("restart.img");
        try (NbdServer plain = NbdServer.nbdkit(dir, List.of("--filter=delay", "rdelay=100ms"), "file", file.toString());
             Backend lun = Backends.open("restart", plain.uri("deadline-ms=30000&connections=2"))) {
            Path vdiskSource = dir.resolve("src-restart");
            byte[] content = new byte[16 << 20];
            new Random(9).nextBytes(content);
            Files.createDirectories(vdiskSource.resolve("srv/r"));
            Files.write(vdiskSource.resolve("srv/r/big.bin"), content);
            S3Home other = new S3Home(dir.resolve("home-restart"));
            other.ok("backend", "add", "restart", plain.uri("deadline-ms=30000").toString());
            other.ok("catalog", "import", vdiskSource.toString(), "--name", "r", "--version", "1", "--backend", "restart");
            ContentId id = new ContentId(other.app("r").contentId());
            try (BlockDevice device = lun.open(id)) {
                ByteBuffer all = ByteBuffer.allocate((int) device.size());
                CompletableFuture<Void> read = CompletableFuture.runAsync(() -> {
                    try {
                        device.read(0, all);
                    } catch (IOException e) {
                        throw new RuntimeException(e);
                    }
                });
                assertFalse(read.isDone(), "16 MiB at 100 ms a request on two connections takes seconds");
                plain.kill();
                assertFalse(read.isDone());
                plain.start();
                read.get(60, TimeUnit.SECONDS);
                ByteBuffer again = ByteBuffer.allocate((int) device.size());
                device.read(0, again);
                assertEquals(again.flip(), all.flip(), "the read that spanned the restart has the bytes of a clean one");
            }
        }
    }

    @Test
    void aByteChangedOnTheLunIsNeverServedItsChunkFailsAndTheOthersStillRead() throws Exception {
        Path file = lun("corrupt.img");
        try (NbdServer server = NbdServer.nbdkit(dir, List.of(), "file", file.toString())) {
            S3Home other = new S3Home(dir.resolve("home-corrupt"));
            other.ok("backend", "add", "c", server.uri().toString());
            Path src = Files.createDirectories(dir.resolve("src-corrupt/srv/c"));
            byte[] content = new byte[1 << 20];
            new Random(3).nextBytes(content);
            Files.write(src.resolve("data.bin"), content);
            other.ok("catalog", "import", src.getParent().getParent().toString(), "--name", "c", "--version", "1",
                    "--backend", "c");
            ContentId id = new ContentId(other.app("c").contentId());
            LunImage.Extent extent = LunImage.read(file).extent(id.hex());
            long victim = extent.offset() + 4096 + 3 * 65536 + 100;  // inside data chunk 3
            try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
                f.seek(victim);
                int b = f.read();
                f.seek(victim);
                f.write(b ^ 0x20);
            }
            try (Backend lun = Backends.open("c", server.uri()); BlockDevice device = lun.open(id)) {
                IOException e = assertThrows(IOException.class,
                        () -> device.read(4096 + 3 * 65536, ByteBuffer.allocate(4096)));
                assertEquals("backend 'c', object " + id.hex() + ": chunk 3 fails its CRC32C on the LUN (read twice); "
                        + "its bytes are not served", e.getMessage());
                ByteBuffer chunk2 = ByteBuffer.allocate(65536);
                device.read(4096 + 2 * 65536, chunk2);
                assertArrayEquals(java.util.Arrays.copyOfRange(content, 2 * 65536, 3 * 65536), chunk2.array(),
                        "the chunk before it still reads");
            }
        }
    }
}
