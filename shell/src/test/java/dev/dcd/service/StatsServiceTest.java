package dev.dcd.service;

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
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Statistics of mounted VMs, and what the other services refuse while a VM is mounted. The mount is a record
 * under {@code $DCD_HOME/mounts} naming this test's own JVM as the serving process, and a stats.json beside it:
 * the two things a real serving process leaves for other commands to find.
 */
class StatsServiceTest {
    @TempDir
    Path temp;
    ServiceHome home;
    Path mountpoint;

    @BeforeEach
    void setUp() throws IOException {
        home = new ServiceHome(temp.resolve("home"));
        home.importDir(ServiceHome.app(temp, "alpha-1", "bin/a", "alpha\n"));
        VmService vms = new VmService(home.env);
        vms.create("web", "ext4", "64M", null);
        vms.create("idle", "ext4", "64M", null);
        vms.assign("web", List.of("alpha"), 0);
        new BuildService(home.env).build("web", ProgressSink.NONE);
        mountpoint = Files.createDirectories(temp.resolve("mnt"));
    }

    @AfterEach
    void tearDown() throws IOException {
        home.close();
    }

    private void pretendMounted() throws IOException {
        Files.writeString(mountpoint.resolve(StatsService.STATS_FILE), "{\"generation\": 1, \"fs\": \"ext4\"}\n");
        Path records = Files.createDirectories(home.dir.resolve("mounts"));
        Files.writeString(records.resolve("web.pid"), "vm=web\nmountpoint=" + mountpoint + "\npid="
                + ProcessHandle.current().pid() + "\ngeneration=1\n");
    }

    @Test
    void withoutMountsThereAreNoStatisticsAndAskingForOneVmIsOneLine() throws IOException {
        StatsService stats = new StatsService(home.env);
        assertTrue(stats.all().isEmpty());
        assertEquals("VM 'web' is not mounted; statistics exist while 'dcd mount web MOUNTPOINT' serves it",
                assertThrows(CatalogException.class, () -> stats.of("web")).getMessage());
        assertEquals("unknown VM 'nope' (see 'dcd vm list')",
                assertThrows(CatalogException.class, () -> stats.of("nope")).getMessage());
    }

    @Test
    void aLiveMountsStatisticsAreWhatItsServingProcessPublished() throws IOException {
        pretendMounted();
        StatsService stats = new StatsService(home.env);
        List<Views.MountedStats> all = stats.all();
        assertEquals(1, all.size());
        assertEquals("web", all.get(0).vm());
        assertEquals(mountpoint, all.get(0).mountpoint());
        assertEquals(1, all.get(0).stats().path("generation").asInt());
        assertEquals("ext4", stats.of("web").stats().path("fs").asText());
        assertThrows(CatalogException.class, () -> stats.of("idle"), "idle is known but not mounted");
    }

    @Test
    void aMountedVmIsNotDiscardedNorRemovedAndABuildSaysWhatTheMountKeepsServing() throws IOException {
        pretendMounted();
        VmService vms = new VmService(home.env);
        assertEquals("VM 'web' is mounted at " + mountpoint + "; 'dcd umount " + mountpoint + "' first",
                assertThrows(CatalogException.class, () -> vms.remove("web", true)).getMessage());
        assertTrue(assertThrows(CatalogException.class, () -> vms.discard("web", 1, true)).getMessage()
                .startsWith("VM 'web' is mounted at "));
        assertTrue(Files.isDirectory(home.env.generationDir("web", 1)));

        BuildService.Built built = new BuildService(home.env).build("web", ProgressSink.NONE);
        assertEquals(2, built.generation().number());
        assertEquals(1, built.mounts().size());
        assertEquals(1, built.mounts().get(0).generation());
    }
}
