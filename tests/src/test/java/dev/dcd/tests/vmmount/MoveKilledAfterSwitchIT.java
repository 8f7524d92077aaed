package dev.dcd.tests.vmmount;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dcd.control.ControlClient;
import dev.dcd.control.ControlSockets;
import dev.dcd.tests.support.Cleanups;
import dev.dcd.tests.support.GateFifo;
import dev.dcd.tests.support.DirectReads;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static dev.dcd.tests.vmmount.VmCli.dcd;
import static dev.dcd.tests.vmmount.VmCli.dcdOk;
import static dev.dcd.tests.vmmount.VmCli.quietly;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A real {@code dcd catalog move} killed with SIGKILL (or stopped with Ctrl-C, SIGINT) after it switched the catalog to the target and before it asked
 * the running servers to switch or deleted its source (held there by the {@code move-after-switch} test gate, so the
 * kill lands at that point every time). What it leaves: the catalog names the target, both copies are whole, the VMs
 * being served keep reading every byte right (a FUSE mount, read with O_DIRECT, and an NBD server, read by
 * nbdcopy) from the source copy. Running the same move again finishes it (the SIGKILL case): it switches both servers
 * to the target and deletes the spare copy, and every byte still reads right. Or gc reclaims the spare copy on the
 * source (the Ctrl-C case): {@code catalog gc} keeps it while a live server still reads it there (asked over the control
 * channels), still keeps it after the mount switched while the NBD server has not, deletes it once that server has
 * stopped, and deletes nothing else. Needs root (FUSE).
 */
class MoveKilledAfterSwitchIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration DEADLINE = Duration.ofSeconds(180);
    private static final Duration ASK = Duration.ofSeconds(30);

    @TempDir
    Path tmp;
    private Path home;
    @RegisterExtension
    final Cleanups cleanups = new Cleanups();

    @Test
    void aMoveKilledBetweenTheSwitchAndTheDeleteIsFinishedByRunningItAgain() throws Exception {
        Stopped stopped = stoppedBetweenTheSwitchAndTheDelete(move -> {
            move.destroyForcibly(); // SIGKILL: no hook runs, nothing can finish the move
            assertTrue(move.waitFor(DEADLINE.toSeconds(), TimeUnit.SECONDS));
            assertEquals(137, move.exitValue(), "killed by SIGKILL, not finished");
        });
        runningTheMoveAgainFinishesIt(stopped);
    }

    /**
     * Ctrl-C instead of kill -9: the JVM's shutdown hooks run, and must say what the stop left and delete nothing.
     * The spare copy it leaves is reclaimed by gc once no server reads it.
     */
    @Test
    void ctrlCBetweenTheSwitchAndTheDeleteSaysSoInOneLineAndLeavesASpareCopyThatGcReclaimsOnlyOnceNoServerReadsIt()
            throws Exception {
        Stopped stopped = stoppedBetweenTheSwitchAndTheDelete(move -> {
            VmCli.ok("kill", "-INT", Long.toString(move.pid()));
            assertTrue(move.waitFor(DEADLINE.toSeconds(), TimeUnit.SECONDS));
            assertEquals(130, move.exitValue(), "stopped by SIGINT, not finished");
            assertEquals("dcd: the move of tools@1.0 to store2 was stopped after the switch: tools@1.0 is on store2; its"
                    + " copy on local stays, a spare copy, which 'dcd catalog gc' deletes once no running server reads it"
                    + " there\n", Files.readString(tmp.resolve("move.err")), "one line, no stack trace");
        });
        gcReclaimsTheSpareCopyOnlyOnceNoServerReadsIt(stopped);
    }

    /** How a test stops the move held at its gate, and what it checks of the stop itself. */
    @FunctionalInterface
    private interface Stop {
        void stop(Process move) throws Exception;
    }

    /** What a stopped move left, and what the tests check it against. */
    private record Stopped(String hex, Path source, Path target, Path other, Path store2, String vdiskSha,
                           String otherSha, Path mnt, Map<String, String> tools, String nbd, String apiDisk) {
    }

    private Stopped stoppedBetweenTheSwitchAndTheDelete(Stop stop) throws Exception {
        home = tmp.resolve("home");
        Map<String, String> tools = writeApp(tmp.resolve("tools-1.0"), 16, "bin/tool.bin", "share/data.bin", "doc/README");
        writeApp(tmp.resolve("other-2.0"), 61, "opt/other/readme");
        dcdOk(home, "catalog", "import", tmp.resolve("tools-1.0").toString());
        dcdOk(home, "catalog", "import", tmp.resolve("other-2.0").toString());
        Path store2 = Files.createDirectories(tmp.resolve("store2"));
        dcdOk(home, "backend", "add", "store2", "local://" + store2);
        String hex = contentId("tools");
        Path source = home.resolve("vdisks").resolve(hex + ".vdisk");
        Path target = store2.resolve(hex + ".vdisk");
        Path other = home.resolve("vdisks").resolve(contentId("other") + ".vdisk");
        String vdiskSha = VmCli.sha256(source);
        String otherSha = VmCli.sha256(other);
        for (String vm : List.of("web", "api")) {
            dcdOk(home, "vm", "create", vm, "--size", "64M");
            dcdOk(home, "vm", "assign", vm, "tools", "other");
            dcdOk(home, "disk", "build", vm);
        }
        Path exported = tmp.resolve("api.raw");
        dcdOk(home, "disk", "export", "api", exported.toString());
        String apiDisk = VmCli.sha256(exported);
        Path mnt = mount("web", tmp.resolve("mnt"));
        String nbd = serve("api");
        DirectReads.assertEveryFile(mnt, tools, "before the move");
        assertEquals(apiDisk, nbdSha256(nbd), "the NBD server before the move");

        // The move stops at the gate: the catalog names store2, the servers were not asked, the source is there.
        stop.stop(startMoveHeldAfterTheSwitch());

        assertEquals("store2", app("tools").get("backend").asText(), "the catalog names the target");
        assertEquals(vdiskSha, VmCli.sha256(source), "the source copy is whole");
        assertEquals(vdiskSha, VmCli.sha256(target), "the copy on the target is whole");
        assertEquals("ok from local", reads("mount-web"), "the mount was not switched: it reads the source copy");
        assertEquals("ok from local", reads("serve-api"));
        DirectReads.assertEveryFile(mnt, tools, "after the kill, from the source copy");
        assertEquals(apiDisk, nbdSha256(nbd), "the NBD server after the kill");
        return new Stopped(hex, source, target, other, store2, vdiskSha, otherSha, mnt, tools, nbd, apiDisk);
    }

    /** The same move run again: it verifies the target copy, switches both servers, and deletes the spare copy. */
    private void runningTheMoveAgainFinishesIt(Stopped s) throws Exception {
        String out = dcdOk(home, "catalog", "move", "tools@1.0", "--to", "store2").out();
        assertTrue(out.startsWith("finished the move of tools@1.0 (vdisk " + s.hex().substring(0, 12) + ", "), out);
        assertTrue(out.endsWith(") to store2, where it verified; switched: mount of VM web, NBD server of VM api; spare"
                + " copy on local deleted\n"), out);
        assertEquals("ok from store2", reads("mount-web"), "the mount reads the target now");
        assertEquals("ok from store2", reads("serve-api"), "and so does the NBD server");
        assertEquals(Map.of("tools@1.0", "store2", "other@2.0", "local"), serving("web"));
        assertFalse(Files.exists(s.source()), "the spare copy is gone");
        assertEquals(s.vdiskSha(), VmCli.sha256(s.target()), "the copy the catalog names is untouched");
        assertEquals(s.otherSha(), VmCli.sha256(s.other()), "the other app's vdisk is untouched");
        assertEquals(List.of(contentId("other") + ".vdisk"), names(home.resolve("vdisks")));
        DirectReads.assertEveryFile(s.mnt(), s.tools(), "after the finished move, from the target");
        assertEquals(s.apiDisk(), nbdSha256(s.nbd()), "the NBD server after the finished move, from the target");
        VmCli.Result again = dcd(home, "catalog", "move", "tools", "--to", "store2");
        assertEquals(1, again.code(), again.toString());
        assertEquals("dcd: app tools@1.0 is on backend 'store2' already\n", again.err(), "nothing left to finish");
        assertEquals("reclaimed 0 B from 0 vdisk(s)\n", dcdOk(home, "catalog", "gc").out(), "nothing left to reclaim");
    }

    private void gcReclaimsTheSpareCopyOnlyOnceNoServerReadsIt(Stopped s) throws Exception {
        String hex = s.hex();
        Path source = s.source();
        Path target = s.target();
        Path other = s.other();
        Path mnt = s.mnt();
        Map<String, String> tools = s.tools();
        String vdiskSha = s.vdiskSha();
        String otherSha = s.otherSha();
        String apiDisk = s.apiDisk();
        Path store2 = s.store2();
        String spare = "spare copy of vdisk " + hex.substring(0, 12) + " on local (tools@1.0 is on store2), ";
        String kept = dcdOk(home, "catalog", "gc").out();
        assertTrue(kept.startsWith("kept " + spare), kept);
        assertTrue(kept.contains(": the mount of VM web reads it from local; the NBD server of VM api reads it from local\n"),
                kept);
        assertTrue(kept.endsWith("reclaimed 0 B from 0 vdisk(s)\n"), kept);
        assertEquals(vdiskSha, VmCli.sha256(source), "kept while live servers read it");

        // The mount switches (as the killed move would have asked it to); the NBD server still reads the source.
        assertEquals("ok switched", ControlClient.request(socket("mount-web"), "resolve " + hex + " store2", ASK).line());
        assertEquals(Map.of("tools@1.0", "store2", "other@2.0", "local"), serving("web"));
        DirectReads.assertEveryFile(mnt, tools, "after the mount switched, from the target");
        JsonNode stillRead = JSON.readTree(dcdOk(home, "--json", "catalog", "gc").out()).get("vdisks");
        assertEquals(1, stillRead.size(), stillRead.toString());
        assertEquals("spare", stillRead.get(0).get("action").asText());
        assertEquals("the NBD server of VM api reads it from local", stillRead.get(0).get("readers").get(0).asText());
        assertEquals(1, stillRead.get(0).get("readers").size(), stillRead.toString());
        assertTrue(Files.exists(source));

        // Once the NBD server stopped, nothing reads the source copy: gc deletes it, and nothing else.
        dcdOk(home, "serve", "--stop", "api");
        String deleted = dcdOk(home, "catalog", "gc").out();
        assertTrue(deleted.startsWith("deleted " + spare), deleted);
        assertTrue(deleted.endsWith(" from 1 vdisk(s)\n"), deleted);
        assertFalse(Files.exists(source), "the spare copy is reclaimed");
        assertEquals(vdiskSha, VmCli.sha256(target), "the copy the catalog names is untouched");
        assertEquals(otherSha, VmCli.sha256(other), "the other app's vdisk is untouched");
        assertEquals(List.of(contentId("other") + ".vdisk"), names(home.resolve("vdisks")));
        assertEquals(List.of(hex + ".vdisk"), names(store2));
        DirectReads.assertEveryFile(mnt, tools, "after gc, from the target");
        assertEquals("reclaimed 0 B from 0 vdisk(s)\n", dcdOk(home, "catalog", "gc").out(), "nothing left to reclaim");
        // The generation of the stopped server still serves, from the target, when served again.
        assertEquals(apiDisk, nbdSha256(serve("api")), "the NBD server started again reads the target");
    }

    // ------------------------------------------------------------------ helpers

    /** Writes random files (the last one text) under {@code root}; returns their sha256 by relative path. */
    private static Map<String, String> writeApp(Path root, long seed, String... files) throws IOException {
        Random random = new Random(seed);
        Map<String, String> sha = new LinkedHashMap<>();
        for (int i = 0; i < files.length; i++) {
            Path file = root.resolve(files[i]);
            Files.createDirectories(file.getParent());
            byte[] bytes = i == files.length - 1 ? ("readme of " + root.getFileName() + "\n").getBytes()
                    : new byte[(3 << 20) + random.nextInt(1 << 20)];
            if (i < files.length - 1) {
                random.nextBytes(bytes);
            }
            Files.write(file, bytes);
            sha.put(files[i], VmCli.sha256(file));
        }
        return sha;
    }

    private JsonNode app(String name) throws IOException {
        for (JsonNode a : JSON.readTree(dcdOk(home, "--json", "catalog", "list").out())) {
            if (a.get("name").asText().equals(name)) {
                return a;
            }
        }
        throw new AssertionError("no app " + name + " in the catalog");
    }

    private String contentId(String name) throws IOException {
        return app(name).get("contentId").asText();
    }

    private Path socket(String name) {
        return ControlSockets.dir(home).resolve(name + ControlSockets.SUFFIX);
    }

    private String reads(String server) throws IOException {
        return ControlClient.request(socket(server), "reads " + contentId("tools"), ASK).line();
    }

    private Map<String, String> serving(String vm) throws IOException {
        JsonNode stats = JSON.readTree(dcdOk(home, "--json", "stats", vm).out()).get(vm);
        return dev.dcd.filter.StatsSnapshot.fromJson(stats.get("disk").toString()).serving();
    }

    private Path mount(String vm, Path mountpoint) throws IOException {
        Files.createDirectories(mountpoint);
        cleanups.add(() -> {
            quietly("java", "-jar", VmCli.JAR.toString(), "--home", home.toString(), "umount", mountpoint.toString());
            quietly("fusermount", "-u", "-z", mountpoint.toString());
        });
        VmCli.Result r = dcdOk(home, "mount", vm, mountpoint.toString());
        assertTrue(r.out().startsWith("mounted " + vm + " at "), r.toString());
        return mountpoint;
    }

    /** Starts {@code dcd serve VM} in the background on a socket of this test; returns its NBD URI. */
    private String serve(String vm) throws IOException {
        cleanups.add(() -> quietly("java", "-jar", VmCli.JAR.toString(), "--home", home.toString(), "serve", "--stop", vm));
        JsonNode started = JSON.readTree(dcdOk(home, "--json", "serve", vm, "--nbd", "unix:" + tmp.resolve(vm + ".sock"),
                "--background").out());
        return started.get("uri").asText();
    }

    private String nbdSha256(String uri) throws IOException {
        Path copy = tmp.resolve("nbd-copy.raw");
        Files.deleteIfExists(copy);
        VmCli.ok("nbdcopy", uri, copy.toString());
        try {
            return VmCli.sha256(copy);
        } finally {
            Files.delete(copy);
        }
    }

    /**
     * Runs {@code dcd catalog move tools --to store2} with its {@code move-after-switch} gate on a FIFO, and returns
     * once the process waits there: it has opened the FIFO, which our open for writing waits for.
     */
    private Process startMoveHeldAfterTheSwitch() throws Exception {
        GateFifo gate = new GateFifo(tmp.resolve("gate.fifo"), DEADLINE, cleanups);
        // env --default-signal=INT: a JVM whose parent ignored SIGINT (a background job of a non-interactive shell)
        // would ignore Ctrl-C too; the test's SIGINT must act as a user's.
        ProcessBuilder pb = new ProcessBuilder("env", "--default-signal=INT", "java", "-jar", VmCli.JAR.toString(), "--home", home.toString(),
                "catalog", "move", "tools", "--to", "store2")
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(tmp.resolve("move.out").toFile()).redirectError(tmp.resolve("move.err").toFile());
        pb.environment().remove("DCD_HOME");
        pb.environment().put("DCD_TEST_GATE", gate.at("move-after-switch"));
        Process move = pb.start();
        cleanups.add(move::destroyForcibly);
        gate.awaitReached(move, () -> "exit " + move.exitValue() + "\n" + Files.readString(tmp.resolve("move.out"))
                + Files.readString(tmp.resolve("move.err")));
        return move;
    }

    private static List<String> names(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> !n.startsWith(".")).sorted().toList();
        }
    }
}
