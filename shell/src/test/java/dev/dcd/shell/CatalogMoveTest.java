package dev.dcd.shell;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dcd.block.BlockDevice;
import dev.dcd.control.ControlClient;
import dev.dcd.control.ControlServer;
import dev.dcd.control.ControlSockets;
import dev.dcd.filter.StatsSnapshot;
import dev.dcd.mount.MountControl;
import dev.dcd.mount.MountSource;
import dev.dcd.vdisk.ContentId;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.Closeable;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.RandomAccessFile;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code dcd catalog move} between two local backends, in-process: the copy, the catalog switch, a live server
 * switched over its control channel while it serves, and every failure changing nothing.
 */
class CatalogMoveTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path temp;
    CliHarness dcd;
    Path home;
    Path store2;
    String hex;

    @BeforeEach
    void setUp() throws IOException {
        setUpAt(temp.resolve("home"));
    }

    /** An app lazy@1.0 imported on local, and a second local backend store2, in a dcd home at {@code at}. */
    private void setUpAt(Path at) throws IOException {
        home = at;
        dcd = new CliHarness(home);
        Path app = Files.createDirectories(temp.resolve("lazy-1.0/opt/lazy"));
        Files.deleteIfExists(app.resolve("data.bin"));
        Files.deleteIfExists(app.resolve("readme"));
        byte[] data = new byte[300_000];
        new Random(16).nextBytes(data);
        Files.write(app.resolve("data.bin"), data);
        Files.writeString(app.resolve("readme"), "lazy\n");
        dcd.ok("catalog", "import", temp.resolve("lazy-1.0").toString());
        store2 = Files.createDirectories(home.resolveSibling(home.getFileName() + "-store2"));
        dcd.ok("backend", "add", "store2", "local://" + store2);
        hex = JSON.readTree(dcd.ok("--json", "catalog", "list")).get(0).get("contentId").asText();
    }

    private Path onLocal() {
        return home.resolve("vdisks").resolve(hex + ".vdisk");
    }

    private Path onStore2() {
        return store2.resolve(hex + ".vdisk");
    }

    private String backendOfApp() throws IOException {
        return JSON.readTree(dcd.ok("--json", "catalog", "list")).get(0).get("backend").asText();
    }

    @Test
    void movesTheVdiskSwitchesTheCatalogAndDeletesTheSource() throws IOException {
        byte[] before = Files.readAllBytes(onLocal());
        String out = dcd.ok("catalog", "move", "lazy@1.0", "--to", "store2");
        assertTrue(out.startsWith("moved lazy@1.0 (vdisk " + hex.substring(0, 12)), out);
        assertTrue(out.contains("from local to store2; no running server had to switch; source copy deleted"), out);
        assertEquals("store2", backendOfApp());
        assertTrue(dcd.ok("catalog", "show", "lazy").contains("backend: store2\n"));
        assertArrayEquals(before, Files.readAllBytes(onStore2()), "the copy is byte for byte the vdisk");
        assertFalse(Files.exists(onLocal()), "the source copy is deleted");
        try (var files = Files.list(store2)) {
            assertEquals(1, files.count(), "no temp file is left on the target");
        }

        // And back, keeping the source this time.
        JsonNode back = JSON.readTree(dcd.ok("--json", "catalog", "move", "lazy", "--to", "local", "--keep-source"));
        assertEquals("store2", back.get("from").asText());
        assertFalse(back.get("sourceDeleted").asBoolean());
        assertEquals("local", backendOfApp());
        assertTrue(Files.exists(onLocal()) && Files.exists(onStore2()));
    }

    @Test
    void badRequestsFailWithOneLineAndChangeNothing() throws IOException {
        assertOneLine(dcd.run("catalog", "move", "lazy", "--to", "local"), "app lazy@1.0 is on backend 'local' already");
        assertOneLine(dcd.run("catalog", "move", "lazy", "--to", "nowhere"), "unknown backend 'nowhere'");
        assertOneLine(dcd.run("catalog", "move", "ghost", "--to", "store2"), "app 'ghost' is not in the catalog");
        assertOneLine(dcd.run("catalog", "move", "lazy", "--to", "store2", "--server-timeout", "soon"), "not a duration");
        assertEquals("local", backendOfApp());
        assertTrue(Files.exists(onLocal()));
    }

    @Test
    void aMoveToABackendThatIsDownFailsWithOneLineAndChangesNothing() throws IOException {
        Path dead = temp.resolve("dead");
        dcd.ok("backend", "add", "dead", "local://" + dead);
        // The store's directory is a plain file now: every put fails, as on a backend that went away.
        if (Files.isDirectory(dead)) {
            deleteTree(dead);
        }
        Files.writeString(dead, "not a directory");
        CliHarness.Result r = dcd.run("catalog", "move", "lazy", "--to", "dead");
        assertOneLine(r, "cannot move lazy@1.0 from local to dead");
        assertTrue(r.err().contains("nothing changed, lazy@1.0 stays on local"), r.err());
        assertEquals("local", backendOfApp());
        assertTrue(Files.exists(onLocal()));
    }

    @Test
    void aDamagedSourceIsNeverCopied() throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(onLocal().toFile(), "rw")) {
            long at = f.length() / 2; // inside the file data, far from header and manifest
            f.seek(at);
            int b = f.read();
            f.seek(at);
            f.write(b ^ 0x40);
        }
        CliHarness.Result r = dcd.run("catalog", "move", "lazy", "--to", "store2");
        assertOneLine(r, "cannot move lazy@1.0 from local to store2");
        assertEquals("local", backendOfApp());
        assertFalse(Files.exists(onStore2()), "nothing damaged, and nothing half-copied, on the target");
    }

    @Test
    void aLiveServerSwitchesWhileItServesAndStatsNameTheNewBackend() throws Exception {
        dcd.ok("vm", "create", "vl", "--size", "64M");
        dcd.ok("vm", "assign", "vl", "lazy");
        dcd.ok("disk", "build", "vl");
        try (Context context = context(); MountSource source = open(context, "vl");
             Closeable control = MountControl.start(home, ControlSockets.MOUNT, "vl", source)) {
            assertNotNull(control);
            BlockDevice disk = source.disk();
            byte[] before = readAll(disk);
            long localReads = backendReads(source, "local");
            assertTrue(localReads > 0, "the app was read from local before the move");
            String out = dcd.ok("catalog", "move", "lazy", "--to", "store2");
            assertTrue(out.contains("switched: mount of VM vl; source copy deleted"), out);
            assertFalse(Files.exists(onLocal()), "deleted only after the server switched");
            assertArrayEquals(before, readAll(disk), "every byte reads the same from the new backend");
            StatsSnapshot stats = stats(source);
            assertEquals(Map.of("lazy@1.0", "store2"), stats.serving());
            long store2Reads = backendReads(source, "store2");
            assertTrue(store2Reads > 0, "the reads after the move were counted for store2: " + stats.backends());
            assertEquals(localReads, backendReads(source, "local"), "the old backend's counters stopped growing");
            readAll(disk);
            assertEquals(localReads, backendReads(source, "local"), "and stay still while the VM reads on");
            assertTrue(backendReads(source, "store2") > store2Reads, "the new backend's counters grow instead");
            assertEquals("ok vm=vl generation=1 pid=" + ProcessHandle.current().pid() + " apps=lazy@1.0:store2",
                    ControlClient.request(ControlSockets.socket(home, ControlSockets.MOUNT, "vl"), "status",
                            Duration.ofSeconds(20)).line());
        }
    }

    @Test
    void aServerThatDoesNotAnswerInTimeFailsTheMoveBeforeTheSourceIsDeletedAndTheCatalogIsSwitchedBack()
            throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        ControlServer.Handler stuck = new ControlServer.Handler() {
            @Override
            public String status() {
                return "stuck";
            }

            @Override
            public boolean resolve(ContentId id, String backend) throws IOException {
                try {
                    release.await(60, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    throw new IOException(e);
                }
                return true;
            }
        };
        try (ControlServer server = ControlServer.start(home, ControlSockets.MOUNT, "hung", stuck)) {
            CliHarness.Result r = dcd.run("catalog", "move", "lazy", "--to", "store2", "--server-timeout", "1s");
            assertOneLine(r, "the mount of VM hung did not switch: no answer within 1 s");
            assertTrue(r.err().contains("the move was undone, lazy@1.0 stays on local"), r.err());
            assertEquals("local", backendOfApp());
            assertTrue(Files.exists(onLocal()), "the source is kept");
            assertFalse(Files.exists(onStore2()), "the copy this move made is removed again");
        } finally {
            release.countDown();
        }
    }

    @Test
    void aServerThatRefusesTheSwitchFailsTheMoveAndServersThatSwitchedAreSwitchedBack() throws Exception {
        dcd.ok("vm", "create", "vl", "--size", "64M");
        dcd.ok("vm", "assign", "vl", "lazy");
        dcd.ok("disk", "build", "vl");
        ControlServer.Handler refusing = new ControlServer.Handler() {
            @Override
            public String status() {
                return "refusing";
            }

            @Override
            public boolean resolve(ContentId id, String backend) throws IOException {
                throw new IOException("cannot reach " + backend);
            }
        };
        // "mount-vl" sorts before "mount-zz", so the real server switches first and must be switched back.
        try (Context context = context(); MountSource source = open(context, "vl");
             Closeable control = MountControl.start(home, ControlSockets.MOUNT, "vl", source);
             ControlServer bad = ControlServer.start(home, ControlSockets.MOUNT, "zz", refusing)) {
            byte[] before = readAll(source.disk());
            CliHarness.Result r = dcd.run("catalog", "move", "lazy", "--to", "store2");
            assertOneLine(r, "the mount of VM zz did not switch: cannot reach store2");
            assertEquals("local", backendOfApp());
            StatsSnapshot stats = StatsSnapshot.fromJson(JSON.readTree(source.statsJson()).get("disk").toString());
            assertEquals(Map.of("lazy@1.0", "local"), stats.serving(), "the server that had switched went back");
            assertFalse(Files.exists(onStore2()));
            assertArrayEquals(before, readAll(source.disk()));
        }
    }

    @Test
    void aGenerationBuiltBeforeTheMoveAndNotMountedReadsFromTheNewBackendAfterIt() throws Exception {
        // Generations keep no backend of their own: they name vdisks by content id and resolve them through the
        // catalog when opened. So deleting the source is safe for every kept generation once the catalog moved.
        dcd.ok("vm", "create", "vl", "--size", "64M");
        dcd.ok("vm", "assign", "vl", "lazy");
        dcd.ok("disk", "build", "vl");
        byte[] before;
        try (Context context = context(); MountSource source = open(context, "vl")) {
            before = readAll(source.disk());
        }
        dcd.ok("catalog", "move", "lazy", "--to", "store2");
        assertFalse(Files.exists(onLocal()));
        try (Context context = context(); MountSource source = open(context, "vl")) {
            assertEquals(Map.of("lazy@1.0", "store2"), stats(source).serving());
            assertArrayEquals(before, readAll(source.disk()));
        }
    }

    @Test
    void aServerRefusesAResolveTheCatalogDoesNotAgreeWithAndKeepsServing() throws Exception {
        // The request a move sends and then gives up on (the server was stopped past --server-timeout, the move
        // was undone) may still reach the server later. By then the catalog names the source again, and the
        // copy the request names is one nothing keeps: the server must not switch to it.
        dcd.ok("vm", "create", "vl", "--size", "64M");
        dcd.ok("vm", "assign", "vl", "lazy");
        dcd.ok("disk", "build", "vl");
        Files.copy(onLocal(), onStore2());
        try (Context context = context(); MountSource source = open(context, "vl")) {
            byte[] before = readAll(source.disk());
            IOException stale = assertThrows(IOException.class,
                    () -> source.switchBackend(new ContentId(hex), "store2"));
            assertTrue(stale.getMessage().contains("the catalog does not name backend 'store2'"), stale.getMessage());
            assertEquals(Map.of("lazy@1.0", "local"), stats(source).serving(), "it stays where it was");
            Files.delete(onStore2());
            assertArrayEquals(before, readAll(source.disk()), "and reads every byte from there");
        }
    }

    /** The state a move killed after switching the catalog (step 4) and before deleting its source leaves. */
    private void switchTheCatalogOnlyAsAKilledMoveLeavesIt() throws IOException {
        Files.copy(onLocal(), onStore2());
        try (Context context = context()) {
            context.catalog().switchBackend(new ContentId(hex), "local", "store2");
        }
        assertEquals("store2", backendOfApp());
    }

    private String spareLine(String verb) throws IOException {
        return verb + " spare copy of vdisk " + hex.substring(0, 12) + " on local (lazy@1.0 is on store2), "
                + dev.dcd.catalog.Sizes.format(Files.size(onLocal()));
    }

    @Test
    void gcKeepsASpareCopyWhileALiveServerReadsItThereAndDeletesItOnceTheServerSwitched() throws Exception {
        dcd.ok("vm", "create", "vl", "--size", "64M");
        dcd.ok("vm", "assign", "vl", "lazy");
        dcd.ok("disk", "build", "vl");
        try (Context context = context(); MountSource source = open(context, "vl");
             Closeable control = MountControl.start(home, ControlSockets.MOUNT, "vl", source)) {
            byte[] before = readAll(source.disk());
            switchTheCatalogOnlyAsAKilledMoveLeavesIt();
            Path socket = ControlSockets.socket(home, ControlSockets.MOUNT, "vl");
            assertEquals("ok from local", ControlClient.request(socket, "reads " + hex, Duration.ofSeconds(20)).line());

            String kept = dcd.ok("catalog", "gc");
            assertEquals(spareLine("kept") + ": the mount of VM vl reads it from local\nreclaimed 0 B from 0 vdisk(s)\n",
                    kept);
            assertTrue(Files.exists(onLocal()), "the copy a live server reads is kept");
            assertArrayEquals(before, readAll(source.disk()));
            assertEquals("the mount of VM vl reads it from local", JSON.readTree(dcd.ok("--json", "catalog", "gc",
                    "--dry-run")).get("vdisks").get(0).get("readers").get(0).asText());

            // What the killed move would have done next: ask the server to switch. Then nothing reads the copy.
            assertEquals("ok switched", ControlClient.request(socket, "resolve " + hex + " store2",
                    Duration.ofSeconds(20)).line());
            String dry = dcd.ok("catalog", "gc", "--dry-run");
            assertTrue(dry.startsWith(spareLine("would delete") + "; no running server reads it there\n"), dry);
            assertTrue(Files.exists(onLocal()), "a dry run deletes nothing");
            String deleted = dcd.ok("catalog", "gc");
            assertTrue(deleted.startsWith("deleted spare copy of vdisk " + hex.substring(0, 12) + " on local"), deleted);
            assertTrue(deleted.endsWith(" from 1 vdisk(s)\n"), deleted);
            assertFalse(Files.exists(onLocal()), "the spare copy is reclaimed");
            assertTrue(Files.exists(onStore2()));
            assertArrayEquals(before, readAll(source.disk()), "the server reads every byte from store2");
            assertEquals("store2", backendOfApp());
        }
    }

    @Test
    void gcKeepsASpareCopyWhileAServerDoesNotAnswerAndDeletesItWhenTheServerIsGone() throws Exception {
        switchTheCatalogOnlyAsAKilledMoveLeavesIt();
        CountDownLatch release = new CountDownLatch(1);
        ControlServer.Handler silent = new ControlServer.Handler() {
            @Override
            public String status() {
                return "silent";
            }

            @Override
            public boolean resolve(ContentId id, String backend) {
                return false;
            }

            @Override
            public String readsFrom(ContentId id) throws IOException {
                try {
                    release.await(60, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    throw new IOException(e);
                }
                return null;
            }
        };
        try (ControlServer server = ControlServer.start(home, ControlSockets.SERVE, "hung", silent)) {
            long start = System.nanoTime();
            String out = dcd.ok("catalog", "gc", "--server-timeout", "1s");
            assertEquals(spareLine("kept") + ": the NBD server of VM hung did not answer (no answer within 1 s), so it"
                    + " may still read it\nreclaimed 0 B from 0 vdisk(s)\n", out);
            assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(30), "bounded by the timeout, not hung");
            assertTrue(Files.exists(onLocal()));
        } finally {
            release.countDown();
        }
        // A server killed leaves its socket file behind; nothing listens there, so it reads nothing.
        Path stale = ControlSockets.socket(home, ControlSockets.SERVE, "killed");
        try (var channel = java.nio.channels.ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
            channel.bind(java.net.UnixDomainSocketAddress.of(stale));
        }
        assertTrue(Files.exists(stale));
        String expected = spareLine("deleted");
        String out = dcd.ok("catalog", "gc");
        assertTrue(out.startsWith(expected + "; no running server reads it there\n"), out);
        assertFalse(Files.exists(onLocal()));
        assertTrue(Files.exists(onStore2()), "only the spare copy went");
    }

    @Test
    void aSourceKeptByAMoveIsRecordedAndGcLeavesItUntilAskedWithKeptCopies() throws IOException {
        String moved = dcd.ok("catalog", "move", "lazy", "--to", "store2", "--keep-source");
        assertTrue(moved.contains("; source copy kept (--keep-source, recorded as kept: 'dcd catalog gc' leaves it, 'dcd"
                + " catalog gc --kept-copies' deletes it once no running server reads it there)"), moved);
        String size = dev.dcd.catalog.Sizes.format(Files.size(onLocal()));
        assertEquals("kept copy of vdisk " + hex.substring(0, 12) + " on local (lazy@1.0 is on store2), " + size
                + ": kept by 'dcd catalog move --keep-source'; 'dcd catalog gc --kept-copies' deletes it\n"
                + "reclaimed 0 B from 0 vdisk(s)\n", dcd.ok("catalog", "gc"));
        assertTrue(Files.exists(onLocal()), "plain gc leaves a kept copy");

        JsonNode dry = JSON.readTree(dcd.ok("--json", "catalog", "gc", "--dry-run", "--kept-copies"));
        assertTrue(dry.get("dryRun").asBoolean());
        JsonNode item = dry.get("vdisks").get(0);
        assertEquals("delete-spare", item.get("action").asText());
        assertEquals("local", item.get("backend").asText());
        assertEquals("store2", item.get("namedOn").get(0).asText());
        assertEquals("lazy@1.0", item.get("apps").get(0).asText());
        assertEquals(0, item.get("readers").size());
        assertEquals(Files.size(onLocal()), dry.get("reclaimedBytes").asLong());
        assertTrue(Files.exists(onLocal()));
        assertOneLine(dcd.run("catalog", "gc", "--kept-copies", "--server-timeout", "0s"),
                "the server timeout must be positive");
        assertTrue(Files.exists(onLocal()), "a bad option changes nothing");

        String out = dcd.ok("catalog", "gc", "--kept-copies");
        assertTrue(out.startsWith("deleted spare copy of vdisk " + hex.substring(0, 12) + " on local"), out);
        assertFalse(Files.exists(onLocal()));
        assertTrue(Files.exists(onStore2()));
        try (Context context = context()) {
            assertEquals(java.util.List.of(), context.catalog().keptCopies(), "the record goes with the copy");
        }
    }

    // ---------------------------------------------------------------- servers that are hard to find

    @Test
    void aMountUnderAHomeTooDeepForASocketPathStillSwitchesAndItsSourceIsDeletedOnlyAfterIt() throws Exception {
        // 107 bytes is all a Unix socket path may hold: mounts/control/mount-vl.sock under this home is far longer.
        Path deep = temp.resolve("d".repeat(100)).resolve("e".repeat(40));
        setUpAt(deep);
        assertFalse(ControlSockets.fits(ControlSockets.socket(home, ControlSockets.MOUNT, "vl")));
        dcd.ok("vm", "create", "vl", "--size", "64M");
        dcd.ok("vm", "assign", "vl", "lazy");
        dcd.ok("disk", "build", "vl");
        try (Context context = context(); MountSource source = open(context, "vl");
             Closeable control = MountControl.start(home, ControlSockets.MOUNT, "vl", source)) {
            assertNotNull(control, "the server has a control channel at a short path");
            byte[] before = readAll(source.disk());
            String out = dcd.ok("catalog", "move", "lazy", "--to", "store2");
            assertTrue(out.contains("switched: mount of VM vl; source copy deleted"), out);
            assertEquals(Map.of("lazy@1.0", "store2"), stats(source).serving());
            assertArrayEquals(before, readAll(source.disk()));
        }
    }

    @Test
    void aServeRecordWithoutAControlChannelKeepsTheCopyItsVmMayRead() throws Exception {
        dcd.ok("vm", "create", "vs", "--size", "64M");
        dcd.ok("vm", "assign", "vs", "lazy");
        dcd.ok("disk", "build", "vs");
        switchTheCatalogOnlyAsAKilledMoveLeavesIt();
        // What a 'dcd serve' of an older dcd (or one whose socket could not be made) leaves: a record, no socket.
        Path record = Files.createDirectories(home.resolve("serve")).resolve("vs.pid");
        long pid = ProcessHandle.current().pid();
        Files.writeString(record, "vm=vs\nuri=nbd+unix:///vs?socket=/x.sock\npid=" + pid + "\n");
        String kept = dcd.ok("catalog", "gc");
        assertEquals(spareLine("kept") + ": the NBD server of VM vs (pid " + pid + ") has no control channel to say"
                + " from where (started by an older dcd? restart it), so it may still read it\nreclaimed 0 B from 0"
                + " vdisk(s)\n", kept);
        assertTrue(Files.exists(onLocal()));
        Files.delete(record);
        String deleted = spareLine("deleted");
        assertTrue(dcd.ok("catalog", "gc").startsWith(deleted), "the server gone, the copy goes");
    }

    @Test
    void aServerStillStartingKeepsTheSourceOfAMoveAndTheSpareCopyFromGc() throws Exception {
        // A server registers as a reader before it reads the catalog and opens its vdisks, and has no control
        // socket until it is ready: a move or gc meanwhile must count it as reading wherever its VM may read.
        dcd.ok("vm", "create", "vs", "--size", "64M");
        dcd.ok("vm", "assign", "vs", "lazy");
        dcd.ok("disk", "build", "vs");
        long pid = ProcessHandle.current().pid();
        String starting = "the NBD server of VM vs (pid " + pid + ") is starting or has no control channel to say from"
                + " where, so it may still read it";
        try (Closeable reader = ControlSockets.registerReader(home, ControlSockets.SERVE, "vs")) {
            String out = dcd.ok("catalog", "move", "lazy", "--to", "store2");
            assertTrue(out.endsWith("no running server had to switch; source copy kept (" + starting + "; it stays on local as"
                    + " a spare copy, which 'dcd catalog gc' deletes once no running server reads it there)\n"), out);
            assertTrue(Files.exists(onLocal()) && Files.exists(onStore2()));
            assertEquals(spareLine("kept") + ": " + starting + "\nreclaimed 0 B from 0 vdisk(s)\n", dcd.ok("catalog", "gc"));
        }
        String deleted = spareLine("deleted");
        assertTrue(dcd.ok("catalog", "gc").startsWith(deleted), "once it stopped, the copy goes");
        assertFalse(Files.exists(onLocal()));
    }

    @Test
    void aSupervisedMountWhoseServerIsRestartingKeepsTheSourceInsteadOfFailingTheMove() throws Exception {
        // The supervisor's record is live, the server that died left no socket, the next one has registered and is
        // opening its vdisks: that is a server starting, not a mount of an older dcd, so the move stands.
        dcd.ok("vm", "create", "vl", "--size", "64M");
        dcd.ok("vm", "assign", "vl", "lazy");
        dcd.ok("disk", "build", "vl");
        long pid = ProcessHandle.current().pid();
        Path record = Files.createDirectories(home.resolve("mounts")).resolve("vl.pid");
        Files.writeString(record, "vm=vl\nmountpoint=" + temp.resolve("mnt") + "\npid=" + pid + "\ngeneration=1\n"
                + "supervised=true\n");
        CliHarness.Result old = dcd.run("catalog", "move", "lazy", "--to", "store2");
        assertOneLine(old, "reads it but has no control channel (mounted by an older dcd? remount it)");
        assertEquals("local", backendOfApp(), "with no registered server, a record alone still fails the move");
        try (Closeable reader = ControlSockets.registerReader(home, ControlSockets.MOUNT, "vl")) {
            String out = dcd.ok("catalog", "move", "lazy", "--to", "store2");
            assertTrue(out.contains("source copy kept (the mount of VM vl (pid " + pid + ") is starting or has no control"
                    + " channel to say from where, so it may still read it; it stays on local"), out);
            assertEquals("store2", backendOfApp());
            String gc = dcd.ok("catalog", "gc");
            assertEquals(1, gc.lines().filter(l -> l.contains("the mount of VM vl")).count(), "one reason, once: " + gc);
        }
        Files.delete(record);
    }

    @Test
    void aReaderOfAnotherVdiskOrADeadOneKeepsNothing() throws Exception {
        dcd.ok("vm", "create", "other", "--size", "64M");
        dcd.ok("disk", "build", "other");
        switchTheCatalogOnlyAsAKilledMoveLeavesIt();
        // A reader file of a process that ended (kill -9 leaves it) and a live reader whose VM does not map the vdisk.
        Path dead = Files.createDirectories(ControlSockets.dir(home)).resolve("serve-gone.999999999-1" + ControlSockets.READER_SUFFIX);
        Files.write(dead, new byte[0]);
        String deleted = spareLine("deleted");
        try (Closeable reader = ControlSockets.registerReader(home, ControlSockets.MOUNT, "other")) {
            String out = dcd.ok("catalog", "gc");
            assertTrue(out.startsWith(deleted + "; no running server reads it there"), out);
        }
    }

    // ---------------------------------------------------------------- finishing a move stopped after its switch

    @Test
    void runningAMoveStoppedAfterItsSwitchAgainSwitchesTheServersAndDeletesTheSpareCopy() throws Exception {
        dcd.ok("vm", "create", "vl", "--size", "64M");
        dcd.ok("vm", "assign", "vl", "lazy");
        dcd.ok("disk", "build", "vl");
        try (Context context = context(); MountSource source = open(context, "vl");
             Closeable control = MountControl.start(home, ControlSockets.MOUNT, "vl", source)) {
            byte[] before = readAll(source.disk());
            switchTheCatalogOnlyAsAKilledMoveLeavesIt();
            assertEquals(Map.of("lazy@1.0", "local"), stats(source).serving(), "the killed move asked no server");

            String out = dcd.ok("catalog", "move", "lazy@1.0", "--to", "store2");
            assertEquals("finished the move of lazy@1.0 (vdisk " + hex.substring(0, 12) + ", "
                    + dev.dcd.catalog.Sizes.format(Files.size(onStore2())) + ") to store2, where it verified; switched:"
                    + " mount of VM vl; spare copy on local deleted\n", out);
            assertEquals(Map.of("lazy@1.0", "store2"), stats(source).serving());
            assertFalse(Files.exists(onLocal()), "the spare copy is gone once nothing reads it");
            assertArrayEquals(before, readAll(source.disk()), "every byte reads the same from store2");

            assertOneLine(dcd.run("catalog", "move", "lazy", "--to", "store2"),
                    "app lazy@1.0 is on backend 'store2' already");
        }
    }

    @Test
    void finishingAStoppedMoveKeepsTheSpareCopyWhileAServerMayStillReadItAndSaysWhich() throws Exception {
        switchTheCatalogOnlyAsAKilledMoveLeavesIt();
        dcd.ok("vm", "create", "vs", "--size", "64M");
        dcd.ok("vm", "assign", "vs", "lazy");
        dcd.ok("disk", "build", "vs");
        long pid = ProcessHandle.current().pid();
        try (Closeable reader = ControlSockets.registerReader(home, ControlSockets.SERVE, "vs")) {
            JsonNode out = JSON.readTree(dcd.ok("--json", "catalog", "move", "lazy", "--to", "store2"));
            assertTrue(out.get("finished").asBoolean(), out.toString());
            assertFalse(out.get("sourceDeleted").asBoolean(), out.toString());
            assertEquals("the copy on local stays: the NBD server of VM vs (pid " + pid + ") is starting or has no"
                    + " control channel to say from where, so it may still read it; it is a spare copy, which 'dcd"
                    + " catalog gc' deletes once no running server reads it there", out.get("sourceKept").asText());
            assertTrue(Files.exists(onLocal()));
        }
        // The copy on the target is damaged: nothing is switched or deleted.
        try (RandomAccessFile f = new RandomAccessFile(onStore2().toFile(), "rw")) {
            f.seek(f.length() - 10);
            f.write(new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
        }
        CliHarness.Result bad = dcd.run("catalog", "move", "lazy", "--to", "store2");
        assertEquals(1, bad.code(), bad.toString());
        assertTrue(bad.err().startsWith("dcd: cannot finish the move of lazy@1.0 to store2: the copy on store2 does not"
                + " verify ("), bad.toString());
        assertTrue(bad.err().strip().endsWith("nothing changed, the copy on local stays"), bad.toString());
        assertTrue(Files.exists(onLocal()));
    }

    @Test
    void removingAnAppDeletesTheCopiesItsMovesKept() throws IOException {
        dcd.ok("catalog", "move", "lazy", "--to", "store2", "--keep-source");
        String out = dcd.ok("catalog", "rm", "lazy@1.0");
        assertEquals("removed lazy@1.0 and its vdisk " + hex.substring(0, 12) + ", and its kept copy on local\n", out);
        assertFalse(Files.exists(onLocal()) || Files.exists(onStore2()), "no copy of a removed app is left behind");
        try (Context context = context()) {
            assertEquals(java.util.List.of(), context.catalog().keptCopies());
        }
    }

    private static StatsSnapshot stats(MountSource source) throws IOException {
        return StatsSnapshot.fromJson(JSON.readTree(source.statsJson()).get("disk").toString());
    }

    private static long backendReads(MountSource source, String backend) throws IOException {
        return stats(source).backends().stream().filter(g -> g.name().equals(backend))
                .mapToLong(StatsSnapshot.GroupStats::reads).sum();
    }

    /** The fake synthesizer writes no file index; a mount needs one (an empty root is enough here). */
    private MountSource open(Context context, String vm) throws IOException {
        Path gen = home.resolve("vms").resolve(vm).resolve("gen-1");
        Path index = gen.resolve(dev.dcd.synth.FileIndex.FILE_NAME);
        if (!Files.exists(index)) {
            try (dev.dcd.synth.FileIndex.Writer w = new dev.dcd.synth.FileIndex.Writer(index,
                    dev.dcd.synth.RegionMap.load(gen.resolve(dev.dcd.synth.SynthesizedDisk.REGIONS)).size())) {
                w.add(new dev.dcd.synth.FileIndex.Node("", dev.dcd.synth.FileIndex.Kind.DIRECTORY, 0755, 0, 0,
                        0, 0, 0, 2, 1, "", new long[0]));
            }
        }
        return new VmMounts(context).open(vm);
    }

    private Context context() {
        return new Context(Map.of("DCD_HOME", home.toString(), "HOME", home.resolve("user").toString()),
                new PrintWriter(new StringWriter(), true), new PrintWriter(new StringWriter(), true), CliHarness.CLOCK,
                false);
    }

    private static byte[] readAll(BlockDevice disk) throws IOException {
        byte[] all = new byte[(int) disk.size()];
        disk.read(0, ByteBuffer.wrap(all));
        return all;
    }

    private static void assertOneLine(CliHarness.Result r, String expected) {
        assertEquals(1, r.code(), r.toString());
        assertTrue(r.err().contains(expected), r.toString());
        assertEquals(1, r.err().strip().lines().count(), "one line: " + r);
        assertFalse(r.err().contains("Exception"), r.toString());
    }

    private static void deleteTree(Path dir) throws IOException {
        try (var walk = Files.walk(dir)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
