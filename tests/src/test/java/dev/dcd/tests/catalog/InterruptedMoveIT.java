package dev.dcd.tests.catalog;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code dcd catalog move} killed with SIGKILL, or stopped with Ctrl-C (SIGINT), while it copies: no vdisk appears on the target (only a hidden
 * temporary file, which the backend never lists and {@code catalog rescan} does not register), the catalog still
 * serves the app from the source, whose bytes are untouched; the same move then goes through, and the put it makes
 * sweeps the dead copy's temporary file once it is stale.
 */
class InterruptedMoveIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Large enough that the move is still copying when the test sees its temporary file grow. */
    private static final int FILES = 3;
    private static final int FILE_BYTES = 64 << 20;
    private static final Duration DEADLINE = Duration.ofSeconds(180);

    @TempDir
    Path temp;
    private Process running;

    @AfterEach
    void killWhatIsLeft() {
        if (running != null) {
            running.destroyForcibly();
        }
    }

    /** An app of random blobs imported to the local backend, a second local backend, and the vdisk's digest. */
    private record Moving(Path home, Path store2, String hex, Path source, String before) {
    }

    private Moving appOnLocalAndASecondBackend(long seed) throws Exception {
        Path home = temp.resolve("home");
        Path tree = Files.createDirectories(temp.resolve("big-1.0"));
        Dcd.writeRandomBlobs(tree, FILES, FILE_BYTES, seed);
        Dcd.ok(home, "catalog", "import", tree.toString());
        Path store2 = Files.createDirectories(temp.resolve("store2"));
        Dcd.ok(home, "backend", "add", "store2", "local://" + store2);
        String hex = app(home).get("contentId").asText();
        Path source = home.resolve("vdisks").resolve(hex + ".vdisk");
        return new Moving(home, store2, hex, source, Dcd.sha256(source));
    }

    @Test
    void sigkillDuringTheCopyLeavesTheAppOnTheSourceAndNoVdiskOnTheTarget() throws Exception {
        Moving m = appOnLocalAndASecondBackend(16);
        Path home = m.home();
        Path store2 = m.store2();
        String hex = m.hex();
        Path source = m.source();
        String before = m.before();

        Path tempCopy = startMoveAndAwaitItsTemporaryCopy(home, store2, hex);
        running.destroyForcibly(); // SIGKILL: no hook runs, nothing can clean up
        assertTrue(running.waitFor(DEADLINE.toSeconds(), TimeUnit.SECONDS));
        assertEquals(137, running.exitValue(), "killed by SIGKILL, not finished");

        assertEquals("local", app(home).get("backend").asText(), "the catalog still serves the app from the source");
        assertEquals(before, Dcd.sha256(source), "the source copy is whole");
        assertFalse(Files.exists(store2.resolve(hex + ".vdisk")), "no vdisk is visible on the target");
        assertTrue(Files.exists(tempCopy), "only the dead copy's hidden temporary file: " + tempCopy);
        String rescan = Dcd.ok(home, "catalog", "rescan", "--backend", "store2").out();
        assertTrue(rescan.contains("0 app version(s) registered"), "rescan finds no vdisk there: " + rescan);
        assertEquals("local", app(home).get("backend").asText());

        // An hour later the temporary file is stale; the same move goes through and its put sweeps it.
        Files.setLastModifiedTime(tempCopy, FileTime.fromMillis(System.currentTimeMillis() - Duration.ofHours(2).toMillis()));
        String out = Dcd.ok(home, "catalog", "move", "big", "--to", "store2").out();
        assertTrue(out.contains("source copy deleted"), out);
        assertEquals("store2", app(home).get("backend").asText());
        assertEquals(before, Dcd.sha256(store2.resolve(hex + ".vdisk")), "the moved copy is byte for byte the vdisk");
        assertFalse(Files.exists(source));
        assertEquals(List.of(hex + ".vdisk"), names(store2), "the dead copy's temporary file was swept");
    }

    @Test
    void ctrlCDuringTheCopySaysSoInOneLineAndChangesNothing() throws Exception {
        Moving m = appOnLocalAndASecondBackend(17);
        Path home = m.home();
        Path store2 = m.store2();
        String hex = m.hex();
        Path source = m.source();
        String before = m.before();

        startMoveAndAwaitItsTemporaryCopy(home, store2, hex);
        Dcd.tool(temp, "kill", "-INT", Long.toString(running.pid())); // what Ctrl-C sends
        assertTrue(running.waitFor(DEADLINE.toSeconds(), TimeUnit.SECONDS));
        assertEquals(130, running.exitValue(), "stopped by SIGINT, not finished");
        assertEquals("dcd: the move of big@1.0 to store2 was stopped before the switch: nothing changed, big@1.0 stays"
                + " on local (a partial copy on store2 is never listed, and a later move or put sweeps it)\n",
                Files.readString(temp.resolve("err")), "one line, no stack trace");

        assertEquals("local", app(home).get("backend").asText(), "the catalog still serves the app from the source");
        assertEquals(before, Dcd.sha256(source), "the source copy is whole");
        assertFalse(Files.exists(store2.resolve(hex + ".vdisk")), "no vdisk is visible on the target");
        String rescan = Dcd.ok(home, "catalog", "rescan", "--backend", "store2").out();
        assertTrue(rescan.contains("0 app version(s) registered"), "rescan finds no vdisk there: " + rescan);
        String out = Dcd.ok(home, "catalog", "move", "big", "--to", "store2").out();
        assertTrue(out.contains("source copy deleted"), out);
        assertEquals(before, Dcd.sha256(store2.resolve(hex + ".vdisk")), "the moved copy is byte for byte the vdisk");
    }

    private static JsonNode app(Path home) throws Exception {
        JsonNode list = JSON.readTree(Dcd.ok(home, "--json", "catalog", "list").out());
        assertEquals(1, list.size(), list.toString());
        return list.get(0);
    }

    /**
     * Starts {@code dcd catalog move big --to store2} held by its {@code move-during-copy} gate (a FIFO nobody
     * opens, so the move cannot finish on a fast machine before the test stops it); returns once its temporary
     * copy on store2 holds data.
     */
    private Path startMoveAndAwaitItsTemporaryCopy(Path home, Path store2, String hex) throws Exception {
        Path gate = temp.resolve("copy-gate.fifo");
        Dcd.tool(temp, "mkfifo", gate.toString());
        running = Dcd.start(home, temp, Map.of("DCD_TEST_GATE", "move-during-copy=" + gate),
                "catalog", "move", "big", "--to", "store2");
        return Dcd.awaitGrowingFile(running, temp, "the move", DEADLINE, () -> names(store2).stream()
                .filter(name -> name.startsWith("." + hex) && name.endsWith(".tmp")).map(store2::resolve).toList());
    }

    private static List<String> names(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }
}
