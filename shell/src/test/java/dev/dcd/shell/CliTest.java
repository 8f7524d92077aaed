package dev.dcd.shell;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CliTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path temp;
    CliHarness dcd;
    Path app;

    @BeforeEach
    void setUp() throws IOException {
        dcd = new CliHarness(temp.resolve("home"));
        app = Files.createDirectories(temp.resolve("hello-1.0/bin"));
        Files.writeString(app.resolve("hello"), "#!/bin/sh\necho hello\n");
        Files.createSymbolicLink(app.resolve("hi"), Path.of("hello"));
        app = app.getParent();
    }

    private static void assertOneLineError(CliHarness.Result r, String expected) {
        assertEquals(1, r.code(), r.toString());
        assertEquals("dcd: " + expected + "\n", r.err(), r.toString());
    }

    @Test
    void withoutACommandItIsAUsageError() {
        CliHarness.Result r = dcd.run();
        assertEquals(2, r.code(), r.toString());
        assertTrue(r.err().contains("missing command"), r.toString());
        assertEquals(2, dcd.run("catalog", "import").code());
        assertEquals(2, dcd.run("frobnicate").code());
        assertEquals(2, dcd.run("vm", "create", "x", "--no-such-flag").code());
    }

    @Test
    void helpAndVersionWork() {
        assertTrue(dcd.ok("--help").contains("catalog"));
        assertTrue(dcd.ok("catalog", "import", "--help").contains("--max-size"));
        assertTrue(dcd.ok("--version").startsWith("dcd "));
    }

    @Test
    void theLocalBackendIsListedAndOtherBackendsCanBeAddedCheckedAndRemoved() throws IOException {
        assertTrue(dcd.ok("backend", "list").contains("local  local://" + temp.resolve("home/vdisks")));
        Path nas = temp.resolve("nas");
        assertEquals("added backend nas local://" + nas + "\n", dcd.ok("backend", "add", "nas", "local://" + nas));
        JsonNode list = JSON.readTree(dcd.ok("--json", "backend", "list"));
        assertEquals(2, list.size());
        assertEquals("nas", list.get(1).get("name").asText());
        assertTrue(dcd.ok("backend", "check", "nas").startsWith("nas: ok, "));
        assertTrue(dcd.ok("backend", "check", "local").endsWith(", 0 vdisk(s)\n"));
        assertTrue(JSON.readTree(dcd.ok("backend", "check", "nas", "--json")).get("ok").asBoolean());
        dcd.ok("catalog", "import", app.toString(), "--backend", "nas");
        assertOneLineError(dcd.run("backend", "rm", "nas"),
                "backend 'nas' still holds 1 app version(s): hello@1.0; remove them first");
        dcd.ok("catalog", "rm", "hello");
        assertEquals("removed backend nas\n", dcd.ok("backend", "rm", "nas"));
        assertOneLineError(dcd.run("backend", "check", "nas"), "unknown backend 'nas' (see 'dcd backend list')");
        assertOneLineError(dcd.run("backend", "add", "x", "ftp://host/dir"), "no backend handles scheme 'ftp' (known: local, nbd, nbd+unix, nfs, s3)");
        assertOneLineError(dcd.run("backend", "add", "x", "local:relative"), "local backend URI 'local:relative' must be local:///absolute/dir");
    }

    @Test
    void importListShowAndRemoveAnApp() throws IOException {
        assertTrue(dcd.ok("catalog", "import", app.toString()).startsWith("imported hello@1.0: 1 files, 21 B, vdisk "));
        String list = dcd.ok("catalog", "list");
        assertTrue(list.startsWith("APP    VERSION  FILES  SIZE  BACKEND  VDISK"), list);
        assertTrue(list.contains("hello  1.0          1  21 B  local"), list);
        assertTrue(list.contains("2026-05-06 07:08:09Z"), list);
        String show = dcd.ok("catalog", "show", "hello@1.0");
        assertTrue(show.contains("TYPE  MODE  OWNER  SIZE  PATH\n"), show);
        assertTrue(show.contains("file  0644  " + uid() + "    21  bin/hello\n"), show);
        assertTrue(show.contains("link  0777  " + uid() + "     5  bin/hi -> hello\n"), show);
        JsonNode json = JSON.readTree(dcd.ok("catalog", "show", "hello", "--json"));
        assertEquals("hello", json.get("app").get("name").asText());
        JsonNode hello = null;
        for (JsonNode e : json.get("entries")) {
            if (e.get("path").asText().equals("bin/hello")) {
                hello = e;
            }
        }
        assertEquals("file", hello.get("type").asText());
        assertEquals(64, hello.get("sha256").asText().length());
        assertEquals(1, JSON.readTree(dcd.ok("catalog", "list", "--json")).size());
        String removed = dcd.ok("catalog", "rm", "hello@1.0");
        assertTrue(removed.startsWith("removed hello@1.0 and its vdisk "), removed);
        try (Stream<Path> vdisks = Files.list(temp.resolve("home/vdisks"))) {
            assertEquals(0, vdisks.count());
        }
        assertOneLineError(dcd.run("catalog", "show", "hello"), "app 'hello' is not in the catalog (see 'dcd catalog list')");
    }

    private String uid() throws IOException {
        String owner = Files.getAttribute(app, "unix:uid") + ":" + Files.getAttribute(app, "unix:gid");
        return owner + " ".repeat(Math.max(0, "OWNER".length() - owner.length()));
    }

    @Test
    void importErrorsAreOneLineWithoutAStackTraceUnlessDebug() {
        CliHarness.Result r = dcd.run("catalog", "import", temp.resolve("missing-1.tar").toString());
        assertOneLineError(r, "source '" + temp.resolve("missing-1.tar") + "' does not exist");
        CliHarness.Result debug = dcd.run("--debug", "catalog", "import", temp.resolve("missing-1.tar").toString());
        assertEquals(1, debug.code());
        assertTrue(debug.err().contains("at dev.dcd.catalog.Importer"), debug.toString());
        assertOneLineError(dcd.run("catalog", "import", app.toString(), "--max-size", "lots"),
                "invalid size 'lots' (expected for example 512M, 8G, 16GiB or a byte count)");
        assertOneLineError(dcd.run("catalog", "import", app.toString(), "--backend", "nope"),
                "unknown backend 'nope' (see 'dcd backend list')");
    }

    @Test
    void vmsAreCreatedAssignedShownAndRemoved() throws IOException {
        dcd.ok("catalog", "import", app.toString());
        dcd.ok("catalog", "import", app.toString(), "--version", "2.0");
        assertEquals("created VM web (ext4, 512.0 MiB)\n", dcd.ok("vm", "create", "web", "--size", "512M"));
        assertEquals("created VM usb (fat32, 8.0 GiB)\n", dcd.ok("vm", "create", "usb", "--fs", "fat32"));
        assertEquals("assigned hello@2.0 to web (priority 7)\n", dcd.ok("vm", "assign", "web", "hello", "--priority", "7"));
        dcd.ok("vm", "assign", "usb", "hello@1.0");
        String show = dcd.ok("vm", "show", "web");
        assertTrue(show.contains("VM web: ext4, 512.0 MiB, created 2026-05-06 07:08:09Z"), show);
        assertTrue(show.contains("hello  2.0             7      1  21 B"), show);
        JsonNode vms = JSON.readTree(dcd.ok("vm", "list", "--json"));
        assertEquals(List.of("usb", "web"), List.of(vms.get(0).get("name").asText(), vms.get(1).get("name").asText()));
        assertEquals("1.0", vms.get(0).get("apps").get(0).get("version").asText());
        assertOneLineError(dcd.run("catalog", "rm", "hello@1.0"), "app hello@1.0 is assigned to VM(s) usb; unassign it first");
        assertOneLineError(dcd.run("catalog", "rm", "hello"), "app hello@1.0 is assigned to VM(s) usb; unassign it first");
        dcd.ok("vm", "unassign", "usb", "hello");
        assertOneLineError(dcd.run("vm", "unassign", "usb", "hello"), "app 'hello' is not assigned to VM 'usb'");
        dcd.ok("catalog", "rm", "hello@1.0");
        assertOneLineError(dcd.run("vm", "assign", "web", "ghost"), "app 'ghost' is not in the catalog (see 'dcd catalog list')");
        assertOneLineError(dcd.run("vm", "create", "web"), "VM 'web' already exists");
        assertOneLineError(dcd.run("vm", "create", "tiny", "--size", "1M"), "disk size must be a multiple of 4 KiB and at least 16M, got 1M");
        assertOneLineError(dcd.run("vm", "create", "odd", "--fs", "ntfs"), "unknown filesystem 'ntfs' (expected ext4 or fat32)");
        long fatMin = dev.dcd.synth.fat32.Fat32Synthesizer.MIN_DISK_SIZE;
        assertOneLineError(dcd.run("vm", "create", "usb16", "--fs", "fat32", "--size", "16M"), "a fat32 disk must be at least "
                + ((fatMin + (1 << 20) - 1) >> 20) + "M (" + fatMin + " bytes: FAT32 needs 65525 clusters), got 16M; choose a larger --size or ext4");
        String huge = "n".repeat(5000);
        assertOneLineError(dcd.run("vm", "create", huge), "VM name '" + "n".repeat(80)
                + "…' is invalid (use letters, digits, '.', '_', '+', '-'; at most 128 characters)");
        assertEquals("removed VM web\n", dcd.ok("vm", "rm", "web"));
        assertOneLineError(dcd.run("vm", "show", "web"), "unknown VM 'web' (see 'dcd vm list')");
    }

    @Test
    void rescanRebuildsAWipedCatalog() throws IOException {
        dcd.ok("catalog", "import", app.toString());
        String before = dcd.ok("catalog", "list", "--json");
        deleteTree(temp.resolve("home/catalog"));
        assertEquals("[ ]\n", dcd.ok("catalog", "list", "--json"));
        String out = dcd.ok("catalog", "rescan");
        assertTrue(out.startsWith("registered hello@1.0 (vdisk "), out);
        assertTrue(out.endsWith("1 app version(s) registered\n"), out);
        assertEquals(before, dcd.ok("catalog", "list", "--json"));
    }

    @Test
    void theCatalogIsOnlyOpenedWhenACommandNeedsIt() {
        dcd.ok("--help");
        assertFalse(Files.exists(temp.resolve("home")));
    }

    static void deleteTree(Path root) throws IOException {
        VmCommands.deleteTree(root);
    }
}
