package dev.dcd.tests.ext4;

import dev.dcd.backend.Backend;
import dev.dcd.backend.Backends;
import dev.dcd.backend.Progress;
import dev.dcd.synth.AppLayer;
import dev.dcd.synth.DiskMaterializer;
import dev.dcd.synth.DiskSpec;
import dev.dcd.synth.FileIndex;
import dev.dcd.synth.FsType;
import dev.dcd.synth.SynthesisException;
import dev.dcd.synth.SynthesizedDisk;
import dev.dcd.synth.Synthesizers;
import dev.dcd.vdisk.SealedVdisk;
import dev.dcd.vdisk.VdiskWriter;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The ext4 synthesizer judged by the real tools: e2fsck, dumpe2fs, the kernel (read-only and
 * read-write) and fuse2fs, over two real Debian packages plus a generated tree of edge cases.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class Ext4ConformanceIT {
    static final List<String> DEBS = List.of("tzdata", "perl-modules-5.36");
    static final long DISK = 2L << 30;
    static final long CREATED = 1_750_000_000L;

    Path work;
    Backend backend;
    List<AppLayer> layers = new ArrayList<>();
    SynthesizedDisk disk;
    Path raw;
    Expected expected;

    @BeforeAll
    void buildTheDisk() throws IOException {
        work = Files.createTempDirectory("dcd-ext4-it-");
        Path store = Files.createDirectories(work.resolve("store"));
        backend = Backends.open("it", URI.create("local://" + store));
        Path debDir = Files.createDirectories(Path.of(System.getProperty("user.dir"), "target", "debs"));
        for (String pkg : DEBS) {
            Path deb = fetch(debDir, pkg);
            Path tree = work.resolve("tree-" + pkg);
            Sys.run("dpkg-deb", "-x", deb.toString(), tree.toString());
            layers.add(store(TreeVdisk.write(tree, work.resolve(pkg + ".vdisk"), pkg, "deb"), 0));
        }
        layers.add(store(EdgeCaseApp.write(work.resolve("edge.vdisk")), 0));
        expected = Expected.of(layers);
        disk = synthesize("disk", DISK, layers);
        raw = materialize(disk);
    }

    private static Path fetch(Path debDir, String pkg) throws IOException {
        try (Stream<Path> s = Files.list(debDir)) {
            var found = s.filter(p -> p.getFileName().toString().startsWith(pkg + "_")).findFirst();
            if (found.isPresent()) {
                return found.get();
            }
        }
        Sys.run("sh", "-c", "cd '" + debDir + "' && apt-get download " + pkg);
        try (Stream<Path> s = Files.list(debDir)) {
            return s.filter(p -> p.getFileName().toString().startsWith(pkg + "_")).findFirst()
                    .orElseThrow(() -> new AssertionError("apt-get download " + pkg + " produced no .deb"));
        }
    }

    private AppLayer store(SealedVdisk v, int priority) throws IOException {
        try (InputStream in = Files.newInputStream(v.file())) {
            backend.put(v.id(), in, v.length(), Progress.NONE);
        }
        return new AppLayer(v.manifest().appName(), v.manifest().appVersion(), v.id(), v.manifest(), priority);
    }

    private SynthesizedDisk synthesize(String name, long size, List<AppLayer> apps) throws IOException {
        DiskSpec spec = DiskSpec.builder().vmId("conformance-vm").fsType(FsType.EXT4).diskSize(size)
                .createdEpochSeconds(CREATED).build();
        return Synthesizers.forType(FsType.EXT4).synthesize(spec, apps, work.resolve(name), Progress.NONE);
    }

    private Path materialize(SynthesizedDisk d) throws IOException {
        Path out = d.dir().resolve("export.raw");
        DiskMaterializer.materialize(d.regionMap(), d.image(), backend::open, out, Progress.NONE);
        return out;
    }

    @AfterAll
    void cleanUp() throws IOException {
        if (backend != null) {
            backend.close();
        }
        if (work != null) {
            try (Stream<Path> s = Files.walk(work)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private String e2fsck(Path image, SynthesizedDisk d) throws IOException {
        try (Sys.Loop loop = new Sys.Loop(image, d.partitionOffset(), d.partitionLength(), true)) {
            Sys.Result r = Sys.exec("e2fsck", "-fn", loop.device);
            assertEquals(0, r.exit(), "e2fsck -fn found problems:\n" + r.output());
            return r.output();
        }
    }

    @Test
    void e2fsckFindsNothingToFix() throws IOException {
        String out = e2fsck(raw, disk);
        assertTrue(out.contains("files"), out);
    }

    @Test
    void dumpe2fsShowsTheExt4FeatureSet() throws IOException {
        String out;
        try (Sys.Loop loop = new Sys.Loop(raw, disk.partitionOffset(), disk.partitionLength(), true)) {
            out = Sys.run("dumpe2fs", "-h", loop.device);
        }
        String features = out.lines().filter(l -> l.startsWith("Filesystem features:")).findFirst().orElseThrow();
        for (String f : List.of("has_journal", "ext_attr", "dir_index", "filetype", "extent", "64bit", "flex_bg",
                "sparse_super", "large_file", "huge_file", "dir_nlink", "extra_isize", "metadata_csum")) {
            assertTrue((" " + features + " ").contains(" " + f + " "), f + " missing from " + features);
        }
        assertTrue(out.contains("Checksum type:            crc32c"), out);
        assertTrue(out.contains("Journal size:") || out.contains("Total journal size:"), out);
        assertTrue(out.contains("Default directory hash:   half_md4"), out);
    }

    @Test
    void theKernelMountsItReadOnlyAndEveryFileMatchesItsManifest() throws IOException {
        Path mnt = Files.createDirectories(work.resolve("mnt-ro"));
        try (Sys.Mount m = new Sys.Mount(mnt, "mount", "-t", "ext4", "-o", "loop,ro,offset=" + disk.partitionOffset()
                + ",sizelimit=" + disk.partitionLength(), raw.toString(), mnt.toString())) {
            List<String> problems = expected.check(mnt, true);
            assertTrue(problems.isEmpty(), problems.size() + " mismatches, first: " + problems.subList(0, Math.min(20, problems.size())));
            assertEquals(2 + expected.subdirectories("") + 1, (Integer) Files.getAttribute(mnt, "unix:nlink"));
        }
    }

    @Test
    void fuse2fsShowsTheSameTree() throws IOException {
        Path mnt = Files.createDirectories(work.resolve("mnt-fuse"));
        try (Sys.Mount m = new Sys.Mount(mnt, "fuse2fs", raw.toString(), mnt.toString(), "-o",
                "ro,fakeroot,offset=" + disk.partitionOffset())) {
            List<String> problems = expected.check(mnt, false);
            assertTrue(problems.isEmpty(), problems.size() + " mismatches, first: " + problems.subList(0, Math.min(20, problems.size())));
        }
    }

    @Test
    void aReadWriteMountTakesNewFilesAndStaysClean() throws IOException {
        Path copy = work.resolve("rw.raw");
        Sys.run("cp", "--sparse=always", raw.toString(), copy.toString());
        Path mnt = Files.createDirectories(work.resolve("mnt-rw"));
        try (Sys.Mount m = new Sys.Mount(mnt, "mount", "-t", "ext4", "-o", "loop,rw,offset=" + disk.partitionOffset()
                + ",sizelimit=" + disk.partitionLength(), copy.toString(), mnt.toString())) {
            Files.writeString(mnt.resolve("written-by-the-guest.txt"), "hello from the guest\n".repeat(1000));
            // 64 MiB lands in blocks the bitmaps call free: if they lied, app data would be overwritten.
            Sys.run("dd", "if=/dev/urandom", "of=" + mnt.resolve("guest-blob"), "bs=1M", "count=64", "status=none");
            Files.createDirectories(mnt.resolve("edge/wide/new-dir"));
            for (int i = 0; i < 500; i++) {   // insertions into the synthesized htree, with leaf splits
                Files.writeString(mnt.resolve("edge/wide/guest-file-with-a-long-name-" + i), "x" + i);
            }
            for (int i = 2; i < 400; i += 10) {
                Files.delete(mnt.resolve(String.format("edge/wide/entry-%05d-%s", i, "abcdefghij".substring(0, i % 10))));
            }
            Files.delete(mnt.resolve("edge/setuid"));
            Sys.run("sync");
        }
        e2fsck(copy, disk);
        try (Sys.Mount m = new Sys.Mount(mnt, "mount", "-t", "ext4", "-o", "loop,ro,offset=" + disk.partitionOffset()
                + ",sizelimit=" + disk.partitionLength(), copy.toString(), mnt.toString())) {
            assertEquals("hello from the guest\n".repeat(1000), Files.readString(mnt.resolve("written-by-the-guest.txt")));
            assertFalse(Files.exists(mnt.resolve("edge/setuid")));
            assertEquals("x499", Files.readString(mnt.resolve("edge/wide/guest-file-with-a-long-name-499")));
            assertEquals(expected.nodes.get("edge/big").sha256(), Expected.sha256(mnt.resolve("edge/big")));
            assertEquals(expected.nodes.get("usr/share/perl/5.36.0/strict.pm").sha256(),
                    Expected.sha256(mnt.resolve("usr/share/perl/5.36.0/strict.pm")));
        }
    }

    @Test
    void twoBuildsOfTheSameAppsAreByteIdentical() throws IOException {
        SynthesizedDisk again = synthesize("again", DISK, layers);
        Sys.run("cmp", disk.image().toString(), again.image().toString());
        Sys.run("cmp", disk.dir().resolve("regions.bin").toString(), again.dir().resolve("regions.bin").toString());
        Path export = materialize(again);
        Sys.run("cmp", raw.toString(), export.toString());
    }

    @Test
    void theThinImageHoldsMetadataButNoFileData() throws IOException {
        FileIndex index = FileIndex.load(disk.dir().resolve(FileIndex.FILE_NAME));
        // What ext4 itself needs: an inode per name (generously), directory blocks, slow symlink blocks,
        // plus 2 MiB for GPT, superblocks, descriptors, bitmaps and the journal superblock.
        long budget = 2L << 20;
        for (String path : expected.nodes.keySet()) {
            FileIndex.Node n = index.get(path);
            budget += 256;
            if (n.kind() == FileIndex.Kind.DIRECTORY) {
                budget += n.size();
            } else if (n.kind() == FileIndex.Kind.SYMLINK && n.size() >= 60) {
                budget += 4096;
            }
        }
        long content = 0;
        for (AppLayer l : layers) {
            content += l.manifest().contentBytes();
        }
        long allocated = allocatedBytes(disk.image());
        assertTrue(allocated <= budget, "thin image allocates " + allocated + " bytes; metadata needs at most " + budget);
        assertTrue(allocated < content / 10, "thin image allocates " + allocated + " bytes for " + content + " content bytes");
    }

    @Test
    void theFileIndexPointsAtEachFilesBytes() throws IOException {
        FileIndex index = FileIndex.load(disk.dir().resolve(FileIndex.FILE_NAME));
        assertEquals(expected.nodes.size() + 2, index.size());   // plus the root and lost+found
        FileIndex.Node big = index.get("edge/big");
        assertEquals(EdgeCaseApp.BIG_FILE, big.size());
        try (FileChannel ch = FileChannel.open(raw)) {
            var md = java.security.MessageDigest.getInstance("SHA-256");
            long left = big.size();
            for (int i = 0; i < big.extentCount() && left > 0; i++) {
                long n = Math.min(left, big.extentLength(i));
                ByteBuffer buf = ByteBuffer.allocate((int) n);
                ch.read(buf, big.extentOffset(i));
                md.update(buf.flip());
                left -= n;
            }
            assertEquals(expected.nodes.get("edge/big").sha256(), java.util.HexFormat.of().formatHex(md.digest()));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        FileIndex.Node a = index.get("edge/linked");
        FileIndex.Node b = index.get("edge/sticky/linked-3");
        assertEquals(a.fileId(), b.fileId());
        assertEquals(3, a.linkCount());
    }

    /** What the file occupies on the host (Java's "unix" view has no st_blocks). */
    static long allocatedBytes(Path file) throws IOException {
        String[] f = Sys.run("stat", "-c", "%b %B", file.toString()).trim().split(" ");
        return Long.parseLong(f[0]) * Long.parseLong(f[1]);
    }

    private AppLayer tinyApp(String name, String content, int priority) throws IOException {
        try (VdiskWriter w = VdiskWriter.create(work.resolve(name + ".vdisk"), name, "1", 1L << 20)) {
            w.file("etc/shared.conf", 0644, 0, 0, CREATED, 0, EdgeCaseApp.text(content), -1);
            w.file("etc/" + name + ".conf", 0644, 0, 0, CREATED, 0, EdgeCaseApp.text(name), -1);
            return store(w.finish(), priority);
        }
    }

    @Test
    void twoAppsProvidingTheSamePathFailNamingBoth() throws IOException {
        List<AppLayer> apps = List.of(tinyApp("alpha", "from alpha", 0), tinyApp("beta", "from beta", 0));
        SynthesisException e = assertThrows(SynthesisException.class, () -> synthesize("conflict", 64L << 20, apps));
        assertTrue(e.getMessage().contains("/etc/shared.conf") && e.getMessage().contains("alpha@1")
                && e.getMessage().contains("beta@1"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
        assertFalse(Files.exists(work.resolve("conflict/meta.img")));
    }

    @Test
    void withPrioritiesTheHigherAppWins() throws IOException {
        List<AppLayer> apps = List.of(tinyApp("gamma", "from gamma", 1), tinyApp("delta", "from delta", 5));
        SynthesizedDisk d = synthesize("priority", 64L << 20, apps);
        Path image = materialize(d);
        e2fsck(image, d);
        try (Sys.Loop loop = new Sys.Loop(image, d.partitionOffset(), d.partitionLength(), true)) {
            assertEquals("from delta", Sys.run("debugfs", "-R", "cat /etc/shared.conf", loop.device)
                    .lines().filter(l -> !l.startsWith("debugfs")).findFirst().orElse(""));
            assertEquals("gamma", Sys.run("debugfs", "-R", "cat /etc/gamma.conf", loop.device)
                    .lines().filter(l -> !l.startsWith("debugfs")).findFirst().orElse(""));
        }
    }

    @Test
    void aDiskTooSmallForTheAppsFailsClearlyAndLeavesNothing() throws IOException {
        SynthesisException e = assertThrows(SynthesisException.class, () -> synthesize("small", 32L << 20, layers));
        assertFalse(e.getMessage().contains("\n"));
        assertTrue(e.getMessage().contains("--size"), e.getMessage());
        Path dir = work.resolve("small");
        assertTrue(!Files.exists(dir) || isEmpty(dir), "left files behind in " + dir);
    }

    private static boolean isEmpty(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.findAny().isEmpty();
        }
    }

    @Test
    void tooManyFilesForTheInodeTablesFailsClearly() throws IOException {
        AppLayer many;
        try (VdiskWriter w = VdiskWriter.create(work.resolve("many.vdisk"), "many", "1", 1L << 20)) {
            for (int i = 0; i < 70_000; i++) {
                w.symlink("d" + (i / 5000) + "/l" + i, "t", 0, 0, CREATED, 0);
            }
            many = store(w.finish(), 0);
        }
        SynthesisException e = assertThrows(SynthesisException.class, () -> synthesize("inodes", 16L << 20, List.of(many)));
        assertTrue(e.getMessage().contains("inodes") || e.getMessage().contains("--size"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }

    static String utf8(byte[] b) {
        return new String(b, StandardCharsets.UTF_8);
    }
}
