package dev.dcd.shell;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dcd.block.BlockDevice;
import dev.dcd.catalog.Catalog;
import dev.dcd.mount.MountSource;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.RandomAccessFile;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 13, "loses data" items 1 to 3, against the fake synthesizer: a vdisk that a kept generation or a live
 * mount reads is never deleted; an export is the disk as the guest sees it; rebuilds, mounts and discards say
 * what happens to the guest's writes, and a discard that would lose them needs --force.
 */
class DataSafetyTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** A guest write lands here: inside the fake synthesizer's partition, in its index area. */
    private static final long GUEST_OFFSET = (1L << 20) + (512L << 10);

    @TempDir
    Path temp;
    CliHarness dcd;
    Path home;
    String lazyVdisk;

    @BeforeEach
    void setUp() throws IOException {
        home = temp.resolve("home");
        dcd = new CliHarness(home);
        Path lazy = Files.createDirectories(temp.resolve("lazy-1.0/opt/lazy"));
        byte[] data = new byte[50_000];
        new Random(13).nextBytes(data);
        Files.write(lazy.resolve("data.bin"), data);
        Path other = Files.createDirectories(temp.resolve("other-2/opt/other"));
        Files.writeString(other.resolve("readme"), "other\n");
        dcd.ok("catalog", "import", temp.resolve("lazy-1.0").toString());
        dcd.ok("catalog", "import", temp.resolve("other-2").toString());
        lazyVdisk = JSON.readTree(dcd.ok("--json", "catalog", "list")).get(0).get("contentId").asText();
        dcd.ok("vm", "create", "vl", "--size", "64M");
        dcd.ok("vm", "assign", "vl", "lazy", "other");
    }

    private Path vdiskFile(String hex) {
        return home.resolve("vdisks").resolve(hex + ".vdisk");
    }

    private Set<String> vdiskFiles() throws IOException {
        try (Stream<Path> s = Files.list(home.resolve("vdisks"))) {
            return s.map(p -> p.getFileName().toString()).collect(Collectors.toCollection(TreeSet::new));
        }
    }

    private Map<String, String> catalogDump() throws IOException {
        try (Catalog c = Catalog.open(home.resolve("catalog"), home.resolve("vdisks"), CliHarness.CLOCK)) {
            return c.dump();
        }
    }

    /** A mount record as `dcd mount` writes it, naming this (live) JVM as the serving process. */
    private void liveMountRecord(String vm, Path mountpoint, Integer generation) throws IOException {
        Path dir = Files.createDirectories(home.resolve("mounts"));
        Files.writeString(dir.resolve(vm + ".pid"), "vm=" + vm + "\nmountpoint=" + mountpoint + "\npid="
                + ProcessHandle.current().pid() + "\n" + (generation == null ? "" : "generation=" + generation + "\n"));
    }

    /**
     * The fake synthesizer writes no file index, which a mount source loads; an index holding only the root
     * directory stands in (these tests go through disk.img, not files/).
     */
    private void withFileIndex(String vm) throws IOException {
        try (Stream<Path> gens = Files.list(home.resolve("vms").resolve(vm))) {
            for (Path gen : (Iterable<Path>) gens::iterator) {
                Path index = gen.resolve(dev.dcd.synth.FileIndex.FILE_NAME);
                if (!Files.exists(index)) {
                    try (dev.dcd.synth.FileIndex.Writer w = new dev.dcd.synth.FileIndex.Writer(index,
                            dev.dcd.synth.RegionMap.load(gen.resolve(dev.dcd.synth.SynthesizedDisk.REGIONS)).size())) {
                        w.add(new dev.dcd.synth.FileIndex.Node("", dev.dcd.synth.FileIndex.Kind.DIRECTORY, 0755, 0, 0,
                                0, 0, 0, 2, 1, "", new long[0]));
                    }
                }
            }
        }
    }

    private MountSource open(Context context, String vm) throws IOException {
        withFileIndex(vm);
        return new VmMounts(context).open(vm);
    }

    private Context context(StringWriter err) {
        return new Context(Map.of("DCD_HOME", home.toString(), "HOME", home.resolve("user").toString()),
                new PrintWriter(new StringWriter(), true), new PrintWriter(err, true), CliHarness.CLOCK, false);
    }

    /** Writes through the same filter chain a mount serves, flushes, and closes: what a guest leaves behind. */
    private byte[] guestWrites(String vm, int length) throws IOException {
        byte[] bytes = new byte[length];
        new Random(length).nextBytes(bytes);
        try (Context context = context(new StringWriter()); MountSource source = open(context, vm)) {
            BlockDevice disk = source.disk();
            disk.write(GUEST_OFFSET, ByteBuffer.wrap(bytes));
            disk.flush();
        }
        return bytes;
    }

    private static byte[] readAt(Path file, long offset, int length) throws IOException {
        byte[] b = new byte[length];
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
            f.seek(offset);
            f.readFully(b);
        }
        return b;
    }

    // ------------------------------------------------------------------ item 1: the reference invariant

    @Test
    void removingAVersionAKeptGenerationReadsRetiresItAndKeepsItsVdisk() throws IOException {
        dcd.ok("disk", "build", "vl");
        dcd.ok("vm", "unassign", "vl", "lazy");
        String out = dcd.ok("catalog", "rm", "lazy@1.0");
        assertEquals("retired lazy@1.0: it is no longer listed or assignable, but its vdisk " + lazyVdisk.substring(0, 12)
                + " stays on local while VM vl generation 1 reads it ('dcd catalog gc' deletes it once nothing does)\n", out);
        assertTrue(Files.exists(vdiskFile(lazyVdisk)), "the vdisk the generation reads is still there");
        assertFalse(dcd.ok("catalog", "list").contains("lazy"), "retired versions are not listed");
        CliHarness.Result assign = dcd.run("vm", "assign", "vl", "lazy@1.0");
        assertEquals(1, assign.code(), assign.toString());
        assertEquals("dcd: app lazy@1.0 was removed; its vdisk is kept only for the disk generations that still read it"
                + " ('dcd catalog gc --dry-run' names them)\n", assign.err());
        assertEquals("dcd: app 'lazy' is not in the catalog (see 'dcd catalog list')\n",
                dcd.run("vm", "assign", "vl", "lazy").err());

        // The generation still exports with every byte: its vdisk still has a backend.
        Path raw = temp.resolve("vl.raw");
        dcd.ok("disk", "export", "vl", raw.toString());
        byte[] expected = Files.readAllBytes(temp.resolve("lazy-1.0/opt/lazy/data.bin"));
        assertTrue(Files.readString(raw, StandardCharsets.ISO_8859_1).contains(new String(expected, StandardCharsets.ISO_8859_1)),
                "the retired app's file is in the export");
    }

    @Test
    void gcKeepsWhatAGenerationReadsAndReclaimsItOnceTheGenerationIsDiscarded() throws IOException {
        dcd.ok("disk", "build", "vl");
        dcd.ok("vm", "unassign", "vl", "lazy");
        dcd.ok("catalog", "rm", "lazy@1.0");
        String kept = dcd.ok("catalog", "gc");
        assertEquals("kept vdisk " + lazyVdisk.substring(0, 12) + " on local (lazy@1.0): read by VM vl generation 1\n"
                + "reclaimed 0 B from 0 vdisk(s)\n", kept);
        assertTrue(Files.exists(vdiskFile(lazyVdisk)));

        dcd.ok("disk", "build", "vl");
        String discarded = dcd.ok("disk", "discard", "vl", "1");
        assertTrue(discarded.contains("'dcd catalog gc --dry-run'"), discarded);
        Map<String, String> before = catalogDump();
        Set<String> filesBefore = vdiskFiles();
        String dry = dcd.ok("catalog", "gc", "--dry-run");
        assertTrue(dry.startsWith("would delete vdisk " + lazyVdisk.substring(0, 12) + " on local (lazy@1.0), "), dry);
        assertTrue(dry.endsWith("; nothing was changed\n"), dry);
        assertEquals(before, catalogDump(), "a dry run changes no catalog key");
        assertEquals(filesBefore, vdiskFiles(), "a dry run deletes no vdisk");

        JsonNode gc = JSON.readTree(dcd.ok("--json", "catalog", "gc"));
        assertFalse(gc.get("dryRun").asBoolean());
        assertEquals(1, gc.get("vdisks").size(), gc.toString());
        assertEquals("delete", gc.get("vdisks").get(0).get("action").asText());
        assertEquals(lazyVdisk, gc.get("vdisks").get(0).get("contentId").asText());
        assertFalse(Files.exists(vdiskFile(lazyVdisk)), "nothing reads it any more");
        assertFalse(catalogDump().keySet().stream().anyMatch(k -> k.contains(lazyVdisk)), "no row names it");
        assertEquals("reclaimed 0 B from 0 vdisk(s)\n", dcd.ok("catalog", "gc"));
    }

    @Test
    void aLiveMountHoldsItsGenerationsVdisksEvenWhenTheCatalogNoLongerKeepsIt() throws IOException {
        dcd.ok("disk", "build", "vl");
        dcd.ok("disk", "build", "vl");
        // A mount of generation 1 that outlived its catalog record (the serving process reads gen-1/ directly).
        Path saved = temp.resolve("gen-1-saved");
        copyTree(home.resolve("vms/vl/gen-1"), saved);
        dcd.ok("disk", "discard", "vl", "1");
        copyTree(saved, home.resolve("vms/vl/gen-1"));
        dcd.ok("disk", "discard", "vl", "2", "--force");
        dcd.ok("vm", "unassign", "vl", "lazy");
        liveMountRecord("vl", Path.of("/mnt/vl"), 1);

        String out = dcd.ok("catalog", "rm", "lazy");
        assertTrue(out.startsWith("retired lazy@1.0: "), out);
        assertTrue(out.contains(" while VM vl generation 1 (mounted at /mnt/vl) reads it"), out);
        assertTrue(Files.exists(vdiskFile(lazyVdisk)));
        assertTrue(dcd.ok("catalog", "gc").startsWith("kept vdisk " + lazyVdisk.substring(0, 12)));
        assertTrue(Files.exists(vdiskFile(lazyVdisk)));
    }

    /**
     * VM vl's generation 1 (which maps lazy's vdisk) stays on disk after the catalog forgot it, as a server that
     * opened it before the discard still reads it; and lazy is no longer assigned, so only that server holds it.
     */
    private void generationOneOnDiskOnlyAndLazyUnassigned() throws IOException {
        dcd.ok("disk", "build", "vl");
        Path saved = temp.resolve("gen-1-saved");
        copyTree(home.resolve("vms/vl/gen-1"), saved);
        dcd.ok("disk", "discard", "vl", "1", "--force");
        copyTree(saved, home.resolve("vms/vl/gen-1"));
        dcd.ok("vm", "unassign", "vl", "lazy");
    }

    @Test
    void aMountRecordThatDoesNotNameItsGenerationHoldsEveryGenerationOnDisk() throws IOException {
        generationOneOnDiskOnlyAndLazyUnassigned();
        liveMountRecord("vl", Path.of("/mnt/old"), null);
        assertTrue(dcd.ok("catalog", "rm", "lazy@1.0").contains("VM vl generation 1 (mounted at /mnt/old)"));
        assertTrue(Files.exists(vdiskFile(lazyVdisk)));
    }

    @Test
    void aLiveNbdServerHoldsEveryGenerationOfItsVmOnDisk() throws IOException {
        generationOneOnDiskOnlyAndLazyUnassigned();
        Path serve = Files.createDirectories(home.resolve("serve"));
        Files.writeString(serve.resolve("vl.pid"), "vm=vl\nuri=nbd+unix:///vl?socket=/run/vl.sock\npid="
                + ProcessHandle.current().pid() + "\n");

        String out = dcd.ok("catalog", "rm", "lazy@1.0");

        assertTrue(out.contains("VM vl generation 1 (served at nbd+unix:///vl?socket=/run/vl.sock)"), out);
        assertTrue(Files.exists(vdiskFile(lazyVdisk)));
        assertTrue(dcd.ok("catalog", "gc").startsWith("kept vdisk " + lazyVdisk.substring(0, 12)));
        assertTrue(Files.exists(vdiskFile(lazyVdisk)), "gc keeps what the NBD server may read");

        Files.delete(serve.resolve("vl.pid")); // the server ended
        dcd.ok("catalog", "gc");
        assertFalse(Files.exists(vdiskFile(lazyVdisk)), "reclaimed once no server reads it");
    }

    @Test
    void rmWithJsonSaysWhatItDidAndWhoHoldsTheVdisk() throws IOException {
        dcd.ok("disk", "build", "vl");
        dcd.ok("vm", "unassign", "vl", "lazy", "other");
        JsonNode rm = JSON.readTree(dcd.ok("--json", "catalog", "rm", "lazy"));
        assertEquals(1, rm.size(), rm.toString());
        assertEquals("retired", rm.get(0).get("action").asText());
        assertEquals(lazyVdisk, rm.get(0).get("contentId").asText());
        assertEquals("vl", rm.get(0).get("heldBy").get(0).get("vm").asText());
        assertEquals(1, rm.get(0).get("heldBy").get(0).get("generation").asInt());
        dcd.ok("disk", "discard", "vl", "1", "--force");
        assertEquals("removed-with-vdisk", JSON.readTree(dcd.ok("--json", "catalog", "rm", "other")).get(0).get("action").asText());
    }

    @Test
    void anUnreferencedVersionIsRemovedWithItsVdiskAsBefore() throws IOException {
        dcd.ok("vm", "unassign", "vl", "lazy");
        assertEquals("removed lazy@1.0 and its vdisk " + lazyVdisk.substring(0, 12) + "\n", dcd.ok("catalog", "rm", "lazy@1.0"));
        assertFalse(Files.exists(vdiskFile(lazyVdisk)));
    }

    @Test
    void aGenerationWhoseRegionMapIsGoneStopsRmAndGcWithOneLineAndChangesNothing() throws IOException {
        dcd.ok("disk", "build", "vl");
        dcd.ok("vm", "unassign", "vl", "lazy");
        Files.delete(home.resolve("vms/vl/gen-1/regions.bin"));
        Map<String, String> before = catalogDump();
        Set<String> files = vdiskFiles();
        CliHarness.Result rm = dcd.run("catalog", "rm", "lazy@1.0");
        assertEquals(1, rm.code(), rm.toString());
        assertEquals("dcd: cannot tell which vdisks VM vl generation 1 reads: " + home.resolve("vms/vl/gen-1/regions.bin")
                + " is missing; nothing was deleted (if that generation is beyond repair, 'dcd disk discard vl 1'"
                + " forgets it)\n", rm.err());
        assertEquals(1, dcd.run("catalog", "gc").code());
        assertEquals(before, catalogDump());
        assertEquals(files, vdiskFiles());
    }

    @Test
    void gcReclaimsOnEveryBackend() throws IOException {
        Path nas = Files.createDirectories(temp.resolve("nas"));
        dcd.ok("backend", "add", "nas", "local://" + nas);
        Files.writeString(Files.createDirectories(temp.resolve("far-3/opt/far")).resolve("far.txt"), "far away\n");
        dcd.ok("catalog", "import", temp.resolve("far-3").toString(), "--backend", "nas");
        dcd.ok("vm", "assign", "vl", "far");
        dcd.ok("disk", "build", "vl");
        dcd.ok("vm", "unassign", "vl", "far", "lazy");
        assertTrue(dcd.ok("catalog", "rm", "far").startsWith("retired far@3: "));
        assertTrue(dcd.ok("catalog", "rm", "lazy").startsWith("retired lazy@1.0: "));
        try (Stream<Path> s = Files.list(nas)) {
            assertEquals(1, s.count(), "far's vdisk is on nas");
        }
        dcd.ok("disk", "discard", "vl", "1", "--force");
        String gc = dcd.ok("catalog", "gc");
        assertTrue(gc.contains("deleted vdisk " + lazyVdisk.substring(0, 12) + " on local (lazy@1.0), "), gc);
        assertTrue(gc.matches("(?s).*deleted vdisk [0-9a-f]{12} on nas \\(far@3\\), .*"), gc);
        assertTrue(gc.endsWith(" from 2 vdisk(s)\n"), gc);
        try (Stream<Path> s = Files.list(nas)) {
            assertEquals(0, s.count(), "reclaimed on nas too");
        }
        assertFalse(Files.exists(vdiskFile(lazyVdisk)));
        assertEquals("removed backend nas\n", dcd.ok("backend", "rm", "nas"), "no retired row holds nas any more");
    }

    @Test
    void vdisksTheCatalogDoesNotKnowAreListedAndDeletedOnlyWithOrphans() throws IOException {
        String stray = "ab".repeat(32);
        Files.copy(vdiskFile(lazyVdisk), vdiskFile(stray));
        String out = dcd.ok("catalog", "gc");
        assertTrue(out.startsWith("kept vdisk " + stray.substring(0, 12) + " on local, "), out);
        assertTrue(out.contains(": not in the catalog ('dcd catalog rescan' registers it, 'dcd catalog gc --orphans' deletes it)\n"), out);
        assertTrue(Files.exists(vdiskFile(stray)));
        String orphans = dcd.ok("catalog", "gc", "--orphans");
        assertTrue(orphans.startsWith("deleted vdisk " + stray.substring(0, 12) + " on local, "), orphans);
        assertFalse(Files.exists(vdiskFile(stray)));
        assertTrue(Files.exists(vdiskFile(lazyVdisk)), "a catalogued vdisk is no orphan");
    }

    // ------------------------------------------------------------------ item 2: export as the guest sees it

    @Test
    void exportHoldsTheGuestsWritesAndPristineLeavesThemOut() throws IOException {
        dcd.ok("disk", "build", "vl");
        Path pristineBefore = temp.resolve("before.raw");
        dcd.ok("disk", "export", "vl", pristineBefore.toString());
        byte[] written = guestWrites("vl", 10_000);

        Path guest = temp.resolve("guest.raw");
        String out = dcd.ok("disk", "export", "vl", guest.toString());
        assertEquals("exported vl generation 1 to " + guest + " (64.0 MiB, sparse, with 12.0 KiB of guest writes)\n", out);
        assertArrayEquals(written, readAt(guest, GUEST_OFFSET, written.length), "the guest's bytes are in the export");

        // Every byte equals what the chain serves, as a mount's disk.img would.
        try (Context context = context(new StringWriter()); MountSource source = open(context, "vl")) {
            assertDeviceEquals(source.disk(), guest);
        }

        Path pristine = temp.resolve("pristine.raw");
        assertTrue(dcd.ok("disk", "export", "vl", pristine.toString(), "--pristine")
                .endsWith("(64.0 MiB, sparse, pristine: without the guest's writes)\n"));
        assertArrayEquals(Files.readAllBytes(pristineBefore), Files.readAllBytes(pristine), "--pristine is the disk as built");
    }

    @Test
    void exportWarnsOnlyWhenTheGenerationItCopiesIsMounted() throws IOException {
        dcd.ok("disk", "build", "vl");
        dcd.ok("disk", "build", "vl");
        liveMountRecord("vl", Path.of("/mnt/vl"), 2);
        CliHarness.Result current = dcd.run("disk", "export", "vl", temp.resolve("2.raw").toString());
        assertEquals(0, current.code(), current.toString());
        assertEquals("dcd: warning: VM 'vl' generation 2 is mounted at /mnt/vl; the export holds the guest's writes flushed"
                + " so far (for a consistent copy, shut the guest down or 'dcd umount /mnt/vl' first)\n", current.err());
        CliHarness.Result older = dcd.run("disk", "export", "vl", temp.resolve("1.raw").toString(), "--generation", "1");
        assertEquals("", older.err(), "generation 1 is not the one mounted");
        assertEquals("", dcd.run("disk", "export", "vl", temp.resolve("p.raw").toString(), "--pristine").err(),
                "a pristine export does not read the overlay");
    }

    private static void assertDeviceEquals(BlockDevice disk, Path file) throws IOException {
        assertEquals(disk.size(), Files.size(file));
        ByteBuffer chunk = ByteBuffer.allocate(1 << 20);
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
            byte[] fromFile = new byte[1 << 20];
            for (long pos = 0; pos < disk.size(); pos += chunk.capacity()) {
                chunk.clear().limit((int) Math.min(chunk.capacity(), disk.size() - pos));
                disk.read(pos, chunk);
                f.seek(pos);
                f.readFully(fromFile, 0, chunk.limit());
                if (!Arrays.equals(chunk.array(), 0, chunk.limit(), fromFile, 0, chunk.limit())) {
                    throw new AssertionError("export differs from the served disk in the MiB at " + pos);
                }
            }
        }
    }

    // ------------------------------------------------------------------ item 3: rebuild, mount, discard say so

    @Test
    void discardingAGenerationWithGuestWritesNeedsForceAndNamesWhatIsLost() throws IOException {
        dcd.ok("disk", "build", "vl");
        guestWrites("vl", 5000);
        dcd.ok("disk", "build", "vl");
        CliHarness.Result refused = dcd.run("disk", "discard", "vl", "1");
        assertEquals(1, refused.code(), refused.toString());
        assertEquals("dcd: generation 1 of VM 'vl' holds 8.0 KiB of guest writes, which discarding deletes for good;"
                + " save them with 'dcd disk export vl FILE --generation 1', or pass --force to discard them\n", refused.err());
        assertTrue(Files.exists(home.resolve("vms/vl/gen-1/overlay.data")), "nothing was deleted");
        assertEquals(2, JSON.readTree(dcd.ok("--json", "disk", "generations", "vl")).get("generations").size());
        assertEquals("discarded generation 1 of vl and its 8.0 KiB of guest writes\n",
                dcd.ok("disk", "discard", "vl", "1", "--force"));
        assertFalse(Files.exists(home.resolve("vms/vl/gen-1")));
    }

    @Test
    void removingAVmWhoseGenerationsHoldGuestWritesNeedsForce() throws IOException {
        dcd.ok("disk", "build", "vl");
        guestWrites("vl", 4096);
        CliHarness.Result refused = dcd.run("vm", "rm", "vl");
        assertEquals(1, refused.code(), refused.toString());
        assertEquals("dcd: VM 'vl' holds guest writes in generation 1 (4.0 KiB), which removing it deletes for good;"
                + " save them with 'dcd disk export vl FILE --generation N', or pass --force to remove it anyway\n",
                refused.err());
        assertTrue(Files.exists(home.resolve("vms/vl/gen-1/overlay.data")));
        assertEquals("removed VM vl\n", dcd.ok("vm", "rm", "vl", "--force"));
        assertFalse(Files.exists(home.resolve("vms/vl")));
    }

    @Test
    void buildingAMountedVmSaysTheMountKeepsItsGenerationAndTheWritesStayThere() throws IOException {
        dcd.ok("disk", "build", "vl");
        liveMountRecord("vl", Path.of("/mnt/vl"), 1);
        CliHarness.Result r = dcd.run("disk", "build", "vl");
        assertEquals(0, r.code(), r.toString());
        assertTrue(r.err().contains("dcd: VM 'vl' is mounted at /mnt/vl and keeps serving generation 1 until it is"
                + " remounted ('dcd umount /mnt/vl', then 'dcd mount vl /mnt/vl'); the guest's writes stay in generation 1"
                + " and do not carry over to generation 2\n"), r.err());
    }

    @Test
    void mountingAGenerationNewerThanOneWithGuestWritesSaysSo() throws IOException {
        dcd.ok("disk", "build", "vl");
        guestWrites("vl", 4096);
        dcd.ok("disk", "build", "vl");
        StringWriter err = new StringWriter();
        try (Context context = context(err); MountSource source = open(context, "vl")) {
            assertEquals(2, source.generation());
        }
        assertEquals("dcd: warning: generation 1 of VM 'vl' holds guest writes that generation 2, mounted now, does not"
                + " have; they stay in generation 1 ('dcd mount vl DIR --generation 1' serves them, 'dcd disk export vl FILE"
                + " --generation 1' saves them)\n", err.toString());

        StringWriter quiet = new StringWriter();
        dcd.ok("disk", "discard", "vl", "1", "--force");
        try (Context context = context(quiet); MountSource source = open(context, "vl")) {
            assertEquals(2, source.generation());
        }
        assertEquals("", quiet.toString(), "no older generation with writes, nothing to say");
    }

    @Test
    void anOlderGenerationCanBeMountedToReachItsGuestWrites() throws IOException {
        dcd.ok("disk", "build", "vl");
        byte[] written = guestWrites("vl", 6000);
        dcd.ok("disk", "build", "vl");
        withFileIndex("vl");
        try (Context context = context(new StringWriter()); MountSource old = new VmMounts(context).open("vl", 1)) {
            assertEquals(1, old.generation());
            ByteBuffer b = ByteBuffer.allocate(written.length);
            old.disk().read(GUEST_OFFSET, b);
            assertArrayEquals(written, b.array(), "generation 1 still serves the guest's writes");
        }
        try (Context context = context(new StringWriter()); MountSource current = new VmMounts(context).open("vl", 0)) {
            assertEquals(2, current.generation());
            ByteBuffer b = ByteBuffer.allocate(written.length);
            current.disk().read(GUEST_OFFSET, b);
            assertFalse(Arrays.equals(written, b.array()), "generation 2 was built without them");
        }
        try (Context context = context(new StringWriter())) {
            IOException e = org.junit.jupiter.api.Assertions.assertThrows(IOException.class,
                    () -> new VmMounts(context).open("vl", 7));
            assertEquals("VM 'vl' has no generation 7 (see 'dcd disk generations vl')", e.getMessage());
        }
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> s = Files.walk(from)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                Path target = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(p, target, StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
    }
}
