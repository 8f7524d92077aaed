package dev.dcd.tests.nbd;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dcd.control.ControlClient;
import dev.dcd.control.ControlSockets;
import dev.dcd.tests.support.Cleanups;
import dev.dcd.tests.support.GateFifo;
import dev.dcd.tests.vmmount.VmCli;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static dev.dcd.tests.vmmount.VmCli.dcd;
import static dev.dcd.tests.vmmount.VmCli.dcdOk;
import static dev.dcd.tests.vmmount.VmCli.ok;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code dcd catalog move} while {@code dcd serve VM --nbd} serves the VM, all through the packaged jar and judged
 * by libnbd's nbdcopy: the serving process switches over its control channel ({@code serve-VM.sock}) before the
 * source copy is deleted, every byte read over NBD afterwards equals {@code dcd disk export} of the generation, and
 * the server's status names the new backend. A server that cannot answer (stopped with SIGSTOP) fails the move,
 * which changes nothing, and the request it finds once it runs again does not switch it behind the catalog's back.
 */
class NbdMoveIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration ASK = Duration.ofSeconds(30);

    @TempDir
    Path tmp;
    private Path home;
    private Path store2;
    private Path exported;
    private String hex;
    private final List<String> served = new ArrayList<>();
    /** Undone after {@link #stopServers}, which JUnit runs before the extension's callback. */
    @RegisterExtension
    final Cleanups cleanups = new Cleanups();

    @BeforeEach
    void buildVm() throws Exception {
        build(tmp.resolve("home"));
    }

    /** App tools@1.0 on local, a second local backend store2, VM web built from it, in a dcd home at {@code at}. */
    private void build(Path at) throws Exception {
        home = at;
        Path app = Files.createDirectories(tmp.resolve("app/share/data"));
        byte[] big = new byte[12 << 20];
        new Random(16).nextBytes(big);
        Files.write(app.resolve("big.bin"), big);
        Files.writeString(app.resolve("readme.txt"), "moved while served over NBD\n");
        dcdOk(home, "catalog", "import", tmp.resolve("app").toString(), "--name", "tools", "--version", "1.0");
        store2 = Files.createDirectories(tmp.resolve("store2"));
        dcdOk(home, "backend", "add", "store2", "local://" + store2);
        dcdOk(home, "vm", "create", "web", "--size", "128M");
        dcdOk(home, "vm", "assign", "web", "tools");
        dcdOk(home, "disk", "build", "web");
        exported = tmp.resolve("web.raw");
        dcdOk(home, "disk", "export", "web", exported.toString());
        hex = JSON.readTree(dcdOk(home, "--json", "catalog", "list").out()).get(0).get("contentId").asText();
    }

    @AfterEach
    void stopServers() {
        for (String vm : served) {
            dcd(home, "serve", "--stop", vm);
        }
    }

    /** Starts a background server on a socket of this test; returns its {@code --json} record (uri, pid, log). */
    private JsonNode serve(String vm) throws Exception {
        JsonNode started = JSON.readTree(dcdOk(home, "--json", "serve", vm, "--nbd", "unix:" + tmp.resolve(vm + ".sock"),
                "--background").out());
        served.add(vm);
        return started;
    }

    private Path onLocal() {
        return home.resolve("vdisks").resolve(hex + ".vdisk");
    }

    private Path onStore2() {
        return store2.resolve(hex + ".vdisk");
    }

    private String catalogBackend() throws IOException {
        return JSON.readTree(dcdOk(home, "--json", "catalog", "list").out()).get(0).get("backend").asText();
    }

    private String status(String vm) throws IOException {
        return ControlClient.request(ControlSockets.socket(home, ControlSockets.SERVE, vm), "status", ASK).line();
    }

    /** Every byte of the export, read by nbdcopy, hashed against the exported generation. */
    private void assertEveryByteServed(String uri, String when) throws IOException {
        Path copy = tmp.resolve("copy.raw");
        Files.deleteIfExists(copy);
        ok("nbdcopy", uri, copy.toString());
        assertEquals(VmCli.sha256(exported), VmCli.sha256(copy), "every byte read over NBD " + when);
        Files.delete(copy);
    }

    @Test
    void anNbdServerSwitchesToTheNewBackendBeforeTheSourceIsDeletedAndServesEveryByteFromIt() throws Exception {
        JsonNode server = serve("web");
        String uri = server.get("uri").asText();
        long pid = server.get("pid").asLong();
        assertEveryByteServed(uri, "before the move");
        assertEquals("ok vm=web generation=1 pid=" + pid + " apps=tools@1.0:local", status("web"));

        String out = dcdOk(home, "catalog", "move", "tools", "--to", "store2").out();
        assertTrue(out.contains("switched: NBD server of VM web; source copy deleted"), out);
        assertEquals("store2", catalogBackend());
        assertFalse(Files.exists(onLocal()), "the source copy is gone once the server switched");
        assertTrue(Files.exists(onStore2()));
        assertEquals("ok vm=web generation=1 pid=" + pid + " apps=tools@1.0:store2", status("web"),
                "the server's status names the new backend");
        String log = Files.readString(Path.of(server.get("log").asText()));
        assertTrue(log.contains("dcd: vdisk " + hex.substring(0, 12) + " of VM web is served from store2 now"), log);

        // The source file is deleted, so every byte nbdcopy reads now comes from store2.
        assertEveryByteServed(uri, "after the move, from store2");

        // And back again, keeping the copy on store2: the server follows every hop.
        dcdOk(home, "catalog", "move", "tools", "--to", "local", "--keep-source");
        assertEquals("ok vm=web generation=1 pid=" + pid + " apps=tools@1.0:local", status("web"));
        Files.delete(onStore2());
        assertEveryByteServed(uri, "after the move back, from local");
    }

    @Test
    void aServerThatCannotAnswerFailsTheMoveWhichChangesNothingAndItsLateRequestIsRefused() throws Exception {
        JsonNode server = serve("web");
        String uri = server.get("uri").asText();
        long pid = server.get("pid").asLong();
        Path log = Path.of(server.get("log").asText());
        // A copy on store2 already (a move kept it, say): the move does not delete it when it is undone, so a late
        // switch to it would succeed, and leave the server reading a copy the catalog does not name.
        Files.copy(onLocal(), onStore2());

        ok("kill", "-STOP", Long.toString(pid));
        VmCli.Result refused;
        try {
            refused = dcd(home, "catalog", "move", "tools", "--to", "store2", "--server-timeout", "2s");
        } finally {
            ok("kill", "-CONT", Long.toString(pid));
        }
        assertEquals(1, refused.code(), refused.toString());
        assertEquals(1, refused.err().strip().lines().count(), "one line: " + refused);
        assertTrue(refused.err().contains("the NBD server of VM web did not switch: no answer within 2 s"), refused.err());
        assertTrue(refused.err().contains("the move was undone, tools@1.0 stays on local"), refused.err());
        assertEquals("local", catalogBackend(), "the catalog is switched back");
        assertTrue(Files.exists(onLocal()), "the source is kept: the server never said it had switched");

        // Running again, the server finds the request the move gave up on; the catalog names local, so it stays.
        long deadline = System.nanoTime() + ASK.toNanos();
        while (!Files.readString(log).contains("dcd: not switching vdisk " + hex.substring(0, 12) + " of VM web to store2")) {
            assertTrue(System.nanoTime() < deadline, "the late request is refused on the log:\n" + Files.readString(log));
            Thread.sleep(20); // polling a log file for a condition, with a deadline
        }
        assertTrue(Files.readString(log).contains("the catalog does not name backend 'store2'"), Files.readString(log));
        assertEquals("ok vm=web generation=1 pid=" + pid + " apps=tools@1.0:local", status("web"));
        Files.delete(onStore2());
        assertEveryByteServed(uri, "after the failed move, from local");

        // With the server answering, the same move goes through.
        String out = dcdOk(home, "catalog", "move", "tools", "--to", "store2").out();
        assertTrue(out.contains("switched: NBD server of VM web; source copy deleted"), out);
        assertFalse(Files.exists(onLocal()));
        assertEveryByteServed(uri, "after the move, from store2");
    }

    @Test
    void aServerUnderAHomeTooDeepForASocketPathIsSwitchedThroughItsShortSocket() throws Exception {
        // mounts/control/serve-web.sock under this home is longer than the 107 bytes a socket path may have.
        build(tmp.resolve("d".repeat(100)).resolve("e".repeat(30)));
        Path name = ControlSockets.socket(home, ControlSockets.SERVE, "web");
        assertFalse(ControlSockets.fits(name), name.toString());
        JsonNode server = serve("web");
        String uri = server.get("uri").asText();
        long pid = server.get("pid").asLong();
        assertTrue(Files.isSymbolicLink(name), "the usual name links to a short socket: " + Files.readString(
                Path.of(server.get("log").asText())));
        assertEquals("ok vm=web generation=1 pid=" + pid + " apps=tools@1.0:local", status("web"));

        String out = dcdOk(home, "catalog", "move", "tools", "--to", "store2").out();
        assertTrue(out.contains("switched: NBD server of VM web; source copy deleted"), out);
        assertEquals("ok vm=web generation=1 pid=" + pid + " apps=tools@1.0:store2", status("web"));
        assertFalse(Files.exists(onLocal()));
        assertEveryByteServed(uri, "after the move, from store2");
        dcdOk(home, "serve", "--stop", "web");
        served.remove("web");
        assertFalse(Files.exists(name, java.nio.file.LinkOption.NOFOLLOW_LINKS), "the link goes with the server");
    }

    @Test
    void aServerStillStartingKeepsTheSourceOfAMoveAndRunningTheMoveAgainSwitchesItOnceItServes() throws Exception {
        // A real 'dcd serve' held by its serve-starting gate: it has opened the vdisk through the catalog (on local),
        // and has neither control socket nor record yet.
        GateFifo gate = new GateFifo(tmp.resolve("serve-starting.fifo"), java.time.Duration.ofSeconds(180), cleanups);
        ProcessBuilder pb = new ProcessBuilder("java", "-jar", VmCli.JAR.toString(), "--home", home.toString(), "serve",
                "web", "--nbd", "unix:" + tmp.resolve("web.sock"))
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectOutput(tmp.resolve("serve.out").toFile()).redirectError(tmp.resolve("serve.err").toFile());
        pb.environment().remove("DCD_HOME");
        pb.environment().put("DCD_TEST_GATE", gate.at("serve-starting"));
        Process server = pb.start();
        cleanups.add(() -> {
            server.destroy(); // SIGTERM: it stops serving and removes its record, socket and reader registration
            try {
                server.waitFor(60, java.util.concurrent.TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        gate.awaitReached(server, () -> "exit " + server.exitValue() + "\n" + Files.readString(tmp.resolve("serve.err")));
        long pid = server.pid();
        assertFalse(Files.exists(ControlSockets.socket(home, ControlSockets.SERVE, "web")), "no socket yet");
        assertFalse(Files.exists(home.resolve("serve").resolve("web.pid")), "no record yet");

        String starting = "the NBD server of VM web (pid " + pid + ") is starting or has no control channel to say from"
                + " where, so it may still read it";
        String out = dcdOk(home, "catalog", "move", "tools", "--to", "store2").out();
        assertTrue(out.contains("; source copy kept (" + starting + "; it stays on local as a spare copy"), out);
        assertEquals("store2", catalogBackend());
        assertTrue(Files.exists(onLocal()), "the copy the starting server opened is kept");
        assertTrue(dcdOk(home, "catalog", "gc").out().contains(": " + starting + "\n"), "and gc keeps it too");

        gate.release();
        Path socket = ControlSockets.socket(home, ControlSockets.SERVE, "web");
        long deadline = System.nanoTime() + ASK.toNanos();
        while (!ControlClient.answers(socket, Duration.ofSeconds(2))) {
            assertTrue(server.isAlive(), "the server runs on: " + Files.readString(tmp.resolve("serve.err")));
            assertTrue(System.nanoTime() < deadline, "the server answers once started");
            Thread.sleep(20); // polling for the socket of a process we cannot otherwise wait on, with a deadline
        }
        assertEquals("ok vm=web generation=1 pid=" + pid + " apps=tools@1.0:local", status("web"),
                "it reads the copy it opened before the switch");
        java.util.Properties record = new java.util.Properties();
        try (var in = Files.newInputStream(home.resolve("serve").resolve("web.pid"))) {
            record.load(in);
        }
        String uri = record.getProperty("uri");
        assertEveryByteServed(uri, "from the kept source copy");
        assertTrue(dcdOk(home, "catalog", "gc").out().contains(": the NBD server of VM web reads it from local\n"));

        // The same move again finishes it: the server switches, and the copy nothing reads any more goes.
        out = dcdOk(home, "catalog", "move", "tools@1.0", "--to", "store2").out();
        assertTrue(out.startsWith("finished the move of tools@1.0 (vdisk " + hex.substring(0, 12) + ", "), out);
        assertTrue(out.endsWith(") to store2, where it verified; switched: NBD server of VM web; spare copy on local"
                + " deleted\n"), out);
        assertEquals("ok vm=web generation=1 pid=" + pid + " apps=tools@1.0:store2", status("web"));
        assertFalse(Files.exists(onLocal()));
        assertEveryByteServed(uri, "after the finished move, from store2");
    }
}
