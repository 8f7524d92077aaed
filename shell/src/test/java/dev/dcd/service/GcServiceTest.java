package dev.dcd.service;

import dev.dcd.catalog.AppVersion;
import dev.dcd.catalog.Catalog;
import dev.dcd.catalog.Vm;
import dev.dcd.catalog.VdiskReferences;
import dev.dcd.vdisk.ContentId;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code catalog gc} as a service, with the live servers faked: a spare copy (a vdisk on a backend the catalog does
 * not name for it) is deleted only when no live server reads it there and the copy the catalog names is present;
 * a copy any app version names, live or retired, is never a spare.
 */
class GcServiceTest {
    @TempDir
    Path temp;
    ServiceHome home;
    Path store2;
    AppVersion lazy;
    /** What the fake servers answer, by backend: the servers that read the vdisk there. */
    Map<String, List<String>> reading = Map.of();
    final List<String> asked = new ArrayList<>();

    @BeforeEach
    void setUp() throws IOException {
        home = new ServiceHome(temp.resolve("home"));
        lazy = home.importDir(ServiceHome.app(temp, "lazy-1.0", "opt/lazy/readme", "lazy\n".repeat(5000)));
        store2 = Files.createDirectories(temp.resolve("store2"));
        new BackendService(home.env).add("store2", "local://" + store2, false);
    }

    @AfterEach
    void tearDown() throws IOException {
        home.close();
    }

    private GcService gc(VdiskReferences.GenerationVdisks generations) {
        return new GcService(home.env, () -> VdiskReferences.compute(home.env.catalog(), generations, List.of()),
                (id, backend) -> {
                    asked.add(id.shortHex() + "@" + backend);
                    return reading.getOrDefault(backend, List.of());
                });
    }

    private GcService gc() {
        return gc((vm, g) -> Set.of());
    }

    private Path onLocal() {
        return home.dir.resolve("vdisks").resolve(lazy.contentId() + ".vdisk");
    }

    private Path onStore2() {
        return store2.resolve(lazy.contentId() + ".vdisk");
    }

    /**
     * The state a move leaves when killed after switching the catalog, before deleting its source: a source copy the
     * catalog does not record as kept.
     */
    private void moveKeepingTheSource() throws IOException {
        keepTheSource();
        assertTrue(home.env.catalog().forgetKept(lazy.id(), "local"));
    }

    /** {@code catalog move lazy --to store2 --keep-source}. */
    private void keepTheSource() throws IOException {
        new MoveService(home.env).move(new MoveService.Request("lazy@1.0", "store2", true, null), ProgressSink.NONE);
        assertTrue(Files.exists(onLocal()) && Files.exists(onStore2()));
    }

    @Test
    void aCopyKeptByKeepSourceIsLeftAloneUntilKeptCopiesAreAskedForAndThenJudgedLikeASpare() throws IOException {
        keepTheSource();
        Map<String, String> catalogBefore = home.env.catalog().dump();
        GcService.Result plain = gc().collect(new GcService.Request(false, true));
        assertEquals(1, plain.items().size(), plain.toString());
        GcService.Item kept = plain.items().get(0);
        assertEquals(GcService.KEPT_COPY, kept.action());
        assertEquals("local", kept.backend());
        assertEquals(List.of("store2"), kept.namedOn());
        assertEquals(List.of(), asked, "a kept copy is not a candidate, so no server is asked");
        assertTrue(Files.exists(onLocal()), "kept, with --orphans too");
        assertEquals(catalogBefore, home.env.catalog().dump());

        reading = Map.of("local", List.of("the mount of VM vl reads it from local"));
        GcService.Item read = gc().collect(new GcService.Request(false, false, true)).items().get(0);
        assertEquals(GcService.SPARE, read.action(), "asked for, it is still kept while a server reads it there");
        assertTrue(Files.exists(onLocal()));
        assertEquals(1, home.env.catalog().keptCopies().size());

        reading = Map.of();
        GcService.Item gone = gc().collect(new GcService.Request(false, false, true)).items().get(0);
        assertEquals(GcService.DELETE_SPARE, gone.action());
        assertFalse(Files.exists(onLocal()));
        assertTrue(Files.exists(onStore2()));
        assertEquals(List.of(), home.env.catalog().keptCopies(), "the record goes with the copy");
    }

    @Test
    void aKeptCopyGoesWithTheLastVersionOfItsVdiskAndARecordWhoseCopyIsGoneIsForgotten() throws IOException {
        keepTheSource();
        home.env.catalog().retireApp(home.env.catalog().resolve("lazy@1.0"));
        GcService.Result result = gc().collect(new GcService.Request(false, false));
        assertEquals(List.of(GcService.DELETE, GcService.DELETE_SPARE),
                result.items().stream().map(GcService.Item::action).toList(), result.toString());
        assertFalse(Files.exists(onLocal()) || Files.exists(onStore2()), "nothing reads the vdisk: both copies go");
        assertEquals(List.of(), home.env.catalog().keptCopies());

        lazy = home.importDir(ServiceHome.app(temp, "lazy-1.0", "opt/lazy/readme", "lazy\n".repeat(5000)));
        keepTheSource();
        Files.delete(onLocal());
        assertEquals(List.of(), gc().collect(new GcService.Request(false, false)).items());
        assertEquals(List.of(), home.env.catalog().keptCopies(), "a kept copy deleted by hand is forgotten");
    }

    @Test
    void aSpareCopyNoServerReadsIsDeletedAndADryRunOnlySaysSo() throws IOException {
        moveKeepingTheSource();
        byte[] vdisk = Files.readAllBytes(onStore2());
        Map<String, String> catalogBefore = home.env.catalog().dump();

        GcService.Result dry = gc().collect(new GcService.Request(true, false));
        assertEquals(1, dry.items().size(), dry.toString());
        GcService.Item item = dry.items().get(0);
        assertEquals(GcService.DELETE_SPARE, item.action());
        assertEquals("local", item.backend());
        assertEquals(List.of("store2"), item.namedOn());
        assertEquals(List.of("lazy@1.0"), item.apps());
        assertEquals(Files.size(onLocal()), item.bytes());
        assertEquals(item.bytes(), dry.reclaimedBytes());
        assertEquals(List.of(lazy.id().shortHex() + "@local"), asked, "only the spare copy's backend is asked about");
        assertTrue(Files.exists(onLocal()), "a dry run deletes nothing");

        GcService.Result real = gc().collect(new GcService.Request(false, false));
        assertEquals(GcService.DELETE_SPARE, real.items().get(0).action());
        assertEquals(1, real.deletedCount());
        assertFalse(Files.exists(onLocal()), "the spare copy is deleted");
        assertArrayEquals(vdisk, Files.readAllBytes(onStore2()), "the copy the catalog names is untouched");
        assertEquals(catalogBefore, home.env.catalog().dump(), "no catalog row changes");
        assertEquals(List.of(), gc().collect(new GcService.Request(false, false)).items(), "nothing left to do");
    }

    @Test
    void aSpareCopyALiveServerReadsThereIsKeptWithTheServerNamed() throws IOException {
        moveKeepingTheSource();
        reading = Map.of("local", List.of("the mount of VM vl reads it from local"),
                "store2", List.of("the mount of VM web reads it from store2"));
        GcService.Result result = gc().collect(new GcService.Request(false, true));
        assertEquals(1, result.items().size(), result.toString());
        GcService.Item item = result.items().get(0);
        assertEquals(GcService.SPARE, item.action());
        assertEquals(List.of("the mount of VM vl reads it from local"), item.readers());
        assertEquals(0, result.reclaimedBytes());
        assertTrue(Files.exists(onLocal()) && Files.exists(onStore2()), "nothing is deleted, not even with --orphans");

        // A server that cannot answer is reported the same way by the real LiveServers; here: once it switched.
        reading = Map.of("store2", List.of("the mount of VM vl reads it from store2"));
        assertEquals(GcService.DELETE_SPARE, gc().collect(new GcService.Request(false, false)).items().get(0).action());
        assertFalse(Files.exists(onLocal()));
        assertTrue(Files.exists(onStore2()));
    }

    @Test
    void aSpareCopyIsKeptWhileTheCopyTheCatalogNamesIsMissingOrOfAnotherSize() throws IOException {
        moveKeepingTheSource();
        byte[] vdisk = Files.readAllBytes(onStore2());
        Files.write(onStore2(), java.util.Arrays.copyOf(vdisk, vdisk.length - 1));
        GcService.Item shorter = gc().collect(new GcService.Request(false, false)).items().get(0);
        assertEquals(GcService.SPARE, shorter.action());
        assertEquals(List.of("the copy the catalog names on store2 holds " + (vdisk.length - 1) + " bytes, not "
                + vdisk.length), shorter.readers());

        Files.delete(onStore2());
        GcService.Item missing = gc().collect(new GcService.Request(false, true)).items().get(0);
        assertEquals(GcService.SPARE, missing.action());
        assertEquals(List.of("the catalog names it on store2, where it is missing, so this may be the only copy"),
                missing.readers());
        assertArrayEquals(vdisk, Files.readAllBytes(onLocal()), "possibly the only copy: kept, with --orphans too");
    }

    @Test
    void aCopyThatAnyVersionLiveOrRetiredNamesIsNoSpareEvenWhileAnotherNamesAnotherBackend() throws IOException {
        moveKeepingTheSource();
        Catalog catalog = home.env.catalog();
        // A second version of the same vdisk that names local: both copies are named, neither is spare.
        AppVersion twin = new AppVersion("lazy", "1.0-twin", lazy.contentId(), "local", lazy.fileCount(),
                lazy.byteCount(), lazy.vdiskBytes(), lazy.importedAt());
        catalog.addApp(twin);
        assertEquals(List.of(), gc().collect(new GcService.Request(false, true)).items());

        // Retired while a kept generation reads the vdisk: the retired row still names local, so the copy there is
        // what the generation opens when it is mounted. It is kept, and not as a spare.
        Vm vm = catalog.createVm("vl", "ext4", 64L << 20);
        catalog.putVm(vm.withGeneration(new Vm.Generation(1, 0, 1, 1, 64L << 20, 4096, 1 << 20, 63L << 20)));
        catalog.retireApp(twin);
        VdiskReferences.GenerationVdisks readsLazy = (name, g) -> Set.of(lazy.id());
        GcService.Result result = gc(readsLazy).collect(new GcService.Request(false, true));
        assertEquals(1, result.items().size(), result.toString());
        GcService.Item kept = result.items().get(0);
        assertEquals(GcService.KEPT, kept.action());
        assertEquals("local", kept.backend());
        assertNull(kept.namedOn());
        assertEquals(List.of(), asked, "no copy was a spare, so no server was asked");
        assertTrue(Files.exists(onLocal()) && Files.exists(onStore2()));
    }

    @Test
    void anOrphanIsStillOnlyListedWithoutOrphansAndTheSpareBesideItIsJudgedOnItsOwn() throws IOException {
        moveKeepingTheSource();
        ContentId stray = new ContentId("ab".repeat(32));
        Files.copy(onStore2(), store2.resolve(stray.hex() + ".vdisk"));
        GcService.Result result = gc().collect(new GcService.Request(false, false));
        assertEquals(List.of(GcService.DELETE_SPARE, GcService.ORPHAN),
                result.items().stream().map(GcService.Item::action).toList(), result.toString());
        assertTrue(Files.exists(store2.resolve(stray.hex() + ".vdisk")), "an orphan needs --orphans");
        assertFalse(Files.exists(onLocal()));
    }

    @Test
    void aCopyGcTakesBetweenAMovesVerifyAndItsSwitchFailsTheMoveWhichChangesNothing() throws IOException {
        byte[] vdisk = Files.readAllBytes(onLocal());
        // The freshly verified copy on store2 is, until the catalog switches, a spare copy nothing reads: a gc that
        // runs right then deletes it. The move must then fail rather than name a backend without the vdisk.
        ProgressSink gcAfterVerify = (task, total) -> new ProgressSink.Task() {
            @Override
            public void advance(long done) {
            }

            @Override
            public void close() {
                if (task.equals("verify")) {
                    try {
                        GcService.Result result = gc().collect(new GcService.Request(false, false));
                        assertEquals(GcService.DELETE_SPARE, result.items().get(0).action(), result.toString());
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                }
            }
        };
        dev.dcd.catalog.CatalogException e = org.junit.jupiter.api.Assertions.assertThrows(
                dev.dcd.catalog.CatalogException.class, () -> new MoveService(home.env)
                        .move(new MoveService.Request("lazy@1.0", "store2", false, null), gcAfterVerify));
        assertEquals("cannot move lazy@1.0 to store2: the verified copy on store2 is gone (a 'catalog gc' deleted it"
                + " meanwhile?); nothing changed, lazy@1.0 stays on local", e.getMessage());
        assertEquals("local", home.env.catalog().resolve("lazy@1.0").backend());
        assertArrayEquals(vdisk, Files.readAllBytes(onLocal()));
        assertFalse(Files.exists(onStore2()));
    }
}
