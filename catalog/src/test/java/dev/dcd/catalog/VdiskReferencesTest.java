package dev.dcd.catalog;

import dev.dcd.vdisk.ContentId;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The reference invariant: a vdisk that a kept generation or a live mount reads is never up for deletion. */
class VdiskReferencesTest {
    private static final Clock CLOCK = Clock.fixed(Instant.parse("2026-03-04T05:06:07Z"), ZoneOffset.UTC);
    private static final ContentId A = new ContentId("a".repeat(64));
    private static final ContentId B = new ContentId("b".repeat(64));
    private static final ContentId C = new ContentId("c".repeat(64));

    @TempDir
    Path dir;

    /** What each VM's generations map, as the region maps would say. */
    private final Map<String, Set<ContentId>> regions = new HashMap<>();

    private Catalog open() throws IOException {
        return Catalog.open(dir.resolve("db"), dir.resolve("vdisks"), CLOCK);
    }

    private static AppVersion app(String name, String version, ContentId id) {
        return new AppVersion(name, version, id.hex(), Catalog.LOCAL, 3, 300, 8192, 1000);
    }

    private static Vm.Generation gen(int number) {
        return new Vm.Generation(number, 0, 1, 1, 1 << 20, 4096, 1 << 20, 1 << 19);
    }

    private VdiskReferences refs(Catalog c, VdiskReferences.LiveMount... mounts) throws IOException {
        return VdiskReferences.compute(c, (vm, g) -> {
            Set<ContentId> ids = regions.get(vm + "/" + g);
            if (ids == null) {
                throw new CatalogException("cannot read the region map of VM " + vm + " generation " + g);
            }
            return ids;
        }, List.of(mounts));
    }

    /** The reproduction: assign, build, unassign; the generation still reads the vdisk. */
    private void builtThenUnassigned(Catalog c) throws IOException {
        c.addApp(app("lazy", "1.0", A));
        c.createVm("vl", "ext4", 1 << 20);
        c.putVm(c.requireVm("vl").withAssignment(new Vm.Assignment("lazy", "1.0", 0)));
        c.putVm(c.requireVm("vl").withGeneration(gen(1)));
        regions.put("vl/1", Set.of(A));
        c.putVm(c.requireVm("vl").withoutAssignment("lazy"));
    }

    @Test
    void aKeptGenerationHoldsTheVdisksItsRegionMapNames() throws IOException {
        try (Catalog c = open()) {
            builtThenUnassigned(c);
            VdiskReferences refs = refs(c);
            assertEquals(List.of(new VdiskReferences.Holder("vl", 1, null)), refs.holdersOf(A));
            assertFalse(refs.isReferenced(B));
            assertEquals(VdiskReferences.Removal.RETIRE, refs.removalOf(c, c.resolve("lazy@1.0")));
            assertEquals("VM vl generation 1", VdiskReferences.describe(refs.holdersOf(A), 3));
        }
    }

    @Test
    void aLiveMountCountsEvenForAGenerationNoLongerKept() throws IOException {
        try (Catalog c = open()) {
            c.addApp(app("old", "1", B));
            c.createVm("vm", "ext4", 1 << 20);
            regions.put("vm/4", Set.of(B));
            VdiskReferences refs = refs(c, new VdiskReferences.LiveMount("vm", 4, "/mnt/vm"));
            assertEquals(List.of(new VdiskReferences.Holder("vm", 4, "/mnt/vm")), refs.holdersOf(B));
            assertEquals(VdiskReferences.Removal.RETIRE, refs.removalOf(c, c.resolve("old@1")));
        }
    }

    @Test
    void aMountedKeptGenerationIsNamedOnceWithItsMountpoint() throws IOException {
        try (Catalog c = open()) {
            builtThenUnassigned(c);
            VdiskReferences refs = refs(c, new VdiskReferences.LiveMount("vl", 1, "/m"));
            assertEquals(List.of(new VdiskReferences.Holder("vl", 1, "/m")), refs.holdersOf(A));
            assertEquals("VM vl generation 1 (mounted at /m)", VdiskReferences.describe(refs.holdersOf(A), 3));
        }
    }

    @Test
    void aGenerationWhoseVdisksCannotBeReadFailsTheWholeComputation() throws IOException {
        try (Catalog c = open()) {
            builtThenUnassigned(c);
            regions.remove("vl/1");
            CatalogException e = assertThrows(CatalogException.class, () -> refs(c));
            assertEquals("cannot read the region map of VM vl generation 1", e.getMessage());
        }
    }

    @Test
    void anUnreferencedVdiskMayGoUnlessAnotherVersionSharesIt() throws IOException {
        try (Catalog c = open()) {
            c.addApp(app("x", "1", C));
            c.addApp(app("y", "1", C));
            c.addApp(app("z", "1", B));
            VdiskReferences refs = refs(c);
            assertEquals(VdiskReferences.Removal.SHARED, refs.removalOf(c, c.resolve("x@1")));
            assertEquals(VdiskReferences.Removal.DELETE_VDISK, refs.removalOf(c, c.resolve("z@1")));
        }
    }

    @Test
    void aReferencedVdiskSharedByALiveVersionNeedsNoRetirement() throws IOException {
        try (Catalog c = open()) {
            builtThenUnassigned(c);
            c.addApp(app("lazy-copy", "1.0", A));
            assertEquals(VdiskReferences.Removal.SHARED, refs(c).removalOf(c, c.resolve("lazy@1.0")));
        }
    }

    @Test
    void aRetiredVersionLeavesTheListButStillSaysWhereItsVdiskLives() throws IOException {
        try (Catalog c = open()) {
            builtThenUnassigned(c);
            AppVersion lazy = c.resolve("lazy@1.0");
            c.retireApp(lazy);
            assertEquals(List.of(), c.apps());
            assertEquals("app lazy@1.0 was removed; its vdisk is kept only for the disk generations that still read it"
                    + " ('dcd catalog gc --dry-run' names them)",
                    assertThrows(CatalogException.class, () -> c.resolve("lazy@1.0")).getMessage());
            assertEquals(List.of(lazy), c.retired());
            assertEquals(List.of(lazy), c.usersOf(A), "mount and export still find the vdisk's backend");
            assertTrue(c.dump().containsKey("content/" + A.hex() + "/lazy/1.0"));
            assertTrue(c.forgetRetired(lazy), "nothing else uses the vdisk");
            assertEquals(List.of(), c.retired());
            assertEquals(List.of(), c.usersOf(A));
            assertFalse(c.dump().keySet().stream().anyMatch(k -> k.contains(A.hex())), c.dump().toString());
        }
    }

    @Test
    void retiringAnAssignedVersionIsRefused() throws IOException {
        try (Catalog c = open()) {
            c.addApp(app("lazy", "1.0", A));
            c.createVm("vl", "ext4", 1 << 20);
            c.putVm(c.requireVm("vl").withAssignment(new Vm.Assignment("lazy", "1.0", 0)));
            CatalogException e = assertThrows(CatalogException.class, () -> c.retireApp(c.resolve("lazy@1.0")));
            assertEquals("app lazy@1.0 is assigned to VM(s) vl; unassign it first", e.getMessage());
        }
    }

    @Test
    void importingARetiredVersionAgainMakesItLiveAndAReimportWithOtherBytesKeepsBothApart() throws IOException {
        try (Catalog c = open()) {
            builtThenUnassigned(c);
            c.retireApp(c.resolve("lazy@1.0"));
            c.addApp(app("lazy", "1.0", A));
            assertEquals(List.of(), c.retired());
            assertEquals(1, c.usersOf(A).size());

            c.retireApp(c.resolve("lazy@1.0"));
            c.addApp(app("lazy", "1.0", B));
            assertEquals(List.of(app("lazy", "1.0", A)), c.usersOf(A), "the retired row still owns vdisk A");
            assertEquals(List.of(app("lazy", "1.0", B)), c.usersOf(B));
            assertTrue(c.removeApp(c.resolve("lazy@1.0")), "B had no other user");
            assertEquals(List.of(app("lazy", "1.0", A)), c.usersOf(A), "removing B leaves A's rows alone");
        }
    }

    @Test
    void aBackendHoldingARetiredVersionCannotBeRemoved() throws IOException {
        try (Catalog c = open()) {
            c.addBackend("nas", java.net.URI.create("local:///srv/nas"));
            c.addApp(new AppVersion("lazy", "1.0", A.hex(), "nas", 1, 1, 1, 1));
            c.retireApp(c.resolve("lazy@1.0"));
            CatalogException e = assertThrows(CatalogException.class, () -> c.removeBackend("nas"));
            assertTrue(e.getMessage().contains("lazy@1.0 (removed, still used by a disk generation)"), e.getMessage());
        }
    }
}
