package dev.dcd.tests.lun;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dcd.backend.Backend;
import dev.dcd.backend.Backends;
import dev.dcd.block.BlockDevice;
import dev.dcd.tests.s3.S3Home;
import dev.dcd.tests.vmmount.VmCli;
import dev.dcd.vdisk.AppVdisk;
import dev.dcd.vdisk.ContentId;
import dev.dcd.vdisk.Entry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code kill -9} of {@code dcd catalog import} at random points, again and again, and of the NBD server in the
 * middle of an import. After each: the LUN opens, every extent its table names holds a whole vdisk (every chunk
 * verified), the catalog names only vdisks the LUN holds, no space is lost, and the next import succeeds.
 */
@Timeout(300)
class LunCrashIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long LUN_SIZE = 256L << 20;
    private static final long KILL_BUDGET_NANOS = TimeUnit.SECONDS.toNanos(60);

    @TempDir
    Path dir;

    private Path lun() throws IOException {
        Path file = dir.resolve("lun.img");
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(LUN_SIZE);
        }
        return file;
    }

    private Path source() throws IOException {
        Path root = Files.createDirectories(dir.resolve("crashy-1.0/srv/crashy"));
        Random random = new Random(21);
        for (int i = 0; i < 6; i++) {
            byte[] b = new byte[i == 0 ? 8 << 20 : 1 + random.nextInt(500_000)];
            random.nextBytes(b);
            Files.write(root.resolve("f" + i), b);
        }
        return root.getParent().getParent();
    }

    private static Process importProcess(Path home, Path source) throws IOException {
        return new ProcessBuilder("java", "-jar", VmCli.JAR.toString(), "--home", home.toString(), "catalog", "import",
                source.toString(), "--backend", "lun0")
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.DISCARD).start();
    }

    /** What must hold after any crash: the LUN opens and holds only whole vdisks, the catalog only what it holds. */
    private static void assertConsistent(Path lunFile, NbdServer server, Path home) throws Exception {
        LunImage image = LunImage.read(lunFile);
        long capacity = LUN_SIZE - (3L << 20);
        long free = image.free().stream().mapToLong(r -> r[1]).sum();
        assertEquals(capacity, image.allocated() + free, "allocated plus free is the whole data area: nothing leaks");
        try (Backend lun = Backends.open("check", server.uri())) {
            for (LunImage.Extent e : image.extents()) {
                try (BlockDevice device = lun.open(new ContentId(e.contentId()))) {
                    AppVdisk vdisk = AppVdisk.open(device);
                    for (Entry entry : vdisk.manifest().entries()) {
                        if (entry.isFile()) {
                            try (InputStream in = vdisk.open(entry)) {
                                in.transferTo(java.io.OutputStream.nullOutputStream());
                            }
                        }
                    }
                }
            }
        }
        try (S3Home view = new S3Home(home)) {
            JsonNode apps = JSON.readTree(view.ok("--json", "catalog", "list"));
            for (JsonNode app : apps) {
                String id = app.get("contentId").asText();
                assertTrue(image.extents().stream().anyMatch(e -> e.contentId().equals(id)),
                        "catalog app " + app + " has its vdisk on the LUN");
            }
        }
    }

    @Test
    void killingImportsAtRandomPointsNeverLeavesAHalfVdiskALeakOrAnInconsistentCatalog() throws Exception {
        Path lunFile = lun();
        Path source = source();
        Path home = dir.resolve("home");
        try (NbdServer server = NbdServer.nbdkit(dir, List.of(), "file", lunFile.toString())) {
            VmCli.dcdOk(home, "backend", "add", "lun0", server.uri().toString());
            // One uncut import, to learn how long one takes, and to have its vdisk's size on the LUN.
            long start = System.nanoTime();
            Process first = importProcess(home, source);
            assertTrue(first.waitFor(120, TimeUnit.SECONDS));
            assertEquals(0, first.exitValue());
            long fullMillis = (System.nanoTime() - start) / 1_000_000;
            long oneVdisk = LunImage.read(lunFile).allocated();
            VmCli.dcdOk(home, "catalog", "rm", "crashy");
            assertEquals(0, LunImage.read(lunFile).allocated());

            Random random = new Random(4);
            List<String> outcomes = new ArrayList<>();
            long budgetEnd = System.nanoTime() + KILL_BUDGET_NANOS;
            for (int round = 0; round < 20 && (round < 5 || System.nanoTime() < budgetEnd); round++) {
                Process p = importProcess(home, source);
                // Kill once the import has written a random share of the vdisk (all of it: the kill lands in the
                // flush, the table commit or the catalog write); the LUN is clean, so first fit puts it at 3 MiB.
                long target = round % 4 == 3 ? oneVdisk - 65536 : (long) (random.nextDouble() * oneVdisk);
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
                boolean finished = false;
                while (!finished && LunImageProbe.dataBytesWritten(lunFile, oneVdisk) < target) {
                    assertTrue(System.nanoTime() < deadline, "the import never got to " + target + " bytes");
                    finished = p.waitFor(5, TimeUnit.MILLISECONDS);
                }
                if (!finished) {
                    p.destroyForcibly();
                    assertTrue(p.waitFor(30, TimeUnit.SECONDS));
                }
                outcomes.add(finished ? "finished" : "killed after " + target / 1024 + " KiB");
                assertConsistent(lunFile, server, home);
                LunImage image = LunImage.read(lunFile);
                assertTrue(image.extents().size() <= 1, "one source, one content id: " + image.extents());
                assertEquals(image.extents().size() * oneVdisk, image.allocated());
                if (!image.extents().isEmpty()) {
                    // Start each round clean, so the next import writes the vdisk again (an id already on the LUN
                    // would make it a no-op) and the kill lands in real work.
                    try (S3Home view = new S3Home(home)) {
                        view.run("catalog", "rm", "crashy");
                    }
                    try (Backend lun = Backends.open("cleanup", server.uri())) {
                        for (Backend.ObjectStat st : lun.list()) {
                            lun.delete(st.id());
                        }
                    }
                }
                // A trimmed extent reads as zeros again on nbdkit's file plugin; make sure, for the next probe.
                zeroDataArea(lunFile, oneVdisk);
            }
            System.out.println("LunCrashIT rounds: " + outcomes);
            assertTrue(outcomes.stream().filter(o -> o.startsWith("killed")).count() >= 3, outcomes.toString());
            VmCli.dcdOk(home, "catalog", "import", source.toString(), "--backend", "lun0");
            assertConsistent(lunFile, server, home);
            assertEquals(oneVdisk, LunImage.read(lunFile).allocated(), "after all the kills: exactly one vdisk's space");
        }
    }

    @Test
    void killingTheServerInTheMiddleOfAnImportFailsItCleanlyAndTheNextImportSucceeds() throws Exception {
        Path lunFile = lun();
        Path source = source();
        Path home = dir.resolve("home");
        // Slow writes (200 ms each, about 2 s for the 9 MiB vdisk) stretch the import so the kill lands while vdisk data is being written.
        try (NbdServer server = NbdServer.nbdkit(dir, List.of("--filter=delay", "wdelay=200ms"), "file", lunFile.toString())) {
            VmCli.dcdOk(home, "backend", "add", "lun0", server.uri("deadline-ms=3000").toString());
            Path out = dir.resolve("import.out");
            Process p = new ProcessBuilder("java", "-jar", VmCli.JAR.toString(), "--home", home.toString(), "catalog",
                    "import", source.toString(), "--backend", "lun0")
                    .redirectErrorStream(true).redirectOutput(out.toFile()).start();
            // Wait until data is arriving on the LUN (the file's blocks past the layout area are written).
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (LunImageProbe.dataBytesWritten(lunFile) < (2L << 20)) {
                assertTrue(System.nanoTime() < deadline, "the import never started writing");
                assertFalse(p.waitFor(20, TimeUnit.MILLISECONDS), "the import ended before the kill: "
                        + Files.readString(out));
            }
            server.kill();
            assertTrue(p.waitFor(60, TimeUnit.SECONDS));
            String said = Files.readString(out);
            assertEquals(1, p.exitValue(), said);
            assertEquals(1, said.lines().count(), "one line: " + said);
            assertTrue(said.startsWith("dcd: ") && said.contains("lun0"), said);
            server.start();
            assertConsistent(lunFile, server, home);
            assertEquals(0, LunImage.read(lunFile).allocated(), "the cut import left nothing allocated");
            VmCli.dcdOk(home, "catalog", "import", source.toString(), "--backend", "lun0");
            assertConsistent(lunFile, server, home);
            assertEquals(1, LunImage.read(lunFile).extents().size());
        }
    }

    /** Zeros the first {@code span} bytes of the data area (the extent the next round's import will take). */
    private static void zeroDataArea(Path file, long span) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.seek(3L << 20);
            f.write(new byte[(int) span]);
        }
    }

    /** How far an import got, seen from the file nbdkit serves: non-zero 64 KiB blocks in the data area. */
    static final class LunImageProbe {
        static long dataBytesWritten(Path file) throws IOException {
            return dataBytesWritten(file, Files.size(file) - (3L << 20));
        }

        static long dataBytesWritten(Path file, long span) throws IOException {
            long written = 0;
            byte[] block = new byte[65536];
            try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
                for (long at = 3L << 20; at + block.length <= Math.min(f.length(), (3L << 20) + span); at += block.length) {
                    f.seek(at);
                    f.readFully(block);
                    for (byte b : block) {
                        if (b != 0) {
                            written += block.length;
                            break;
                        }
                    }
                }
            }
            return written;
        }
    }
}
