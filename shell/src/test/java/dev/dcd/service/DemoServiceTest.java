package dev.dcd.service;

import dev.dcd.catalog.AppVersion;
import dev.dcd.catalog.Vm;
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
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The demo through the services, without the CLI and without argv: every step reaches the narrator as a typed
 * event, and a second run changes nothing.
 */
class DemoServiceTest {
    private static final Path SAMPLES = Path.of("..", "samples").toAbsolutePath().normalize();

    @TempDir
    Path temp;
    ServiceHome home;
    final List<String> events = new ArrayList<>();
    final List<String> mountCalls = new ArrayList<>();

    @BeforeEach
    void setUp() {
        home = new ServiceHome(temp.resolve("home"));
    }

    @AfterEach
    void tearDown() throws IOException {
        home.close();
    }

    private DemoService demo() {
        DemoService.Mounts mounts = new DemoService.Mounts() {
            @Override
            public void mount(String vm, Path mountpoint) {
                mountCalls.add("mount " + vm);
            }

            @Override
            public void umount(Path mountpoint) {
                mountCalls.add("umount " + mountpoint);
            }
        };
        return new DemoService(home.env, mounts, new DemoService.Narrator() {
            @Override
            public void say(String line) {
                events.add(line);
            }

            @Override
            public void created(Vm vm) {
                events.add("created " + vm.name() + " " + vm.sizeBytes());
            }

            @Override
            public void assigned(String vm, List<Vm.Assignment> made, int priority) {
                events.add("assigned " + made.stream().map(Vm.Assignment::label).toList());
            }

            @Override
            public void catalog(List<AppVersion> apps) {
                events.add("catalog " + apps.stream().map(AppVersion::label).toList());
            }

            @Override
            public void vm(Views.VmDetail detail) {
                events.add("vm " + detail.vm().name() + " " + detail.apps().size());
            }

            @Override
            public void built(String vm, BuildService.Built built) {
                events.add("built " + vm + " " + built.generation().number());
            }

            @Override
            public void stat(Views.DiskStat stat) {
                events.add("stat " + stat.generation() + " " + stat.fileCount());
            }

            @Override
            public void toolOutput(String text) {
                events.add("tool");
            }
        });
    }

    @Test
    void theDemoImportsThreeWaysAssignsAndBuildsThenASecondRunOnlyReports() throws IOException {
        demo().run(new DemoService.Options(SAMPLES, "1G", false));
        assertTrue(events.contains("imported greet@1.0.0 from a .tar.gz: 5 files"), events.toString());
        assertTrue(events.contains("imported handbook@0.3 from a .zip: 2 files"), events.toString());
        assertTrue(events.contains("imported webapp@2.1.0 from a directory: 3 files"), events.toString());
        assertTrue(events.contains("created demo " + (1L << 30)), events.toString());
        assertTrue(events.contains("assigned [greet@1.0.0, handbook@0.3, webapp@2.1.0]"), events.toString());
        assertTrue(events.contains("catalog [greet@1.0.0, handbook@0.3, webapp@2.1.0]"), events.toString());
        assertTrue(events.contains("built demo 1"), events.toString());
        assertTrue(events.contains("stat 1 10"), events.toString());
        assertFalse(events.contains("tool"), "no mount, nothing shown through it");
        assertFalse(Files.exists(home.env.tmpDir().resolve("demo")), "packed archives are cleaned up");

        events.clear();
        demo().run(new DemoService.Options(SAMPLES, "1G", false));
        assertTrue(events.contains("greet@1.0.0 is already imported, skipping"), events.toString());
        assertTrue(events.contains("VM demo exists, reusing it"), events.toString());
        assertTrue(events.contains("webapp@2.1.0 is already assigned to demo"), events.toString());
        assertTrue(events.contains("generation 1 is up to date"), events.toString());
        assertFalse(events.stream().anyMatch(e -> e.startsWith("built ") || e.startsWith("created ")), events.toString());
        assertEquals(1, new VmService(home.env).require("demo").generations().size());
        assertTrue(mountCalls.isEmpty());
    }

    @Test
    void missingOrEmptySamplesAreOneLineAndChangeNothing() throws IOException {
        Path none = temp.resolve("none");
        assertEquals("sample directory " + none + " does not exist (pass --samples DIR)", assertThrows(
                IllegalArgumentException.class, () -> demo().run(new DemoService.Options(none, "1G", false))).getMessage());
        Path empty = Files.createDirectories(temp.resolve("empty/scripts"));
        assertEquals("no sample apps in " + empty.getParent(), assertThrows(IllegalArgumentException.class,
                () -> demo().run(new DemoService.Options(empty.getParent(), "1G", false))).getMessage());
        assertTrue(home.env.catalog().apps().isEmpty());
        assertTrue(home.env.catalog().vms().isEmpty());
    }
}
