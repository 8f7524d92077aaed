package dev.dcd.tests.catalog;

import dev.dcd.tests.support.Cleanups;
import dev.dcd.tests.support.GateFifo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Real dcd processes side by side on one {@code $DCD_HOME} (docs/catalog.md, "Sharing the catalog"): reads
 * and other writes go on while an import extracts and uploads; a write that meets another's write session
 * waits for it, says once who holds it, and gives up after {@code DCD_LOCK_TIMEOUT}; two mounts started
 * together both come up; and on a full filesystem the read-only commands and {@code disk discard} work.
 *
 * <p>Long operations are held at a named point of the real process with {@code DCD_TEST_GATE} and a FIFO
 * (see {@code TestGate}): opening the FIFO for writing returns when the process has reached the point, and
 * closing it lets the process go on. No step waits for time to pass.
 */
class CatalogConcurrencyIT {
    private static final Path SAMPLES = Dcd.REPO.resolve("samples");
    private static final long DEADLINE_SECONDS = 180;
    private static final Duration DEADLINE = Duration.ofSeconds(DEADLINE_SECONDS);

    @TempDir
    Path tmp;
    @RegisterExtension
    final Cleanups cleanups = new Cleanups();

    @Test
    void readsWritesAndMountsGoOnWhileAnImportRuns() throws Exception {
        Path home = tmp.resolve("home");
        Dcd.ok(home, "catalog", "import", SAMPLES.resolve("greet-1.0.0").toString());
        Dcd.ok(home, "vm", "create", "v1", "--size", "64M");
        Dcd.ok(home, "vm", "assign", "v1", "greet");
        Dcd.ok(home, "disk", "build", "v1");

        GateFifo gate = new GateFifo(tmp.resolve("import.gate"), DEADLINE, cleanups);
        Background importing = start(home, Map.of("DCD_TEST_GATE", gate.at("import-before-commit")),
                "catalog", "import", SAMPLES.resolve("webapp-2.1.0").toString());
        gate.awaitReached(importing.process, () -> importing.await().toString());

        // The import has extracted its vdisk and put it on the backend, and waits before its commit.
        Dcd.Result list = Dcd.ok(home, "catalog", "list");
        assertTrue(list.out().contains("greet"), list.toString());
        assertFalse(list.out().contains("webapp"), "not committed yet: " + list);
        Dcd.ok(home, "vm", "create", "v2", "--size", "64M");
        Dcd.ok(home, "vm", "assign", "v2", "greet");
        Dcd.ok(home, "disk", "build", "v2");
        Path mnt = Files.createDirectories(tmp.resolve("mnt"));
        mount(home, "v1", mnt);
        assertEquals(Files.readString(SAMPLES.resolve("greet-1.0.0/README")), Files.readString(mnt.resolve("files/README")));
        Dcd.ok(home, "umount", mnt.toString());
        assertTrue(importing.process.isAlive(), "all of the above ran while the import was in progress");

        gate.release();
        Dcd.Result imported = importing.await();
        assertEquals(0, imported.code(), imported.toString());
        assertTrue(Dcd.ok(home, "catalog", "list").out().contains("webapp"));
        assertTrue(Dcd.ok(home, "vm", "list").out().contains("v2"));
    }

    @Test
    void aWriteWaitsForAnotherProcesssWriteSayingWhoHoldsItAndGivesUpAfterItsTimeout() throws Exception {
        Path home = tmp.resolve("home");
        Dcd.ok(home, "vm", "create", "first", "--size", "64M");
        GateFifo gate = new GateFifo(tmp.resolve("write.gate"), DEADLINE, cleanups);
        Background holder = start(home, Map.of("DCD_TEST_GATE", gate.at("catalog-write")), "vm", "create", "a", "--size", "64M");
        gate.awaitReached(holder.process, () -> holder.await().toString());
        String who = "dcd pid " + holder.process.pid() + " (--home " + home + " vm create a --size 64M)";

        Dcd.Result impatient = Dcd.exec(Dcd.REPO, Map.of("DCD_LOCK_TIMEOUT", "1"), dcdCommand(home, "vm", "create", "c"));
        assertEquals(1, impatient.code(), impatient.toString());
        assertEquals("dcd: waiting up to 1 s for the catalog: " + who + " is writing to it\n"
                + "dcd: the catalog " + home.resolve("catalog") + " is still being written by " + who
                + " after 1 s; try again later, or wait longer with DCD_LOCK_TIMEOUT=SECONDS\n", impatient.err());

        Background patient = start(home, Map.of(), "vm", "create", "b", "--size", "64M");
        awaitFileContains(patient, "dcd: waiting up to 30 s for the catalog: " + who + " is writing to it\n");
        assertTrue(patient.process.isAlive(), "the second write waits rather than failing");
        gate.release();
        assertEquals(0, holder.await().code());
        Dcd.Result waited = patient.await();
        assertEquals(0, waited.code(), waited.toString());
        assertEquals("dcd: waiting up to 30 s for the catalog: " + who + " is writing to it\n", waited.err(),
                "said once");
        String vms = Dcd.ok(home, "vm", "list").out();
        assertTrue(vms.contains("first") && vms.contains("\na ") && vms.contains("\nb "), vms);
        assertFalse(vms.contains("\nc "), "the write that gave up changed nothing: " + vms);
    }

    @Test
    void twoMountsStartedTogetherBothComeUp() throws Exception {
        Path home = tmp.resolve("home");
        Dcd.ok(home, "catalog", "import", SAMPLES.resolve("greet-1.0.0").toString());
        for (String vm : List.of("m1", "m2")) {
            Dcd.ok(home, "vm", "create", vm, "--size", "64M");
            Dcd.ok(home, "vm", "assign", vm, "greet");
            Dcd.ok(home, "disk", "build", vm);
        }
        String readme = Files.readString(SAMPLES.resolve("greet-1.0.0/README"));
        for (int round = 0; round < 3; round++) {
            Path a = Files.createDirectories(tmp.resolve("a" + round));
            Path b = Files.createDirectories(tmp.resolve("b" + round));
            Background first = start(home, Map.of(), "mount", "m1", a.toString());
            Background second = start(home, Map.of(), "mount", "m2", b.toString());
            addUnmount(home, a);
            addUnmount(home, b);
            Dcd.Result r1 = first.await();
            Dcd.Result r2 = second.await();
            assertEquals(0, r1.code(), "round " + round + ", m1: " + r1);
            assertEquals(0, r2.code(), "round " + round + ", m2: " + r2);
            assertEquals(readme, Files.readString(a.resolve("files/README")));
            assertEquals(readme, Files.readString(b.resolve("files/README")));
            Dcd.ok(home, "umount", a.toString());
            Dcd.ok(home, "umount", b.toString());
        }
    }

    @Test
    void twoBuildsOfOneVmStartedTogetherGetTwoGenerations() throws Exception {
        Path home = tmp.resolve("home");
        Dcd.ok(home, "catalog", "import", SAMPLES.resolve("greet-1.0.0").toString());
        Dcd.ok(home, "vm", "create", "v", "--size", "64M");
        Dcd.ok(home, "vm", "assign", "v", "greet");
        Background first = start(home, Map.of(), "disk", "build", "v");
        Background second = start(home, Map.of(), "disk", "build", "v");
        Dcd.Result r1 = first.await();
        Dcd.Result r2 = second.await();
        assertEquals(0, r1.code(), r1.toString());
        assertEquals(0, r2.code(), r2.toString());
        assertEquals(List.of("built v generation 1", "built v generation 2"),
                java.util.stream.Stream.of(r1.out(), r2.out()).map(o -> o.substring(0, o.indexOf(':'))).sorted().toList());
        try (var entries = Files.list(home.resolve("vms/v"))) {
            assertEquals(List.of("gen-1", "gen-2"), entries.map(p -> p.getFileName().toString()).sorted().toList(),
                    "each build renamed its own directory; nothing is left over");
        }
        String generations = Dcd.ok(home, "disk", "generations", "v").out();
        assertTrue(generations.lines().anyMatch(l -> l.trim().startsWith("2  *")), generations);
    }

    @Test
    void onAFullFilesystemTheReadingCommandsAndDiscardWork() throws Exception {
        Path fs = Files.createDirectories(tmp.resolve("small-fs"));
        Dcd.Result mounted = Dcd.exec(Dcd.REPO, Map.of(), List.of("mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", fs.toString()));
        assertEquals(0, mounted.code(), "a small filesystem to fill (needs root): " + mounted);
        cleanups.add(() -> quietly("umount", "-l", fs.toString()));
        Path home = fs.resolve("home");
        Dcd.ok(home, "catalog", "import", SAMPLES.resolve("greet-1.0.0").toString());
        Dcd.ok(home, "vm", "create", "v", "--size", "64M");
        Dcd.ok(home, "vm", "assign", "v", "greet");
        Dcd.ok(home, "disk", "build", "v");
        Dcd.ok(home, "disk", "build", "v");
        fill(fs.resolve("filler"));

        for (List<String> command : List.of(List.of("catalog", "list"), List.of("catalog", "show", "greet"),
                List.of("vm", "list"), List.of("vm", "show", "v"), List.of("backend", "list"),
                List.of("disk", "generations", "v"), List.of("disk", "stat", "v"), List.of("--json", "disk", "stat", "v"))) {
            Dcd.Result r = Dcd.jar(home, command.toArray(String[]::new));
            assertEquals(0, r.code(), String.join(" ", command) + " on a full disk: " + r);
            assertEquals("", r.err(), String.join(" ", command) + " on a full disk: " + r);
        }
        assertEquals(0, Files.getFileStore(fs).getUsableSpace(), "still full");
        Dcd.Result discard = Dcd.jar(home, "disk", "discard", "v", "1");
        assertEquals(0, discard.code(), "discard frees space on a full disk: " + discard);
        assertEquals("dcd: the filesystem of " + home.resolve("catalog") + " is nearly full; this write uses the catalog's"
                + " reserved 8.0 MiB\n", discard.err());
        assertFalse(Files.exists(home.resolve("vms/v/gen-1")));
        String generations = Dcd.ok(home, "disk", "generations", "v").out();
        assertFalse(generations.lines().anyMatch(l -> l.trim().startsWith("1 ")), generations);
        assertTrue(generations.lines().anyMatch(l -> l.trim().startsWith("2 ")), generations);
    }

    // ------------------------------------------------------------------ helpers

    /** A dcd process running in the background, its output in files (a mount's server inherits them). */
    private final class Background {
        final Process process;
        final Path out;
        final Path err;

        Background(Process process, Path out, Path err) {
            this.process = process;
            this.out = out;
            this.err = err;
        }

        Dcd.Result await() throws Exception {
            if (!process.waitFor(DEADLINE_SECONDS, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new AssertionError("a dcd process did not end within " + DEADLINE_SECONDS + " s");
            }
            return new Dcd.Result(process.exitValue(), Files.readString(out), Files.readString(err));
        }
    }

    private Background start(Path home, Map<String, String> env, String... args) throws IOException {
        Path out = Files.createTempFile(tmp, "out", ".txt");
        Path err = Files.createTempFile(tmp, "err", ".txt");
        ProcessBuilder pb = new ProcessBuilder(dcdCommand(home, args)).directory(Dcd.REPO.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(out.toFile()).redirectError(err.toFile());
        pb.environment().remove("DCD_HOME");
        pb.environment().remove("DCD_TEST_GATE");
        pb.environment().putAll(env);
        Process process = pb.start();
        cleanups.add(() -> {
            if (process.isAlive()) {
                process.destroyForcibly();
            }
        });
        return new Background(process, out, err);
    }

    private static List<String> dcdCommand(Path home, String... args) {
        List<String> command = new ArrayList<>(List.of("java", "-jar", Dcd.JAR.toString(), "--home", home.toString()));
        command.addAll(List.of(args));
        return command;
    }

    /** Polls the process's stderr file for {@code text} until a deadline; fails early if the process ends. */
    private static void awaitFileContains(Background process, String text) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(DEADLINE_SECONDS);
        while (!Files.readString(process.err).contains(text)) {
            if (!process.process.isAlive()) {
                throw new AssertionError("ended before saying '" + text.strip() + "': " + process.await());
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("no '" + text.strip() + "' within " + DEADLINE_SECONDS + " s");
            }
            process.process.onExit().completeOnTimeout(null, 20, TimeUnit.MILLISECONDS).join();
        }
    }

    private void mount(Path home, String vm, Path mountpoint) throws Exception {
        addUnmount(home, mountpoint);
        Dcd.Result r = Dcd.ok(home, "mount", vm, mountpoint.toString());
        assertTrue(r.out().startsWith("mounted " + vm + " at "), r.toString());
    }

    private void addUnmount(Path home, Path mountpoint) {
        cleanups.add(() -> {
            quietly("java", "-jar", Dcd.JAR.toString(), "--home", home.toString(), "umount", mountpoint.toString());
            quietly("fusermount", "-u", "-z", mountpoint.toString());
        });
    }

    private static void quietly(String... command) {
        try {
            Dcd.exec(Dcd.REPO, Map.of(), List.of(command));
        } catch (Exception | AssertionError ignored) {
            // cleanup only
        }
    }

    /** Writes zeros until the filesystem refuses more, then the last bytes in smaller pieces. */
    private static void fill(Path file) throws IOException {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            for (int piece = 1 << 20; piece >= 512; piece /= 2) {
                ByteBuffer zeros = ByteBuffer.allocate(piece);
                try {
                    while (true) {
                        zeros.clear();
                        channel.write(zeros);
                    }
                } catch (IOException full) {
                    if (!String.valueOf(full.getMessage()).contains("No space left on device")) {
                        throw full;
                    }
                }
            }
        }
    }
}
