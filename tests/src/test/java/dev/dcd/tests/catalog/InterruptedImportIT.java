package dev.dcd.tests.catalog;

import dev.dcd.testing.ProcessRunner;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
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
        Dcd.writeRandomBlobs(tree, FILES, FILE_BYTES, 13);
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
        running = Dcd.start(home, temp, "catalog", "import", archive.toString());
        String owned = "import-" + running.pid() + "-";
        return Dcd.awaitGrowingFile(running, temp, "the import of pid " + running.pid(), DEADLINE, () -> importTemps(home)
                .stream().filter(p -> p.getFileName().toString().startsWith(owned)).toList());
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
