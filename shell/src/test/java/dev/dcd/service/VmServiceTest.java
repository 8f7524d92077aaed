package dev.dcd.service;

import dev.dcd.catalog.CatalogException;
import dev.dcd.catalog.Vm;
import dev.dcd.filter.DynamicContentDisk;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** VMs and their generations through the service alone. */
class VmServiceTest {
    @TempDir
    Path temp;
    ServiceHome home;
    VmService vms;

    @BeforeEach
    void setUp() throws IOException {
        home = new ServiceHome(temp.resolve("home"));
        vms = new VmService(home.env);
        home.importDir(ServiceHome.app(temp, "alpha-1", "bin/a", "alpha\n"));
        home.importDir(ServiceHome.app(temp, "beta-2", "share/b", "beta\n", "share/c", "gamma\n"));
    }

    @AfterEach
    void tearDown() throws IOException {
        home.close();
    }

    @Test
    void createChecksSizeTypeAndSymlinksBeforeTheCatalogRecordsAnything() throws IOException {
        assertEquals("disk size must be a multiple of 4 KiB and at least 16M, got 1M",
                assertThrows(IllegalArgumentException.class, () -> vms.create("tiny", "ext4", "1M", null)).getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> vms.create("usb", "fat32", "16M", null))
                .getMessage().startsWith("a fat32 disk must be at least "));
        assertEquals("--symlinks applies to fat32 disks only; ext4 keeps symlinks as they are",
                assertThrows(IllegalArgumentException.class, () -> vms.create("web", "ext4", "64M", "copy")).getMessage());
        assertTrue(vms.list().isEmpty());
        Vm vm = vms.create("web", "ext4", "64M", null);
        assertEquals(64L << 20, vm.sizeBytes());
        assertEquals(Vm.SYMLINKS_SKIP, vm.symlinks());
        assertEquals(List.of("web"), vms.list().stream().map(Vm::name).toList());
    }

    @Test
    void assignIsAllOrNothingAndShowListsTheAppsAsTheCatalogHasThem() throws IOException {
        vms.create("web", "ext4", "64M", null);
        CatalogException twice = assertThrows(CatalogException.class, () -> vms.assign("web", List.of("alpha", "alpha@1"), 0));
        assertEquals("app 'alpha' is named twice", twice.getMessage());
        assertThrows(CatalogException.class, () -> vms.assign("web", List.of("alpha", "nope"), 0));
        assertTrue(vms.require("web").apps().isEmpty(), "a failed assign changes nothing");

        List<Vm.Assignment> made = vms.assign("web", List.of("beta", "alpha"), 5);
        assertEquals(List.of("beta@2", "alpha@1"), made.stream().map(Vm.Assignment::label).toList());
        Views.VmDetail detail = vms.show("web");
        assertEquals(2, detail.apps().size());
        Views.AssignedApp beta = detail.apps().stream().filter(a -> a.assignment().app().equals("beta")).findFirst().orElseThrow();
        assertEquals(2, beta.app().orElseThrow().fileCount());
        assertEquals(5, beta.assignment().priority());

        assertThrows(CatalogException.class, () -> vms.unassign("web", List.of("alpha", "gamma")));
        assertEquals(2, vms.require("web").apps().size(), "a failed unassign changes nothing");
        assertEquals(List.of("beta"), vms.unassign("web", List.of("alpha@1")).apps().stream().map(Vm.Assignment::app).toList());
    }

    @Test
    void generationsStatAndDiscardFollowTheBuilds() throws IOException {
        vms.create("web", "ext4", "64M", null);
        vms.assign("web", List.of("alpha", "beta"), 0);
        BuildService builds = new BuildService(home.env);
        builds.build("web", ProgressSink.NONE);
        builds.build("web", ProgressSink.NONE);

        List<Views.GenerationRow> rows = vms.generations("web");
        assertEquals(List.of(1, 2), rows.stream().map(r -> r.generation().number()).toList());
        assertEquals(List.of(false, true), rows.stream().map(Views.GenerationRow::current).toList());
        assertFalse(rows.get(0).guestWrites());

        Views.DiskStat stat = vms.stat("web", null);
        assertEquals(2, stat.generation());
        assertEquals(64L << 20, stat.virtualSize());
        assertEquals(3, stat.fileCount());
        assertEquals(2, stat.vdisks());
        assertEquals(List.of("metadata", "app_data", "zero"), List.copyOf(stat.regions().keySet()));
        assertEquals(stat.virtualSize(), stat.regions().values().stream().mapToLong(Views.RegionStat::bytes).sum(),
                "the regions cover the disk");
        assertEquals(stat.appBytesMapped(), stat.regions().get("app_data").bytes());
        assertEquals(1, vms.stat("web", 1).generation());

        assertEquals("generation 2 is the current disk of VM 'web'; pass --force to discard it anyway",
                assertThrows(CatalogException.class, () -> vms.discard("web", 2, false)).getMessage());
        Views.Discarded discarded = vms.discard("web", 1, false);
        assertEquals(0, discarded.guestWriteBytes());
        assertFalse(Files.exists(home.env.generationDir("web", 1)));
        assertEquals("VM 'web' has no generation 1 (see 'dcd disk generations web')",
                assertThrows(CatalogException.class, () -> vms.stat("web", 1)).getMessage());
    }

    @Test
    void guestWritesAreNeverDiscardedOrRemovedWithoutForce() throws IOException {
        vms.create("web", "ext4", "64M", null);
        vms.assign("web", List.of("alpha"), 0);
        new BuildService(home.env).build("web", ProgressSink.NONE);
        Path gen = home.env.generationDir("web", 1);
        try (DynamicContentDisk disk = DynamicContentDisk.builder().generationDir(gen).vmId("web")
                .resolver(home.env::openVdisk).build()) {
            disk.write(8L << 20, ByteBuffer.wrap(new byte[]{1, 2, 3, 4}));
            disk.flush();
        }
        assertTrue(vms.generations("web").get(0).guestWrites());
        Vm vm = vms.require("web");
        assertTrue(vms.guestWriteBytes(vm, vm.current().orElseThrow()) > 0);
        CatalogException refused = assertThrows(CatalogException.class, () -> vms.discard("web", 1, false));
        assertTrue(refused.getMessage().contains("of guest writes, which discarding deletes for good"), refused.getMessage());
        CatalogException kept = assertThrows(CatalogException.class, () -> vms.remove("web", false));
        assertTrue(kept.getMessage().startsWith("VM 'web' holds guest writes in generation 1 ("), kept.getMessage());
        assertTrue(Files.isDirectory(gen), "refusals delete nothing");

        vms.remove("web", true);
        assertFalse(Files.exists(home.env.vmDir("web")));
        assertTrue(vms.list().isEmpty());
    }
}
