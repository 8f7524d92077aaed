package dev.dcd.service;

import dev.dcd.catalog.AppVersion;
import dev.dcd.catalog.CatalogException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Backends through the service alone: register, list, check, remove. */
class BackendServiceTest {
    @TempDir
    Path temp;
    ServiceHome home;
    BackendService backends;

    @BeforeEach
    void setUp() throws IOException {
        home = new ServiceHome(temp.resolve("home"));
        backends = new BackendService(home.env);
    }

    @AfterEach
    void tearDown() throws IOException {
        home.close();
    }

    @Test
    void aRegisteredBackendIsListedWithTheAppsItHolds() throws IOException {
        Path store = Files.createDirectories(temp.resolve("store"));
        Views.BackendAdded added = backends.add("nas", store.toUri().toString().replace("file:", "local:"), false);
        assertEquals("nas", added.entry().name());
        assertTrue(added.usage().isEmpty(), "a directory has no fixed capacity");

        home.importDir(ServiceHome.app(temp, "alpha-1", "bin/a", "alpha\n"));
        List<Views.BackendRow> rows = backends.list();
        assertEquals(List.of("local", "nas"), rows.stream().map(r -> r.entry().name()).toList());
        assertEquals(1, rows.get(0).apps(), "the import went to the default, local");
        assertEquals(0, rows.get(1).apps());
        assertTrue(rows.stream().allMatch(r -> r.unreachable().isEmpty()));
    }

    @Test
    void aCheckIsARealRoundTripThatCountsTheVdisks() throws IOException {
        home.importDir(ServiceHome.app(temp, "alpha-1", "bin/a", "alpha\n"));
        Views.BackendCheck ok = backends.check("local");
        assertTrue(ok.report().ok(), ok.report().detail());
        assertEquals(1, ok.objects());

        Path store = Files.createDirectories(temp.resolve("gone"));
        backends.add("gone", store.toUri().toString().replace("file:", "local:"), false);
        Files.delete(store);
        Files.writeString(store, "not a directory");
        Views.BackendCheck failed = backends.check("gone");
        assertFalse(failed.report().ok(), "a store whose directory was replaced by a file fails its check");
        assertTrue(failed.report().detail().contains("is not a directory"), failed.report().detail());
        assertEquals(-1, failed.objects());
    }

    @Test
    void aBackendHoldingAppsIsNotRemovedAndAnEmptyOneIs() throws IOException {
        Path store = Files.createDirectories(temp.resolve("store"));
        backends.add("nas", store.toUri().toString().replace("file:", "local:"), false);
        AppVersion app = new ImportService(home.env).importSource(dev.dcd.catalog.ImportRequest
                .builder(ServiceHome.app(temp, "beta-2", "b", "beta\n")).backend("nas").build(), ProgressSink.NONE).app();
        assertEquals("nas", app.backend());

        assertThrows(CatalogException.class, () -> backends.remove("nas"));
        assertEquals(2, backends.list().size(), "nothing changed");

        home.env.catalog().removeApp(app);
        backends.remove("nas");
        assertEquals(List.of("local"), backends.list().stream().map(r -> r.entry().name()).toList());
    }

    @Test
    void aStoreThatCannotBeSetUpIsNeverRegistered() throws IOException {
        // Nothing listens on port 1 of the loopback: the LUN cannot be opened, so it must not enter the catalog.
        assertThrows(IOException.class, () -> backends.add("lun0", "nbd://127.0.0.1:1/lun0?deadline-ms=500", false));
        assertEquals(List.of("local"), backends.list().stream().map(r -> r.entry().name()).toList());
    }
}
