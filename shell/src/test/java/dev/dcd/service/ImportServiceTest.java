package dev.dcd.service;

import dev.dcd.catalog.AppVersion;
import dev.dcd.catalog.CatalogException;
import dev.dcd.catalog.ImportRequest;
import dev.dcd.catalog.ImportResult;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Imports through the service alone: progress, the catalog rows, and sources that are refused. */
class ImportServiceTest {
    @TempDir
    Path temp;
    ServiceHome home;

    @BeforeEach
    void setUp() {
        home = new ServiceHome(temp.resolve("home"));
    }

    @AfterEach
    void tearDown() throws IOException {
        home.close();
    }

    @Test
    void anArchiveIsImportedWithProgressUpToItsSizeAndLandsOnTheLocalBackend() throws IOException {
        Path app = ServiceHome.app(temp, "tool-3.1", "bin/tool", "#!/bin/sh\necho tool\n", "doc/README", "read me\n");
        Path archive = SampleArchives.packTarGz(app, temp.resolve("tool-3.1.tar.gz"));
        List<String> tasks = new ArrayList<>();
        long[] last = {-1};
        ImportResult result = new ImportService(home.env).importSource(ImportRequest.builder(archive).build(),
                (task, total) -> {
                    tasks.add(task + " " + total);
                    return new ProgressSink.Task() {
                        @Override
                        public void advance(long done) {
                            last[0] = done;
                        }

                        @Override
                        public void close() {
                            tasks.add("closed");
                        }
                    };
                });
        AppVersion imported = result.app();
        assertEquals("tool@3.1", imported.label());
        assertEquals(2, imported.fileCount());
        assertEquals("local", imported.backend());
        assertEquals(List.of("import " + Files.size(archive), "closed"), tasks);
        assertTrue(last[0] > 0, "progress was reported");
        assertTrue(Files.isRegularFile(home.dir.resolve("vdisks").resolve(imported.id().hex() + ".vdisk")));
        assertEquals(imported, new ImportService(home.env).alreadyImported("tool-3.1").orElseThrow());
        assertTrue(new ImportService(home.env).alreadyImported("tool-3.2").isEmpty());
        assertTrue(new ImportService(home.env).alreadyImported("noversion").isEmpty());
    }

    @Test
    void aMissingSourceIsOneLineAndLeavesTheCatalogEmpty() throws IOException {
        Path none = temp.resolve("none-1");
        CatalogException e = assertThrows(CatalogException.class,
                () -> new ImportService(home.env).importSource(ImportRequest.builder(none).build(), ProgressSink.NONE));
        assertEquals("source '" + none + "' does not exist", e.getMessage());
        assertTrue(home.env.catalog().apps().isEmpty());
    }
}
