package dev.dcd.shell;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Disk commands against the fake synthesizer registered for these tests. */
class DiskCommandsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path temp;
    CliHarness dcd;
    Path home;
    byte[] blob;

    @BeforeEach
    void setUp() throws IOException {
        home = temp.resolve("home");
        dcd = new CliHarness(home);
        Path a = Files.createDirectories(temp.resolve("alpha-1/bin"));
        Files.writeString(a.resolve("a"), "alpha\n");
        blob = new byte[123_457];
        new Random(9).nextBytes(blob);
        Files.write(a.resolve("blob"), blob);
        Path b = Files.createDirectories(temp.resolve("beta-2/share"));
        Files.writeString(b.resolve("b"), "beta\n");
        dcd.ok("catalog", "import", a.getParent().toString());
        dcd.ok("catalog", "import", b.getParent().toString());
        dcd.ok("vm", "create", "web", "--size", "64M");
        dcd.ok("vm", "assign", "web", "alpha", "beta");
    }

    @Test
    void buildCreatesGenerationOneAndTheCatalogRecordsIt() throws IOException {
        String out = dcd.ok("disk", "build", "web");
        assertTrue(out.matches("built web generation 1: virtual size 64\\.0 MiB, allocated [0-9.]+ (B|KiB), 3 files, "
                + "132\\.0 KiB mapped from apps\n"), out);
        assertTrue(Files.isRegularFile(home.resolve("vms/web/gen-1/meta.img")));
        assertTrue(Files.isRegularFile(home.resolve("vms/web/gen-1/regions.bin")));
        assertFalse(Files.exists(home.resolve("vms/web/gen-1.tmp")));
        JsonNode vm = JSON.readTree(dcd.ok("vm", "show", "web", "--json"));
        assertEquals(1, vm.get("currentGeneration").asInt());
        assertEquals(3, vm.get("generations").get(0).get("fileCount").asInt());
    }

    @Test
    void olderGenerationsStayUntilDiscardedAndTheCurrentOneNeedsForce() {
        dcd.ok("disk", "build", "web");
        dcd.ok("disk", "build", "web");
        String list = dcd.ok("disk", "generations", "web");
        assertTrue(list.startsWith("GEN  CURRENT  BUILT"), list);
        assertTrue(list.contains("\n  1           2026-05-06 07:08:09Z"), list);
        assertTrue(list.contains("\n  2  *        2026-05-06 07:08:09Z"), list);
        CliHarness.Result refused = dcd.run("disk", "discard", "web", "2");
        assertEquals(1, refused.code());
        assertEquals("dcd: generation 2 is the current disk of VM 'web'; pass --force to discard it anyway\n", refused.err());
        assertEquals("discarded generation 1 of web\n", dcd.ok("disk", "discard", "web", "1"));
        assertFalse(Files.exists(home.resolve("vms/web/gen-1")));
        assertTrue(Files.exists(home.resolve("vms/web/gen-2")));
        dcd.ok("disk", "discard", "web", "2", "--force");
        assertFalse(Files.exists(home.resolve("vms/web/gen-2")));
        CliHarness.Result none = dcd.run("disk", "stat", "web");
        assertEquals("dcd: VM 'web' has no disk yet; run 'dcd disk build web'\n", none.err());
        assertEquals("dcd: VM 'web' has no generation 7 (see 'dcd disk generations web')\n",
                dcd.run("disk", "discard", "web", "7").err());
    }

    @Test
    void statCountsRegionsAndMappedBytes() throws IOException {
        dcd.ok("disk", "build", "web");
        JsonNode stat = JSON.readTree(dcd.ok("disk", "stat", "web", "--json"));
        assertEquals(64L << 20, stat.get("virtualSize").asLong());
        // Files are mapped in whole 4 KiB blocks: 6 bytes, 123457 bytes and 5 bytes.
        long expected = 4096 + (123_457 + 4095) / 4096 * 4096 + 4096;
        assertEquals(expected, stat.get("appBytesMapped").asLong());
        assertEquals(expected, stat.get("regions").get("app_data").get("bytes").asLong());
        assertEquals(2, stat.get("vdisks").asInt());
        assertTrue(stat.get("regions").get("metadata").get("count").asInt() >= 2, stat.toString());
        assertTrue(stat.get("allocatedBytes").asLong() > 0);
        assertTrue(stat.get("allocatedBytes").asLong() < 1 << 20, "the thin image is sparse: " + stat);
        String text = dcd.ok("disk", "stat", "web");
        assertTrue(text.contains("app bytes mapped " + expected), text);
        // alpha's two files are contiguous on the disk and in its vdisk, so they form one region.
        assertTrue(text.contains("app_data      2    " + expected), text);
    }

    @Test
    void conflictingAppsFailTheBuildWithOneLineAndLeaveNothingBehind() throws IOException {
        Path clash = Files.createDirectories(temp.resolve("clash-1/bin"));
        Files.writeString(clash.resolve("a"), "other\n");
        dcd.ok("catalog", "import", clash.getParent().toString());
        dcd.ok("vm", "assign", "web", "clash");
        String before = dcd.ok("vm", "show", "web", "--json");
        CliHarness.Result r = dcd.run("disk", "build", "web");
        assertEquals(1, r.code(), r.toString());
        assertTrue(r.err().startsWith("dcd: ") && r.err().contains("bin/a") && r.err().indexOf('\n') == r.err().length() - 1,
                r.toString());
        assertEquals(before, dcd.ok("vm", "show", "web", "--json"));
        assertFalse(Files.exists(home.resolve("vms/web")), "not even the VM directory is left");
        dcd.ok("vm", "assign", "web", "clash", "--priority", "5");
        dcd.ok("disk", "build", "web");
    }

    @Test
    void exportWritesARawImageWithEveryFilesBytesInPlace() throws Exception {
        dcd.ok("disk", "build", "web");
        Path raw = temp.resolve("web.raw");
        assertTrue(dcd.ok("disk", "export", "web", raw.toString()).startsWith("exported web generation 1 to " + raw));
        assertEquals(64L << 20, Files.size(raw));
        long allocated = dev.dcd.synth.SynthesizedDisk.allocatedBytes(raw);
        assertTrue(allocated < 4L << 20, "sparse export, allocated " + allocated);
        // The fake synthesizer puts an index "offset size path" at the partition start.
        try (RandomAccessFile f = new RandomAccessFile(raw.toFile(), "r")) {
            byte[] index = new byte[4096];
            f.seek(1 << 20);
            f.readFully(index);
            String text = new String(index, StandardCharsets.UTF_8).replace("\0", "");
            int checked = 0;
            for (String line : text.split("\n")) {
                String[] parts = line.split(" ", 3);
                byte[] data = new byte[Integer.parseInt(parts[1])];
                f.seek(Long.parseLong(parts[0]));
                f.readFully(data);
                byte[] expected = switch (parts[2]) {
                    case "bin/a" -> "alpha\n".getBytes(StandardCharsets.UTF_8);
                    case "bin/blob" -> blob;
                    case "share/b" -> "beta\n".getBytes(StandardCharsets.UTF_8);
                    default -> throw new AssertionError(parts[2]);
                };
                assertEquals(dev.dcd.testing.Hashes.sha256(expected), dev.dcd.testing.Hashes.sha256(data), parts[2]);
                checked++;
            }
            assertEquals(3, checked);
        }
        // The GPT is real: the protective MBR signature and the "EFI PART" header.
        try (RandomAccessFile f = new RandomAccessFile(raw.toFile(), "r")) {
            f.seek(510);
            assertEquals(0x55, f.read());
            assertEquals(0xAA, f.read());
            byte[] sig = new byte[8];
            f.seek(512);
            f.readFully(sig);
            assertEquals("EFI PART", new String(sig, StandardCharsets.US_ASCII));
        }
    }

    @Test
    void exportAsVmdkIsAcceptedByQemuImgAndEqualsTheRawExport() throws Exception {
        dcd.ok("disk", "build", "web");
        Path raw = temp.resolve("web.raw");
        Path vmdk = temp.resolve("web.vmdk");
        dcd.ok("disk", "export", "web", raw.toString());
        String out = dcd.ok("disk", "export", "web", vmdk.toString(), "--format", "vmdk");
        assertTrue(out.contains("(extent web-flat.vmdk, 64.0 MiB)"), out);
        String descriptor = Files.readString(vmdk);
        assertTrue(descriptor.contains("createType=\"monolithicFlat\""), descriptor);
        assertTrue(descriptor.contains("RW 131072 FLAT \"web-flat.vmdk\" 0\n"), descriptor);
        assertTrue(descriptor.contains("parentCID=ffffffff\n"), descriptor);
        assertEquals(64L << 20, Files.size(temp.resolve("web-flat.vmdk")));
        JsonNode info = JSON.readTree(exec(temp, "qemu-img", "info", "--output=json", vmdk.toString()));
        assertEquals("vmdk", info.get("format").asText());
        assertEquals(64L << 20, info.get("virtual-size").asLong());
        String compare = exec(temp, "qemu-img", "compare", "-f", "vmdk", "-F", "raw", vmdk.toString(), raw.toString());
        assertTrue(compare.contains("Images are identical"), compare);
        // Exporting again gives the same descriptor: the CID is derived, not random.
        dcd.ok("disk", "export", "web", vmdk.toString(), "--format", "vmdk");
        assertEquals(descriptor, Files.readString(vmdk));
    }

    @Test
    void exportRefusesAMissingDirectoryAndAnUnknownFormat() {
        dcd.ok("disk", "build", "web");
        assertEquals("dcd: directory " + temp.resolve("nope") + " does not exist\n",
                dcd.run("disk", "export", "web", temp.resolve("nope/x.raw").toString()).err());
        assertEquals("dcd: unknown export format 'qcow2' (expected raw or vmdk)\n",
                dcd.run("disk", "export", "web", temp.resolve("x").toString(), "--format", "qcow2").err());
    }

    @Test
    void aFat32VmBuildsWithItsOwnSynthesizer() {
        dcd.ok("vm", "create", "usb", "--fs", "fat32", "--size", "64M");
        dcd.ok("vm", "assign", "usb", "beta");
        assertTrue(dcd.ok("disk", "build", "usb").startsWith("built usb generation 1: "));
    }

    static String exec(Path dir, String... command) {
        return dev.dcd.testing.ProcessRunner.command(command).directory(dir).mergeErr().run().requireOk().out();
    }

    static String hex(byte[] b) {
        return HexFormat.of().formatHex(b);
    }
}
