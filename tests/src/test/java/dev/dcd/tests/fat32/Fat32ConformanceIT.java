package dev.dcd.tests.fat32;

import dev.dcd.synth.DiskSpec;
import dev.dcd.synth.FileIndex;
import dev.dcd.synth.SynthesizedDisk;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** Synthesized FAT32 volumes judged by fsck.fat, mtools and fusefat. */
class Fat32ConformanceIT {
    static final Map<String, String> MTOOLS = Map.of("MTOOLS_SKIP_CHECK", "1");
    static final String[] SCRIPTS = {"Имя файла.txt", "中文文件名.md", "Ελληνικά αρχεία", "emoji 😀🎉 party.bin",
            "日本語のとても長いファイル名です.テキスト"};

    @TempDir
    Path temp;

    @Test
    void aMixedTreePassesFsckAndEveryFileReadsBackThroughMtools() throws Exception {
        FatFixture fx = new FatFixture(temp);
        fx.app("base", "1.0", a -> {
            a.dir("docs").file("docs/readme.txt", "hello FAT\n").file("docs/README.md", "# readme\n");
            a.file("CONFIG.SYS", "exact 8.3 name\n").file("Makefile", "all:\n");
            a.file("long file name with spaces.tar.gz", bytes(70_000, 1));
            a.file(".hidden", "dot file\n").file("a+b,c;d=e[f].txt", "chars short names cannot hold\n");
            a.file("exactly twenty six chars!!", "fills two long-name entries exactly\n");
            a.file("empty", new byte[0]).file("one block", bytes(4096, 2)).file("block and a byte", bytes(4097, 3));
            a.file("locked.cfg", "read only\n".getBytes(StandardCharsets.UTF_8), 0444);
            a.bigFile("deep/er/and/deeper/five-mebibytes.bin", 5L << 20, 7);
            a.file("collide/LONGFI~3.TXT", "a real name that looks like a generated one\n");
            for (int i = 1; i <= 12; i++) {
                a.file("collide/longfilename" + i + ".txt", "collision " + i + "\n");
            }
            for (String name : SCRIPTS) {
                a.file("scripts/" + name, name + "\n");
            }
            a.file("scripts/" + "x".repeat(200) + ".long", "a 205-character name\n");
            a.hardlink("docs/readme-again.txt", "docs/readme.txt");
            a.symlink("docs/link", "readme.txt");
        });
        fx.app("extra", "2.1", a -> a.dir("docs").file("docs/extra.txt", bytes(12_345, 4)).file("zeta", "z\n"));

        SynthesizedDisk disk = fx.synthesize(FatFixture.spec(256L << 20).build(), temp.resolve("gen"));
        assertEquals(List.of("skipped symlink /docs/link (base@1.0) -> readme.txt: FAT has no symlinks"), disk.warnings());
        Path raw = fx.materialize(disk, temp.resolve("disk.raw"));
        Path part = FatFixture.partition(disk, raw, temp.resolve("part.img"));

        assertFsckClean(part);
        assertMtoolsReadsBack(fx.expected, raw.toString() + "@@" + disk.partitionOffset());
        FatFixture.Tool dir = mtools("mdir", "-/", "-a", "-i", part.toString(), "::/");
        for (String name : SCRIPTS) {
            assertTrue(dir.output().contains(asMtoolsShowsIt(name)), () -> name + " missing from mdir:\n" + dir.output());
        }
        assertTrue(dir.output().contains("LONGFI~9 TXT") && dir.output().contains("LONGF~13 TXT"), dir.output());
        assertTrue(dir.output().contains("LONGFI~3 TXT        44"), "the real LONGFI~3.TXT keeps its name:\n"
                + dir.output());
        FatFixture.Tool type = mtools("mtype", "-i", part.toString(), "::/docs/readme.txt");
        assertEquals("hello FAT\n", type.output());
        FatFixture.Tool attrib = mtools("mattrib", "-i", part.toString(), "::/locked.cfg", "::/zeta");
        assertEquals("  A    R     ::/locked.cfg\n  A          ::/zeta\n", attrib.output(),
                "read-only exactly where the mode has no write bit");

        FileIndex index = FileIndex.load(disk.dir().resolve(FileIndex.FILE_NAME));
        assertEquals(FileIndex.Kind.DIRECTORY, index.get("").kind());
        for (String path : fx.expected.keySet()) {
            assertEquals(FileIndex.Kind.FILE, index.get(path).kind(), path);
        }
        assertEquals(index.get("docs/readme.txt").fileId(), index.get("docs/readme-again.txt").fileId());
        assertNull(index.get("docs/link"));
        try (var ch = java.nio.channels.FileChannel.open(raw)) {
            FileIndex.Node node = index.get("deep/er/and/deeper/five-mebibytes.bin");
            var buf = java.nio.ByteBuffer.allocate((int) node.size());
            ch.read(buf, node.extentOffset(0));
            assertEquals(fx.expected.get(node.path()), FatFixture.sha256(buf.array()));
        }
    }

    @Test
    void fusefatMountsTheVolumeReadOnlyAndFilesMatch() throws Exception {
        FatFixture fx = new FatFixture(temp);
        fx.app("base", "1.0", a -> {
            a.file("docs/readme.txt", "hello FAT\n").file("long file name with spaces.tar.gz", bytes(70_000, 1));
            a.bigFile("big/three-mebibytes.bin", 3L << 20, 9);
            for (String name : SCRIPTS) {
                a.file("scripts/" + name, name + "\n");
            }
            a.hardlink("docs/readme-again.txt", "docs/readme.txt");
        });
        SynthesizedDisk disk = fx.synthesize(FatFixture.spec(128L << 20).build(), temp.resolve("gen"));
        Path part = FatFixture.partition(disk, fx.materialize(disk, temp.resolve("disk.raw")), temp.resolve("part.img"));
        Path mnt = Files.createDirectories(temp.resolve("mnt"));
        FatFixture.Tool.run(List.of("fusefat", "-o", "ro", part.toString(), mnt.toString())).check();
        try {
            Map<String, String> seen = new TreeMap<>();
            try (Stream<Path> files = Files.walk(mnt)) {
                for (Path p : (Iterable<Path>) files.filter(Files::isRegularFile)::iterator) {
                    seen.put(mnt.relativize(p).toString(), FatFixture.sha256(p));
                }
            }
            // fusefat lists the root's volume-label entry as an empty file; that entry is what fatgen103 asks for.
            assertEquals(FatFixture.sha256(new byte[0]), seen.remove("DCD"), "the volume label entry");
            assertEquals(fx.expected, seen);
        } finally {
            FatFixture.Tool.run(List.of("fusermount", "-u", mnt.toString())).check();
        }
    }

    @Test
    void aDirectoryWithTenThousandFilesPassesFsckAndListsCompletely() throws Exception {
        FatFixture fx = new FatFixture(temp);
        fx.app("many", "1.0", a -> {
            for (int i = 0; i < 10_000; i++) {
                a.file("many/file number " + i + ".dat", "content of file " + i + "\n");
            }
        });
        SynthesizedDisk disk = fx.synthesize(FatFixture.spec(128L << 20).build(), temp.resolve("gen"));
        Path part = FatFixture.partition(disk, fx.materialize(disk, temp.resolve("disk.raw")), temp.resolve("part.img"));
        assertFsckClean(part);
        assertMtoolsReadsBack(fx.expected, part.toString());
    }

    @Test
    void twoBuildsOfTheSameAppsAreByteIdentical() throws Exception {
        FatFixture fx = new FatFixture(temp);
        fx.app("base", "1.0", a -> {
            a.file("a/b/c.txt", "c\n").file("long name number one.txt", bytes(9000, 5));
            for (String name : SCRIPTS) {
                a.file(name, name);
            }
        });
        DiskSpec spec = FatFixture.spec(128L << 20).build();
        SynthesizedDisk one = fx.synthesize(spec, temp.resolve("one"));
        SynthesizedDisk two = fx.synthesize(spec, temp.resolve("two"));
        for (String file : new String[] {SynthesizedDisk.IMAGE, SynthesizedDisk.REGIONS, FileIndex.FILE_NAME}) {
            FatFixture.Tool.run(List.of("cmp", one.dir().resolve(file).toString(), two.dir().resolve(file).toString()))
                    .check();
        }
        Path rawOne = fx.materialize(one, temp.resolve("one.raw"));
        Path rawTwo = fx.materialize(two, temp.resolve("two.raw"));
        FatFixture.Tool.run(List.of("cmp", rawOne.toString(), rawTwo.toString())).check();
    }

    @Test
    void aLargeDiskGets32KiBClustersAndItsThinImageStaysSparse() throws Exception {
        FatFixture fx = new FatFixture(temp);
        fx.app("base", "1.0", a -> a.file("docs/readme.txt", "hello\n").file("data.bin", bytes(100_000, 6))
                .file("empty", new byte[0]));
        SynthesizedDisk disk = fx.synthesize(FatFixture.spec(40L << 30).build(), temp.resolve("gen"));
        // du, not SynthesizedDisk.allocatedBytes(): the JDK's "unix" attribute view has no "blocks".
        long allocated = Long.parseLong(FatFixture.Tool.run(List.of("du", "-B1", disk.image().toString())).check()
                .output().split("\\s+")[0]);
        assertTrue(allocated < (1L << 20), "thin image allocates " + allocated + " bytes");
        assertTrue(disk.regionMap().bytesOf(dev.dcd.synth.RegionMap.Kind.METADATA) > (8L << 20),
                "the FATs are declared metadata even where they are holes");
        Path raw = fx.materialize(disk, temp.resolve("disk.raw"));
        String loop = FatFixture.Tool.run(List.of("losetup", "--find", "--show", "--read-only", "--offset",
                Long.toString(disk.partitionOffset()), "--sizelimit", Long.toString(disk.partitionLength()),
                raw.toString())).check().output().trim();
        try {
            assertFsckClean(Path.of(loop));
            String image = raw + "@@" + disk.partitionOffset();
            FatFixture.Tool info = mtools("minfo", "-i", image, "::");
            assertTrue(info.output().contains("cluster size: 64 sectors"), info.output());
            assertMtoolsReadsBack(fx.expected, image);
        } finally {
            FatFixture.Tool.run(List.of("losetup", "-d", loop)).check();
        }
    }

    static void assertFsckClean(Path partition) throws IOException {
        FatFixture.Tool fsck = FatFixture.Tool.run(List.of("fsck.fat", "-n", "-V", partition.toString()));
        assertEquals(0, fsck.exit(), fsck.output());
        List<String> unexpected = new ArrayList<>();
        for (String line : fsck.output().split("\n")) {
            boolean routine = line.startsWith("fsck.fat ") || line.startsWith("Checking we can access the last sector")
                    || line.startsWith("Starting check/repair pass.") || line.startsWith("Starting verification pass.")
                    || line.matches(".*: \\d+ files, \\d+/\\d+ clusters") || line.isBlank();
            if (!routine) {
                unexpected.add(line);
            }
        }
        assertEquals(List.of(), unexpected, fsck.output());
    }

    /**
     * Copies the whole volume out with {@code mcopy -s} and compares every file by name and sha256. mtools
     * converts long names one UTF-16 unit at a time, so each half of a surrogate pair (emoji) comes out as
     * '_'; fusefat, which does combine them, checks those names exactly.
     */
    void assertMtoolsReadsBack(Map<String, String> sources, String image) throws IOException {
        Map<String, String> expected = new TreeMap<>();
        sources.forEach((name, sha) -> expected.put(asMtoolsShowsIt(name), sha));
        Map<String, String> seen = FatFixture.copyOut(image, temp.resolve("mcopy-" + System.nanoTime()));
        assertEquals(expected, seen);
    }

    static String asMtoolsShowsIt(String name) {
        return name.replaceAll("[\\x{10000}-\\x{10FFFF}]", "__");
    }

    static FatFixture.Tool mtools(String... command) throws IOException {
        return FatFixture.Tool.run(List.of(command), MTOOLS).check();
    }

    static byte[] bytes(int size, int seed) {
        byte[] b = new byte[size];
        new java.util.Random(seed).nextBytes(b);
        return b;
    }
}
