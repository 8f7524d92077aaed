package dev.dcd.tests.nbd;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dcd.control.ControlClient;
import dev.dcd.control.ControlSockets;
import dev.dcd.tests.vmmount.VmCli;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
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

    @BeforeEach
    void buildVm() throws Exception {
        home = tmp.resolve("home");
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
}
