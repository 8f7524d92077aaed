package dev.dcd.tests.nbd;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dcd.tests.vmmount.VmCli;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static dev.dcd.tests.vmmount.VmCli.dcd;
import static dev.dcd.tests.vmmount.VmCli.dcdOk;
import static dev.dcd.tests.vmmount.VmCli.ok;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code dcd serve VM --nbd} through the packaged jar, judged by independent NBD clients: qemu-img
 * (info, compare, convert), qemu-io, nbdinfo and nbdcopy from libnbd. Every byte served must equal
 * {@code dcd disk export} of the same generation; writes must survive a server restart; bad clients must
 * not stop the server; a second writer of the same generation is refused.
 */
class NbdExportIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long SIZE = 256L << 20;

    @TempDir
    static Path shared;
    private static Path home;
    private static Path exported;
    private static Map<String, String> vdisks;

    @TempDir
    Path tmp;
    private final List<String> served = new ArrayList<>();

    @BeforeAll
    static void buildVm() throws Exception {
        home = shared.resolve("home");
        Path app = shared.resolve("app");
        Files.createDirectories(app.resolve("bin"));
        Files.copy(Path.of("/bin/busybox"), app.resolve("bin/busybox"));
        byte[] big = new byte[12 << 20];
        new Random(20).nextBytes(big);
        Files.createDirectories(app.resolve("share/data"));
        Files.write(app.resolve("share/data/big.bin"), big);
        Files.writeString(app.resolve("share/data/readme.txt"), "served over NBD\n");
        dcdOk(home, "catalog", "import", app.toString(), "--name", "tools", "--version", "1.0");
        dcdOk(home, "vm", "create", "web", "--size", "256M");
        dcdOk(home, "vm", "assign", "web", "tools");
        dcdOk(home, "disk", "build", "web");
        exported = shared.resolve("web.raw");
        dcdOk(home, "disk", "export", "web", exported.toString());
        vdisks = VmCli.fileHashes(home.resolve("vdisks"));
    }

    @AfterEach
    void stopServers() {
        for (String vm : served) {
            dcd(home, "serve", "--stop", vm);
        }
    }

    /** Starts a background server and returns its URI, from {@code --json}. */
    private String serve(String vm, String... options) throws Exception {
        List<String> args = new ArrayList<>(List.of("--json", "serve", vm));
        args.addAll(List.of(options));
        args.add("--background");
        JsonNode started = JSON.readTree(dcdOk(home, args.toArray(String[]::new)).out());
        served.add(vm);
        return started.get("uri").asText();
    }

    @Test
    void independentClientsReadExactlyTheExportedDiskAndSkipItsHoles() throws Exception {
        Path socket = tmp.resolve("web.sock");
        String uri = serve("web", "--nbd", "unix:" + socket);
        assertEquals("nbd+unix:///web?socket=" + socket, uri);
        assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(
                Files.getPosixFilePermissions(socket)), "only the owner may connect");

        JsonNode info = JSON.readTree(ok("qemu-img", "info", "--output=json", uri));
        assertEquals(SIZE, info.get("virtual-size").asLong(), info.toString());
        VmCli.Result same = VmCli.run("qemu-img", "compare", "-f", "raw", "-F", "raw", uri, exported.toString());
        assertEquals(0, same.code(), "qemu-img compare: " + same);

        JsonNode nbd = JSON.readTree(ok("nbdinfo", "--json", uri));
        JsonNode export = nbd.get("exports").get(0);
        assertEquals("web", export.get("export-name").asText(), nbd.toString());
        assertEquals(SIZE, export.get("export-size").asLong());
        assertTrue(export.get("contexts").toString().contains("base:allocation"), export.toString());
        assertTrue(export.get("can_multi_conn").asBoolean(), export.toString());
        assertFalse(export.get("is_read_only").asBoolean(), export.toString());

        // Block status: most of the disk is a hole, the app's data is not, and every hole reads as zeros.
        JsonNode map = JSON.readTree(ok("nbdinfo", "--map", "--json", uri));
        long holes = 0;
        long covered = 0;
        try (java.nio.channels.FileChannel raw = java.nio.channels.FileChannel.open(exported)) {
            for (JsonNode e : map) {
                assertEquals(covered, e.get("offset").asLong(), "extents are contiguous");
                covered += e.get("length").asLong();
                if ((e.get("type").asInt() & 1) != 0) {
                    holes += e.get("length").asLong();
                    assertAllZero(raw, e.get("offset").asLong(), e.get("length").asLong());
                }
            }
        }
        assertEquals(SIZE, covered, "the map covers the disk");
        assertTrue(holes > SIZE / 2 && holes < SIZE - (12 << 20), "holes: " + holes + " bytes");

        Path copy = tmp.resolve("copy.raw");
        ok("nbdcopy", uri, copy.toString());
        assertEquals(VmCli.sha256(exported), VmCli.sha256(copy), "nbdcopy (multi-conn, block status)");
        Path qcow = tmp.resolve("copy.qcow2");
        ok("qemu-img", "convert", "-f", "raw", "-O", "qcow2", uri, qcow.toString());
        assertEquals(0, VmCli.run("qemu-img", "compare", "-F", "raw", qcow.toString(), exported.toString()).code());
        long qcowBytes = Long.parseLong(ok("du", "-B1", qcow.toString()).split("\\s")[0]);
        assertTrue(qcowBytes < SIZE / 4, "qemu-img convert skipped the holes: " + qcowBytes + " bytes");

        // A client asking for an unknown export gets the protocol's error; the server keeps serving.
        VmCli.Result unknown = VmCli.run("nbdinfo", "nbd+unix:///nope?socket=" + socket);
        assertNotEquals(0, unknown.code(), unknown.toString());
        assertEquals(SIZE, Long.parseLong(ok("nbdinfo", "--size", uri).strip()));
        String log = Files.readString(home.resolve("log/serve-web.log"));
        assertTrue(log.contains("unknown export 'nope'"), log);
        assertEquals(VmCli.sha256(exported), VmCli.sha256(copy));

        dcdOk(home, "serve", "--stop", "web");
        served.remove("web");
        assertFalse(Files.exists(socket), "the socket is removed");
        assertEquals(vdisks, VmCli.fileHashes(home.resolve("vdisks")), "app vdisks are never written");
    }

    @Test
    void blockStatusFollowsTheRegionMapAndTheThinImagesHolesAndHolesReadAsZeros() throws Exception {
        Path logFile = home.resolve("log/serve-web.log");
        long logBefore = Files.exists(logFile) ? Files.size(logFile) : 0;
        String uri = serve("web", "--nbd", "unix:" + tmp.resolve("bs.sock"), "--read-only");
        dev.dcd.synth.RegionMap regions = dev.dcd.synth.RegionMap.load(home.resolve("vms/web/gen-1/regions.bin"));
        JsonNode map = JSON.readTree(ok("nbdinfo", "--map", "--json", uri));
        List<long[]> holes = new ArrayList<>();
        List<long[]> data = new ArrayList<>();
        long covered = 0;
        for (JsonNode e : map) {
            long offset = e.get("offset").asLong();
            long length = e.get("length").asLong();
            assertEquals(covered, offset, "extents are contiguous");
            covered += length;
            int type = e.get("type").asInt();
            assertTrue(type == 0 || type == 3, "a read-only export without writes has data (0) and holes (3): " + e);
            (type == 3 ? holes : data).add(new long[] {offset, offset + length});
        }
        assertEquals(SIZE, covered, "the map covers the disk");
        long metadataHoles = 0;
        long metadataZeros = 0;
        try (java.nio.channels.FileChannel raw = java.nio.channels.FileChannel.open(exported)) {
            for (dev.dcd.synth.RegionMap.Region r : regions.regions()) {
                switch (r.kind()) {
                    // Exact where the region map knows: a zero region is all hole, app data is all data.
                    case ZERO -> assertEquals(r.length(), overlap(holes, r.start(), r.end()), "zero region " + r);
                    case APP_DATA -> assertEquals(r.length(), overlap(data, r.start(), r.end()), "app data " + r);
                    case METADATA -> {
                        metadataHoles += overlap(holes, r.start(), r.end());
                        metadataZeros += zeroBlocks(raw, r.start(), r.end());
                    }
                }
            }
            for (long[] h : holes) {
                assertAllZero(raw, h[0], h[1] - h[0]); // never a hole that is not zero
            }
        }
        // Inside metadata the unwritten parts of the sparse thin image (inode tables above all) are holes too:
        // most of the metadata's zero blocks, not just the region map's zero regions.
        assertTrue(metadataHoles > 0 && metadataHoles >= metadataZeros / 2,
                "metadata holes " + metadataHoles + " of " + metadataZeros + " zero bytes in metadata");

        // Reads that cover holes (structured replies with OFFSET_HOLE chunks) give exactly the disk's bytes:
        // every byte with nbdcopy --no-extents, and holes in metadata and zero regions read as zeros by qemu-io.
        Path copy = tmp.resolve("all.raw");
        ok("nbdcopy", "--no-extents", uri, copy.toString());
        assertEquals(VmCli.sha256(exported), VmCli.sha256(copy), "nbdcopy --no-extents");
        long[] hole = holes.stream().filter(h -> h[1] - h[0] >= (1 << 20)).findFirst().orElseThrow();
        ok("qemu-io", "-f", "raw", "-r", "-c", "read -P 0 " + hole[0] + " " + (1 << 20), uri);
        VmCli.Result same = VmCli.run("qemu-img", "compare", "-f", "raw", "-F", "raw", uri, exported.toString());
        assertEquals(0, same.code(), "qemu-img compare: " + same);
        String log = Files.readString(logFile).substring((int) logBefore);
        assertFalse(log.contains("nbd: connection"), "no client errors: " + log);
    }

    /** Bytes of [start, end) inside the sorted, disjoint ranges. */
    private static long overlap(List<long[]> ranges, long start, long end) {
        long n = 0;
        for (long[] r : ranges) {
            n += Math.max(0, Math.min(end, r[1]) - Math.max(start, r[0]));
        }
        return n;
    }

    /** Bytes in all-zero 4 KiB blocks of [start, end) of the raw image. */
    private static long zeroBlocks(java.nio.channels.FileChannel raw, long start, long end) throws java.io.IOException {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(4096);
        long zeros = 0;
        for (long pos = start; pos < end; pos += 4096) {
            b.clear().limit((int) Math.min(4096, end - pos));
            raw.read(b, pos);
            b.flip();
            boolean zero = true;
            while (b.hasRemaining() && zero) {
                zero = b.get() == 0;
            }
            zeros += zero ? b.limit() : 0;
        }
        return zeros;
    }

    private static void assertAllZero(java.nio.channels.FileChannel raw, long offset, long length) throws java.io.IOException {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(1 << 20);
        long pos = offset;
        while (pos < offset + length) {
            b.clear().limit((int) Math.min(b.capacity(), offset + length - pos));
            int n = raw.read(b, pos);
            for (int i = 0; i < n; i++) {
                if (b.get(i) != 0) {
                    throw new AssertionError("byte " + (pos + i) + " is reported as a hole but is not zero");
                }
            }
            pos += n;
        }
    }

    /** A VM of its own for a test that writes, so that the others still compare against the export. */
    private Path ownVm(String vm) {
        dcdOk(home, "vm", "create", vm, "--size", "256M");
        dcdOk(home, "vm", "assign", vm, "tools");
        dcdOk(home, "disk", "build", vm);
        Path raw = tmp.resolve(vm + ".raw");
        dcdOk(home, "disk", "export", vm, raw.toString());
        return raw;
    }

    @Test
    void writesOverNbdGoToTheOverlayAndSurviveARestart() throws Exception {
        Path before = ownVm("rw");
        String uri = serve("rw", "--nbd", "tcp://127.0.0.1:0");
        assertEquals(0, VmCli.run("qemu-img", "compare", "-f", "raw", "-F", "raw", uri, before.toString()).code());
        assertTrue(uri.matches("nbd://127\\.0\\.0\\.1:\\d+/rw"), uri);
        // Past the filesystem's data, in what was a hole: a pattern, zeroes over part of it, a trim.
        ok("qemu-io", "-f", "raw", "-c", "write -P 0xab 200M 1M", "-c", "write -z 200M 4k", "-c", "flush", uri);
        VmCli.Result differs = VmCli.run("qemu-img", "compare", "-f", "raw", "-F", "raw", uri, before.toString());
        assertEquals(1, differs.code(), "the write is visible: " + differs);
        dcdOk(home, "serve", "--stop", "rw");
        served.remove("rw");

        uri = serve("rw", "--nbd", "tcp://127.0.0.1:0");
        ok("qemu-io", "-f", "raw", "-c", "read -P 0 200M 4k", "-c", "read -P 0xab 204804k 1020k", uri);
        // Read-only exports refuse writes with EPERM and change nothing.
        dcdOk(home, "serve", "--stop", "rw");
        uri = serve("rw", "--nbd", "tcp://127.0.0.1:0", "--read-only");
        VmCli.Result refused = VmCli.run("qemu-io", "-f", "raw", "-c", "write -P 0xcd 200M 4k", uri);
        assertTrue(refused.out().contains("Operation not permitted") || refused.err().contains("read-only")
                || refused.err().contains("Operation not permitted") || refused.code() != 0, refused.toString());
        ok("qemu-io", "-f", "raw", "-r", "-c", "read -P 0 200M 4k", uri);
        assertEquals(vdisks, VmCli.fileHashes(home.resolve("vdisks")), "app vdisks are never written");
    }

    @Test
    void aMountWithNbdServesBothFromOneChain() throws Exception {
        ownVm("both");
        Path mnt = Files.createDirectories(tmp.resolve("mnt"));
        Path socket = tmp.resolve("m.sock");
        VmCli.Result mounted = dcdOk(home, "mount", "both", mnt.toString(), "--nbd", "unix:" + socket);
        try {
            String uri = "nbd+unix:///both?socket=" + socket;
            VmCli.Result same = VmCli.run("qemu-img", "compare", "-f", "raw", "-F", "raw", uri, mnt.resolve("disk.img").toString());
            assertEquals(0, same.code(), "the export and disk.img are one disk: " + same + mounted);
            // Written over NBD, read through FUSE from the same overlay, at once.
            ok("qemu-io", "-f", "raw", "-c", "write -P 0x5a 220M 64k", uri);
            byte[] block = new byte[64 << 10];
            try (java.nio.channels.FileChannel img = java.nio.channels.FileChannel.open(mnt.resolve("disk.img"))) {
                img.read(java.nio.ByteBuffer.wrap(block), 220L << 20);
            }
            for (byte b : block) {
                assertEquals(0x5a, b);
            }
        } finally {
            dcd(home, "umount", mnt.toString());
        }
        assertFalse(Files.exists(socket), "unmounting ends the export");
    }

    @Test
    void aSecondWriterOfTheSameGenerationIsRefusedWithOneLine() throws Exception {
        serve("web", "--nbd", "unix:" + tmp.resolve("a.sock"));
        VmCli.Result again = dcd(home, "serve", "web", "--nbd", "unix:" + tmp.resolve("b.sock"), "--background");
        assertEquals(1, again.code(), again.toString());
        assertEquals(1, again.err().strip().lines().count(), again.toString());
        assertTrue(again.err().contains("already served"), again.toString());
        Path mnt = Files.createDirectories(tmp.resolve("mnt"));
        VmCli.Result mount = dcd(home, "mount", "web", mnt.toString());
        assertEquals(1, mount.code(), mount.toString());
        assertEquals(1, mount.err().strip().lines().count(), mount.toString());
        assertTrue(mount.err().contains("already being served"), mount.toString());
        assertFalse(Files.exists(mnt.resolve("disk.img")));

        VmCli.Result discard = dcd(home, "disk", "discard", "web", "1", "--force");
        assertEquals(1, discard.code(), discard.toString());
        assertTrue(discard.err().contains("already being served"), discard.toString());
        assertTrue(Files.isDirectory(home.resolve("vms/web/gen-1")), "the served generation is still there");

        VmCli.Result badAddress = dcd(home, "serve", "web", "--nbd", "http://x");
        assertEquals(2, badAddress.code(), badAddress.toString());
        assertEquals("dcd: --nbd http://x: unknown address (use unix:PATH or tcp://127.0.0.1:PORT)", badAddress.err().strip());
        VmCli.Result noVm = dcd(home, "serve", "nosuch", "--nbd", "unix:" + tmp.resolve("c.sock"));
        assertEquals(1, noVm.code(), noVm.toString());
        assertEquals(1, noVm.err().strip().lines().count(), noVm.toString());
        assertFalse(noVm.err().contains("Exception"), noVm.toString());
        VmCli.Result notServed = dcd(home, "serve", "--stop", "nosuch");
        assertEquals("dcd: VM nosuch is not being served", notServed.err().strip());
    }
}
