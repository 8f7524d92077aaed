package dev.dcd.catalog;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OwnedTempFilesTest {
    private static final ProcessHandle SELF = ProcessHandle.current();
    private static final long SELF_START = SELF.info().startInstant().orElseThrow().toEpochMilli();

    @Test
    void aTempFileNamesItsOwnerProcessAndStartTime(@TempDir Path tmp) throws Exception {
        Path file = OwnedTempFiles.create(tmp, "import-", ".vdisk");
        String name = file.getFileName().toString();
        assertTrue(name.startsWith("import-" + SELF.pid() + "-" + SELF_START + "-"), name);
        assertTrue(name.endsWith(".vdisk"), name);
        OwnedTempFiles.delete(file);
        assertFalse(Files.exists(file));
    }

    @Test
    void theShutdownHookDeletesWhatTheProcessStillHolds(@TempDir Path tmp) throws Exception {
        Path held = OwnedTempFiles.create(tmp, "import-", ".vdisk");
        Files.write(held, new byte[4096]);
        OwnedTempFiles.deleteHeld();
        assertFalse(Files.exists(held));
    }

    @Test
    void aSweepRemovesFilesOfGoneOrReusedPidsAndKeepsLiveOnesAndUnownedOnes(@TempDir Path tmp) throws Exception {
        Path live = Files.createFile(tmp.resolve("import-" + SELF.pid() + "-" + SELF_START + "-1.vdisk"));
        Path gone = Files.createFile(tmp.resolve("import-4194305-" + SELF_START + "-2.vdisk"));
        Path reused = Files.createFile(tmp.resolve("import-" + SELF.pid() + "-" + (SELF_START - 5000) + "-3.vdisk"));
        Path unowned = Files.createFile(tmp.resolve("import-123456789.vdisk"));
        Path other = Files.createFile(tmp.resolve("build-4194305-1-4.vdisk"));

        List<Path> removed = OwnedTempFiles.sweep(tmp, "import-", ".vdisk",
                pid -> pid == SELF.pid() ? Optional.of(SELF) : Optional.empty());

        assertEquals(List.of(gone, reused).stream().sorted().toList(), removed.stream().sorted().toList());
        assertTrue(Files.exists(live));
        assertTrue(Files.exists(unowned));
        assertTrue(Files.exists(other));
    }

    @Test
    void anImportSweepsTheVdiskAKilledImportLeftAndLeavesNoTempOfItsOwn(@TempDir Path tmp) throws Exception {
        try (Fixture f = new Fixture(tmp.resolve("home"))) {
            Path tmpDir = f.tmp;
            Files.createDirectories(tmpDir);
            // pid 2^22+1 is above Linux's pid_max, so no process can own it.
            Path abandoned = Files.write(tmpDir.resolve("import-4194305-1-7.vdisk"), new byte[1 << 16]);
            Path source = Files.createDirectories(tmp.resolve("hello-1.0/bin"));
            Files.writeString(source.resolve("hello"), "hi\n");

            f.importSource(source.getParent());

            assertFalse(Files.exists(abandoned), "the abandoned temp vdisk is swept");
            try (var left = Files.list(tmpDir)) {
                assertEquals(List.of(), left.toList());
            }
        }
    }
}
