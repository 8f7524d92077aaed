package dev.dcd.tests.catalog;

import dev.dcd.testing.ProcessRunner;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An import killed half way leaves no temporary vdisk behind: SIGTERM (and Ctrl-C, the same JVM path) deletes
 * it at once; SIGKILL cannot be caught, so the next import sweeps what the dead process left.
 */
class InterruptedImportIT {
    /** Large enough that the import is still writing when the test sees its temp file grow. */
    private static final int FILES = 6;
    private static final int FILE_BYTES = 64 << 20;
    private static final Duration DEADLINE = Duration.ofSeconds(180);

    @TempDir
    static Path shared;
    static Path archive;

    @TempDir
    Path temp;
    private Process running;

    @BeforeAll
    static void generateALargeArchive() throws IOException {
        Path tree = Files.createDirectories(shared.resolve("big-1.0"));
        SplittableRandom random = new SplittableRandom(13);
        byte[] chunk = new byte[1 << 20];
        for (int i = 0; i < FILES; i++) {
            try (OutputStream out = Files.newOutputStream(tree.resolve("blob-" + i + ".bin"))) {
                for (int written = 0; written < FILE_BYTES; written += chunk.length) {
                    random.nextBytes(chunk);
                    out.write(chunk);
                }
            }
        }
        archive = shared.resolve("big-1.0.tar");
        ProcessRunner.command("tar", "cf", archive.toString(), "-C", shared.toString(), "big-1.0")
                .timeout(Duration.ofMinutes(5)).run().requireOk();
        ProcessRunner.ok("rm", "-rf", tree.toString());
    }

    @AfterEach
    void killWhatIsLeft() {
        if (running != null) {
            running.destroyForcibly();
        }
    }

    @Test
    void sigtermMidImportRemovesTheTempVdiskAndImportsNothing() throws Exception {
        Path home = temp.resolve("home");
        Path tempVdisk = startImportAndAwaitItsTempVdisk(home);

        running.destroy(); // SIGTERM
        assertTrue(running.waitFor(DEADLINE.toSeconds(), TimeUnit.SECONDS), "dcd exits on SIGTERM");

        assertEquals(143, running.exitValue(), "killed by SIGTERM, not finished: " + Files.readString(temp.resolve("err")));
        assertFalse(Files.exists(tempVdisk), "the temp vdisk is removed on SIGTERM: " + tempVdisk);
        assertEquals(List.of(), importTemps(home));
        assertFalse(Dcd.ok(home, "catalog", "list").out().contains("big"), "nothing was imported");
    }

    @Test
    void sigkillMidImportLeavesATempVdiskThatTheNextImportSweeps() throws Exception {
        Path home = temp.resolve("home");
        Path tempVdisk = startImportAndAwaitItsTempVdisk(home);

        running.destroyForcibly(); // SIGKILL: no hook runs
        assertTrue(running.waitFor(DEADLINE.toSeconds(), TimeUnit.SECONDS));
        assertEquals(137, running.exitValue(), "killed by SIGKILL, not finished");
        assertTrue(Files.exists(tempVdisk), "SIGKILL cannot clean up; the sweep must");

        Path small = Files.createDirectories(temp.resolve("small-1.0"));
        Files.writeString(small.resolve("readme"), "small\n");
        Dcd.ok(home, "catalog", "import", small.toString());

        assertFalse(Files.exists(tempVdisk), "the next import sweeps the dead import's temp vdisk");
        assertEquals(List.of(), importTemps(home));
    }

    /** Starts {@code dcd catalog import} of the large archive; returns once its temp vdisk holds data. */
    private Path startImportAndAwaitItsTempVdisk(Path home) throws Exception {
        ProcessBuilder pb = new ProcessBuilder("java", "-jar", Dcd.JAR.toString(), "--home", home.toString(),
                "catalog", "import", archive.toString())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(temp.resolve("out").toFile()).redirectError(temp.resolve("err").toFile());
        pb.environment().remove("DCD_HOME");
        running = pb.start();
        String owned = "import-" + running.pid() + "-";
        long deadline = System.nanoTime() + DEADLINE.toNanos();
        while (System.nanoTime() < deadline) {
            assertTrue(running.isAlive(), "the import ended before the test could interrupt it: exit "
                    + (running.isAlive() ? "" : running.exitValue()) + " " + Files.readString(temp.resolve("err")));
            for (Path p : importTemps(home)) {
                if (p.getFileName().toString().startsWith(owned) && sizeOrZero(p) > (1 << 20)) {
                    return p;
                }
            }
            running.waitFor(20, TimeUnit.MILLISECONDS); // returns early if the import exits
        }
        throw new AssertionError("no temp vdisk of pid " + running.pid() + " appeared within " + DEADLINE);
    }

    private static long sizeOrZero(Path p) {
        try {
            return Files.size(p);
        } catch (IOException e) {
            return 0;
        }
    }

    private static List<Path> importTemps(Path home) throws IOException {
        List<Path> found = new ArrayList<>();
        Path tmp = home.resolve("tmp");
        if (Files.isDirectory(tmp)) {
            try (DirectoryStream<Path> files = Files.newDirectoryStream(tmp, "import-*")) {
                files.forEach(found::add);
            }
        }
        return found;
    }
}
