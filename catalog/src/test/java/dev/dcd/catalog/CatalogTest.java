package dev.dcd.catalog;

import dev.dcd.vdisk.ContentId;
import dev.dcd.vdisk.PrefetchList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CatalogTest {
    private static final Clock CLOCK = Clock.fixed(Instant.parse("2026-03-04T05:06:07Z"), ZoneOffset.UTC);
    private static final String ID_A = "a".repeat(64);
    private static final String ID_B = "b".repeat(64);

    @TempDir
    Path dir;

    private Catalog open() throws IOException {
        return Catalog.open(dir.resolve("db"), dir.resolve("vdisks"), CLOCK);
    }

    private static AppVersion app(String name, String version, String id) {
        return new AppVersion(name, version, id, Catalog.LOCAL, 3, 300, 8192, 1000);
    }

    @Test
    void theLocalBackendAlwaysExistsAndCannotBeRemoved() throws IOException {
        try (Catalog c = open()) {
            assertEquals(List.of(new BackendEntry("local", "local://" + dir.resolve("vdisks").toUri().getRawPath())),
                    c.backends());
            CatalogException e = assertThrows(CatalogException.class, () -> c.removeBackend("local"));
            assertEquals("backend 'local' is built in and cannot be removed", e.getMessage());
        }
    }

    @Test
    void everythingSurvivesAReopen() throws IOException {
        try (Catalog c = open()) {
            c.addBackend("nas", URI.create("local:///srv/nas"));
            c.addApp(app("foo", "1.0", ID_A));
            c.createVm("web", "ext4", 1L << 30);
        }
        try (Catalog c = open()) {
            assertEquals(2, c.backends().size());
            assertEquals("foo@1.0", c.resolve("foo").label());
            Vm vm = c.requireVm("web");
            assertEquals(CLOCK.instant().getEpochSecond(), vm.createdAt());
            assertEquals(1L << 30, vm.sizeBytes());
        }
    }

    @Test
    void versionsSortNaturallyAndABareNameMeansTheNewest() throws IOException {
        try (Catalog c = open()) {
            c.addApp(app("foo", "1.9", ID_A));
            c.addApp(app("foo", "1.10", ID_B));
            c.addApp(app("foo-bar", "5", ID_B));
            assertEquals("foo@1.10", c.resolve("foo").label());
            assertEquals(List.of("1.9", "1.10"), c.versions("foo").stream().map(AppVersion::version).toList());
            assertEquals(3, c.apps().size());
            CatalogException e = assertThrows(CatalogException.class, () -> c.resolve("foo@2"));
            assertEquals("app foo@2 is not in the catalog (versions: 1.9, 1.10)", e.getMessage());
            assertThrows(CatalogException.class, () -> c.resolve("nope"));
        }
    }

    @Test
    void theContentIndexTracksWhichVersionsShareAVdisk() throws IOException {
        try (Catalog c = open()) {
            c.addApp(app("x", "1", ID_A));
            c.addApp(app("y", "1", ID_A));
            assertEquals(2, c.usersOf(new ContentId(ID_A)).size());
            assertFalse(c.removeApp(c.resolve("x@1")), "y still uses the vdisk");
            assertTrue(c.removeApp(c.resolve("y@1")), "nobody uses it any more");
            assertTrue(c.dump().keySet().stream().noneMatch(k -> k.startsWith("content/")), c.dump().toString());
        }
    }

    @Test
    void aVdisksPrefetchListGoesWithTheLastVersionThatUsesIt() throws IOException {
        ContentId id = new ContentId(ID_A);
        try (Catalog c = open()) {
            c.addApp(app("x", "1", ID_A));
            c.addApp(app("y", "1", ID_A));
            c.putPrefetchListIfAbsent(new PrefetchList(id, 30, new int[] {3, 1, 2}));

            c.removeApp(c.resolve("x@1"));
            assertTrue(c.prefetchList(id).isPresent(), "y@1 still starts from that vdisk and keeps its list");

            c.retireApp(c.resolve("y@1"));
            assertTrue(c.prefetchList(id).isPresent(), "a retired version's vdisk is still read by a kept generation");

            c.forgetRetired(c.retired().get(0));
            assertTrue(c.prefetchList(id).isEmpty(), "nothing uses the vdisk any more");
            assertTrue(c.dump().keySet().stream().noneMatch(k -> k.startsWith("prefetch/")), c.dump().toString());
        }
    }

    @Test
    void aMoveThatKeepsItsSourceRecordsTheKeptCopyInTheSwitchBatch() throws IOException {
        ContentId id = new ContentId(ID_A);
        try (Catalog c = open()) {
            c.addBackend("nas", URI.create("local:///srv/nas"));
            c.addApp(app("x", "1", ID_A));
            c.switchBackend(id, "local", "nas", true);

            // The stored form, byte for byte (docs/catalog.md, "Keys and values").
            assertEquals("{\"contentId\":\"" + ID_A + "\",\"backend\":\"local\",\"keptAt\":"
                    + CLOCK.millis() + "}", c.dump().get("kept/" + ID_A + "/local"));
            assertEquals(List.of(new KeptCopy(ID_A, "local", CLOCK.millis())), c.keptCopies(id));

            c.switchBackend(id, "nas", "local");
            assertEquals(List.of(), c.keptCopies(), "moved back onto its kept copy: that copy is the named one now,"
                    + " and the copy left on nas was not kept");
        }
    }

    @Test
    void keptCopyRecordsGoWithTheDeleteTheLastUserAndTheirBackend() throws IOException {
        ContentId id = new ContentId(ID_A);
        try (Catalog c = open()) {
            c.addBackend("nas", URI.create("local:///srv/nas"));
            c.addBackend("nas2", URI.create("local:///srv/nas2"));
            c.addApp(app("x", "1", ID_A));
            c.addApp(app("y", "1", ID_A));
            c.switchBackend(id, "local", "nas", true);
            c.switchBackend(id, "nas", "nas2", true);
            assertEquals(List.of("local", "nas"), c.keptCopies(id).stream().map(KeptCopy::backend).toList());

            assertTrue(c.forgetKept(id, "nas"));
            assertFalse(c.forgetKept(id, "nas"), "already forgotten");

            c.removeApp(c.resolve("x@1"));
            assertEquals(1, c.keptCopies(id).size(), "y@1 still uses the vdisk");
            c.retireApp(c.resolve("y@1"));
            c.forgetRetired(c.retired().get(0));
            assertEquals(List.of(), c.keptCopies(), "the last user is gone");

            c.addApp(app("z", "1", ID_B));
            c.switchBackend(new ContentId(ID_B), "local", "nas", true);
            c.switchBackend(new ContentId(ID_B), "nas", "nas2", true);
            c.removeBackend("nas");
            assertEquals(List.of("local"), c.keptCopies().stream().map(KeptCopy::backend).toList(),
                    "a removed backend's kept copies are forgotten with it");
        }
    }

    @Test
    void removingTheOnlyVersionOfAVdiskDropsItsPrefetchList() throws IOException {
        ContentId id = new ContentId(ID_B);
        try (Catalog c = open()) {
            c.addApp(app("z", "1", ID_B));
            c.putPrefetchListIfAbsent(new PrefetchList(id, 30, new int[] {0}));
            assertTrue(c.removeApp(c.resolve("z@1")));
            assertTrue(c.prefetchList(id).isEmpty());
        }
    }

    @Test
    void anAppAssignedToAVmCannotBeRemoved() throws IOException {
        try (Catalog c = open()) {
            c.addApp(app("foo", "1", ID_A));
            c.addApp(app("foo", "2", ID_B));
            Vm vm = c.createVm("web", "ext4", 1L << 30);
            c.putVm(vm.withAssignment(new Vm.Assignment("foo", "1", 5)));
            CatalogException e = assertThrows(CatalogException.class, () -> c.removeApp(c.resolve("foo@1")));
            assertEquals("app foo@1 is assigned to VM(s) web; unassign it first", e.getMessage());
            assertTrue(c.removeApp(c.resolve("foo@2")), "another version is free to go");
            c.putVm(c.requireVm("web").withoutAssignment("foo"));
            assertEquals(List.of(), c.vmsUsing("foo"));
            c.removeApp(c.resolve("foo@1"));
        }
    }

    @Test
    void aBackendHoldingAppsCannotBeRemoved() throws IOException {
        try (Catalog c = open()) {
            c.addBackend("nas", URI.create("local:///srv/nas"));
            c.addApp(new AppVersion("foo", "1", ID_A, "nas", 1, 1, 1, 1));
            CatalogException e = assertThrows(CatalogException.class, () -> c.removeBackend("nas"));
            assertTrue(e.getMessage().startsWith("backend 'nas' still holds 1 app version(s): foo@1"), e.getMessage());
            assertThrows(CatalogException.class, () -> c.addBackend("nas", URI.create("local:///x")));
            c.removeApp(c.resolve("foo"));
            c.removeBackend("nas");
            assertEquals(1, c.backends().size());
        }
    }

    @Test
    void assigningAnAppThatIsNotInTheCatalogIsRefused() throws IOException {
        try (Catalog c = open()) {
            Vm vm = c.createVm("web", "fat32", 64L << 20);
            CatalogException e = assertThrows(CatalogException.class,
                    () -> c.putVm(vm.withAssignment(new Vm.Assignment("ghost", "1", 0))));
            assertEquals("app ghost@1 is not in the catalog", e.getMessage());
            assertThrows(CatalogException.class, () -> c.createVm("web", "ext4", 1));
            assertThrows(CatalogException.class, () -> c.createVm("bad name", "ext4", 1));
        }
    }

    @Test
    void generationsAreRecordedAndDiscarded() throws IOException {
        try (Catalog c = open()) {
            Vm vm = c.createVm("web", "ext4", 1L << 30);
            assertEquals(1, vm.nextGenerationNumber());
            vm = vm.withGeneration(new Vm.Generation(1, 10, 2, 3, 4, 5, 6, 7));
            vm = vm.withGeneration(new Vm.Generation(2, 11, 2, 3, 4, 5, 6, 7));
            c.putVm(vm);
            Vm stored = c.requireVm("web");
            assertEquals(2, stored.currentGeneration());
            assertEquals(3, stored.nextGenerationNumber());
            c.putVm(stored.withoutGeneration(1));
            assertEquals(List.of(2), c.requireVm("web").generations().stream().map(Vm.Generation::number).toList());
            c.removeVm("web");
            assertTrue(c.vms().isEmpty());
        }
    }

    @Test
    void twoOpenCatalogsBothReadAndWrite() throws IOException {
        try (Catalog first = open(); Catalog second = open()) {
            first.createVm("a", "ext4", 1L << 30);
            second.createVm("b", "ext4", 1L << 30);
            first.refresh();
            assertEquals(List.of("a", "b"), first.vms().stream().map(Vm::name).toList());
            assertEquals(List.of("a", "b"), second.vms().stream().map(Vm::name).toList());
        }
    }

    @Test
    void sizesParseWithBinaryUnits() {
        assertEquals(8L << 30, Sizes.parse("8G"));
        assertEquals(512L << 20, Sizes.parse("512M"));
        assertEquals(16L << 30, Sizes.parse("16GiB"));
        assertEquals(4096, Sizes.parse("4096"));
        assertEquals(1L << 10, Sizes.parse("1k"));
        assertThrows(IllegalArgumentException.class, () -> Sizes.parse("lots"));
        assertThrows(IllegalArgumentException.class, () -> Sizes.parse("-1G"));
    }
}
