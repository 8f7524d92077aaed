package dev.dcd.tests.lun;

import dev.dcd.tests.vmmount.VmCli;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static dev.dcd.tests.vmmount.VmCli.dcd;
import static dev.dcd.tests.vmmount.VmCli.dcdOk;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Bad input through the real command line (one line, exit 1, nothing changed), the Unix-socket URI, and qemu-nbd
 * as a second server independent of nbdkit: what dcd wrote through one reads back through the other.
 */
@Timeout(300)
class LunCliIT {
    @TempDir
    Path dir;

    private static void assertOneLine(VmCli.Result r, String start) {
        assertEquals(1, r.code(), r.toString());
        assertEquals("", r.out(), r.toString());
        assertEquals(1, r.err().lines().count(), "one line: " + r);
        assertTrue(r.err().startsWith(start), r.toString());
        assertFalse(r.err().contains("Exception") || r.err().contains("null"), r.toString());
    }

    private Path file(String name, long size) throws Exception {
        Path f = dir.resolve(name);
        try (RandomAccessFile r = new RandomAccessFile(f.toFile(), "rw")) {
            r.setLength(size);
        }
        return f;
    }

    @Test
    void aForeignLunIsRefusedUntouchedAndFormatErasesIt() throws Exception {
        Path lun = file("ext4.img", 32L << 20);
        VmCli.ok("mkfs.ext4", "-q", "-F", lun.toString());
        String before = VmCli.sha256(lun);
        Path home = dir.resolve("home");
        try (NbdServer server = NbdServer.nbdkit(dir, List.of(), "file", lun.toString())) {
            String uri = server.uri().toString();
            assertOneLine(dcd(home, "backend", "add", "lun0", uri), "dcd: backend 'lun0': LUN 127.0.0.1:" + server.port()
                    + " (default export): the LUN carries an ext2/3/4 filesystem, not a dcd layout; dcd formats only "
                    + "all-zero LUNs unless told to erase one (backend add NAME URI --format)");
            assertEquals(before, VmCli.sha256(lun), "nothing was written");
            assertFalse(dcdOk(home, "backend", "list").out().contains("lun0"));
            String added = dcdOk(home, "backend", "add", "lun0", uri, "--format").out();
            assertTrue(added.startsWith("added backend lun0 " + uri + " (29.0 MiB, 29.0 MiB free)"), added);
            assertTrue(VmCli.run("blkid", "-p", lun.toString()).out().isBlank(), "no filesystem signature is left");
        }
    }

    @Test
    void aLunTooSmallABadUriAnUnreachableServerAndACorruptTableEachGetOneLine() throws Exception {
        Path home = dir.resolve("home");
        try (NbdServer tiny = NbdServer.nbdkit(dir, List.of(), "memory", "2M")) {
            assertOneLine(dcd(home, "backend", "add", "tiny", tiny.uri().toString()), "dcd: backend 'tiny': LUN 127.0.0.1:"
                    + tiny.port() + " (default export): the LUN has 2097152 bytes; dcd needs at least 4 MiB");
        }
        assertOneLine(dcd(home, "backend", "add", "x", "nbd:///lun0"), "dcd: NBD URI 'nbd:///lun0' has no host");
        assertOneLine(dcd(home, "backend", "add", "x", "nbd+unix:///lun0"), "dcd: NBD URI 'nbd+unix:///lun0' needs ?socket=");
        assertOneLine(dcd(home, "backend", "add", "x", "nbd://127.0.0.1:1/?speed=fast"), "dcd: unknown NBD URI parameter 'speed'");
        int closedPort;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            closedPort = s.getLocalPort();
        }
        long start = System.nanoTime();
        assertOneLine(dcd(home, "backend", "add", "gone", "nbd://127.0.0.1:" + closedPort + "/?deadline-ms=1000"),
                "dcd: backend 'gone': cannot add nbd://127.0.0.1:" + closedPort + "/?deadline-ms=1000: connection refused by "
                        + "127.0.0.1:" + closedPort + "; start the server or check the port (nothing was added)");
        assertTrue(System.nanoTime() - start < 30_000_000_000L, "bounded by the deadline");

        Path lun = file("lun.img", 16L << 20);
        try (NbdServer server = NbdServer.nbdkit(dir, List.of(), "file", lun.toString())) {
            dcdOk(home, "backend", "add", "lun0", server.uri().toString());
            Path app = Files.createDirectories(dir.resolve("app-1.0/srv/app"));
            Files.writeString(app.resolve("a.txt"), "hello\n");
            dcdOk(home, "catalog", "import", app.getParent().getParent().toString(), "--backend", "lun0");
            LunImage image = LunImage.read(lun);
            long tableOffset = image.generation() % 2 == 0 ? 1L << 20 : 2L << 20;
            try (RandomAccessFile f = new RandomAccessFile(lun.toFile(), "rw")) {
                f.seek(tableOffset + 32 + 40);
                f.write(0x7f);
            }
            String before = VmCli.sha256(lun);
            VmCli.Result check = dcd(home, "backend", "check", "lun0");
            assertTrue(check.out().startsWith("lun0: FAILED, "), check.toString());
            assertOneLine(new VmCli.Result(check.code(), "", check.err()), "dcd: backend 'lun0' failed its check: LUN "
                    + "127.0.0.1:" + server.port() + " (default export): the LUN's extent table is corrupt (extent table of "
                    + "generation " + image.generation() + " fails its CRC32C); nothing was changed");
            Path other = Files.createDirectories(dir.resolve("other-1.0/srv/other"));
            Files.writeString(other.resolve("b.txt"), "world\n");
            assertOneLine(dcd(home, "catalog", "import", other.getParent().getParent().toString(), "--backend", "lun0"),
                    "dcd: backend 'lun0': LUN 127.0.0.1:" + server.port() + " (default export): the LUN's extent table is corrupt");
            assertEquals(before, VmCli.sha256(lun), "nothing was overwritten");
        }
    }

    @Test
    void aLunWrittenThroughNbdkitOnAUnixSocketReadsBackThroughQemuNbd() throws Exception {
        Path lun = file("shared.img", 64L << 20);
        Path socket = dir.resolve("nbd.sock");
        Path home = dir.resolve("home");
        Path app = Files.createDirectories(dir.resolve("tools-2.0/opt/tools"));
        byte[] data = new byte[5 << 20];
        new java.util.Random(8).nextBytes(data);
        Files.write(app.resolve("blob.bin"), data);
        Files.writeString(app.resolve("notes.txt"), "over a unix socket\n");
        Process nbdkit = new ProcessBuilder("nbdkit", "--exit-with-parent", "-U", socket.toString(), "-P",
                dir.resolve("unix.pid").toString(), "file", lun.toString())
                .redirectErrorStream(true).redirectOutput(dir.resolve("unix.log").toFile()).start();
        try {
            long deadline = System.nanoTime() + 30_000_000_000L;
            while (!Files.exists(dir.resolve("unix.pid")) || Files.size(dir.resolve("unix.pid")) == 0) {
                assertTrue(nbdkit.isAlive() && System.nanoTime() < deadline, "nbdkit -U started");
                nbdkit.waitFor(20, java.util.concurrent.TimeUnit.MILLISECONDS);
            }
            dcdOk(home, "backend", "add", "unix0", "nbd+unix:///?socket=" + socket);
            dcdOk(home, "catalog", "import", app.getParent().getParent().toString(), "--backend", "unix0");
            assertTrue(dcdOk(home, "backend", "check", "unix0").out().startsWith("unix0: ok, "));
        } finally {
            nbdkit.destroyForcibly();
            nbdkit.waitFor(30, java.util.concurrent.TimeUnit.SECONDS);
        }
        // The same LUN file, now served by qemu-nbd under an export name: dcd finds and verifies the vdisk.
        try (NbdServer qemu = NbdServer.qemuNbd(dir, lun, "lun7")) {
            Path home2 = dir.resolve("home2");
            dcdOk(home2, "backend", "add", "q", qemu.uri().toString());
            dcdOk(home2, "catalog", "rescan", "--backend", "q");
            String show = dcdOk(home2, "catalog", "show", "tools").out();
            assertTrue(show.contains("opt/tools/blob.bin"), show);
            dcdOk(home2, "vm", "create", "v", "--size", "64M");
            dcdOk(home2, "vm", "assign", "v", "tools");
            dcdOk(home2, "disk", "build", "v");
            Path out = dir.resolve("exported.img");
            dcdOk(home2, "disk", "export", "v", out.toString());
            VmCli.Result fsck = VmCli.run("e2fsck", "-fn", out + "?offset=" + VmCli.PARTITION_OFFSET);
            assertEquals(0, fsck.code(), fsck.toString());
            Path dumped = dir.resolve("blob.out");
            VmCli.ok("debugfs", "-R", "dump /opt/tools/blob.bin " + dumped, out + "?offset=" + VmCli.PARTITION_OFFSET);
            assertEquals(VmCli.sha256(app.resolve("blob.bin")), VmCli.sha256(dumped), "the file in the exported disk");
            // Writes through qemu-nbd (which offers no multi-conn: every pooled connection is flushed).
            Path more = Files.createDirectories(dir.resolve("more-1.0/srv/more"));
            Files.write(more.resolve("m.bin"), java.util.Arrays.copyOf(data, 3 << 20));
            dcdOk(home2, "catalog", "import", more.getParent().getParent().toString(), "--backend", "q");
            assertEquals(2, LunImage.read(lun).extents().size());
            assertTrue(dcdOk(home2, "backend", "check", "q").out().contains("2 vdisk(s)"));
            assertOneLine(dcd(home2, "backend", "add", "wrong", "nbd://127.0.0.1:" + qemu.port() + "/nosuch"),
                    "dcd: backend 'wrong': cannot add nbd://127.0.0.1:" + qemu.port() + "/nosuch: 127.0.0.1:" + qemu.port()
                            + " export 'nosuch' refused the export: ERR_UNKNOWN");
        }
    }
}
