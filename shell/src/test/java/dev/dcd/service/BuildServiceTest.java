package dev.dcd.service;

import dev.dcd.catalog.AppVersion;
import dev.dcd.catalog.Catalog;
import dev.dcd.catalog.ImportRequest;
import dev.dcd.catalog.Importer;
import dev.dcd.catalog.Vm;
import dev.dcd.synth.SynthesizedDisk;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Builds through the service alone: a temporary home, the local backend, no CLI. */
class BuildServiceTest {
    static final Clock CLOCK = Clock.fixed(Instant.parse("2026-05-06T07:08:09Z"), ZoneOffset.UTC);

    @TempDir
    Path temp;
    HomeResources resources;
    DcdEnvironment env;
    final List<String> warnings = new ArrayList<>();
    AppVersion alpha;

    @BeforeEach
    void setUp() throws IOException {
        resources = HomeResources.of(temp.resolve("home"), CLOCK);
        env = resources.environment(warnings::add);
        Path app = Files.createDirectories(temp.resolve("alpha-1/bin"));
        Files.writeString(app.resolve("a"), "alpha\n");
        Files.write(app.resolve("blob"), new byte[50_000]);
        Catalog catalog = env.catalog();
        alpha = new Importer(catalog, env::backend, env.tmpDir())
                .importSource(ImportRequest.builder(app.getParent()).build(), dev.dcd.backend.Progress.NONE, warnings::add).app();
        catalog.createVm("web", "ext4", 64L << 20, Vm.SYMLINKS_SKIP);
        catalog.write(() -> {
            catalog.putVm(catalog.requireVm("web").withAssignment(new Vm.Assignment("alpha", alpha.version(), 0)));
            return null;
        });
    }

    @AfterEach
    void tearDown() throws IOException {
        resources.close();
    }

    @Test
    void aBuildRecordsGenerationOneAsCurrentWithItsFilesInPlace() throws IOException {
        List<String> tasks = new ArrayList<>();
        BuildService.Built built = new BuildService(env).build("web", (task, total) -> {
            tasks.add(task + " " + total);
            return ProgressSink.Task.NONE;
        });
        assertEquals(1, built.generation().number());
        assertEquals(0, built.previous());
        assertFalse(built.previousHoldsWrites());
        assertTrue(built.mounts().isEmpty());
        assertEquals(List.of("build " + (64L << 20)), tasks);
        assertEquals(CLOCK.millis(), built.generation().builtAt());
        assertEquals(2, built.generation().fileCount());
        Vm vm = env.catalog().requireVm("web");
        assertEquals(1, vm.currentGeneration());
        assertTrue(Files.isRegularFile(env.generationDir("web", 1).resolve(SynthesizedDisk.IMAGE)));
        assertTrue(Files.isRegularFile(env.generationDir("web", 1).resolve(SynthesizedDisk.REGIONS)));
        try (var entries = Files.list(env.vmDir("web"))) {
            assertEquals(List.of("gen-1"), entries.map(p -> p.getFileName().toString()).toList());
        }
    }

    @Test
    void theNextBuildNumbersOnAndReportsThePreviousGeneration() throws IOException {
        BuildService service = new BuildService(env);
        service.build("web", ProgressSink.NONE);
        BuildService.Built second = service.build("web", ProgressSink.NONE);
        assertEquals(2, second.generation().number());
        assertEquals(1, second.previous());
        assertFalse(second.previousHoldsWrites(), "nothing was written to generation 1");
        assertEquals(2, env.catalog().requireVm("web").generations().size());
    }

    @Test
    void leftoversOfDeadBuildsAreSweptButALiveBuildsDirectoryIsKept() throws IOException, InterruptedException {
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        Path dead = Files.createDirectories(env.vmDir("web").resolve("gen-next." + gone.pid() + ".1.tmp"));
        Path oldStyle = Files.createDirectories(env.vmDir("web").resolve("gen-4.tmp"));
        Path live = Files.createDirectories(env.vmDir("web").resolve("gen-next." + ProcessHandle.current().pid() + ".2.tmp"));
        new BuildService(env).build("web", ProgressSink.NONE);
        assertFalse(Files.exists(dead));
        assertFalse(Files.exists(oldStyle));
        assertTrue(Files.exists(live), "a build of a process still running is left alone");
    }

    @Test
    void aFailedFirstBuildLeavesNoTraceAndRecordsNothing() throws IOException {
        Files.delete(env.home().resolve("vdisks").resolve(alpha.id().hex() + ".vdisk"));
        assertThrows(IOException.class, () -> new BuildService(env).build("web", ProgressSink.NONE));
        assertEquals(0, env.catalog().requireVm("web").currentGeneration());
        assertFalse(Files.exists(env.vmDir("web")), "not even the VM's directory");
    }

    @Test
    void anUnknownVmIsOneLineAndCreatesNothing() throws IOException {
        IOException e = assertThrows(IOException.class, () -> new BuildService(env).build("nope", ProgressSink.NONE));
        assertEquals("unknown VM 'nope' (see 'dcd vm list')", e.getMessage());
        assertFalse(Files.exists(env.vmDir("nope")));
    }
}
