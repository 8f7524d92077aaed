package dev.dcd.catalog;

import dev.dcd.block.BlockDevice;
import dev.dcd.vdisk.AppVdisk;
import dev.dcd.vdisk.Entry;
import dev.dcd.vdisk.EntryType;
import dev.dcd.vdisk.Manifest;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ImporterTest {
    @TempDir
    Path temp;
    Fixture fx;
    Path work;

    @BeforeEach
    void open() throws IOException {
        fx = new Fixture(temp.resolve("home"));
        work = Files.createDirectories(temp.resolve("work"));
    }

    @AfterEach
    void close() throws IOException {
        fx.close();
    }

    /** A source tree with everything a real app has: nested dirs, modes, a symlink, a hardlink, binary data. */
    private Path sampleTree(String name) throws IOException {
        Path root = Files.createDirectories(work.resolve(name));
        Files.createDirectories(root.resolve("bin"));
        Files.createDirectories(root.resolve("share/doc"));
        Files.writeString(root.resolve("bin/tool"), "#!/bin/sh\necho tool\n");
        Files.setPosixFilePermissions(root.resolve("bin/tool"), PosixFilePermissions.fromString("rwxr-xr-x"));
        byte[] random = new byte[200_000];
        new Random(42).nextBytes(random);
        Files.write(root.resolve("share/data.bin"), random);
        Files.writeString(root.resolve("share/doc/README"), "read me\n");
        Files.writeString(root.resolve("share/doc/empty"), "");
        Files.createSymbolicLink(root.resolve("bin/alias"), Path.of("tool"));
        Files.createLink(root.resolve("share/doc/README.hard"), root.resolve("share/doc/README"));
        return root;
    }

    private Manifest manifestOf(AppVersion app) throws IOException {
        try (BlockDevice device = fx.local.open(app.id())) {
            return AppVdisk.open(device).manifest();
        }
    }

    /** Every regular file under {@code dir} is in the vdisk with the same bytes, and nothing else is. */
    private void assertSameFiles(AppVersion app, Path dir) throws IOException {
        Map<String, String> expected = new HashMap<>();
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) walk::iterator) {
                if (Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
                    expected.put(dir.relativize(p).toString(), Archives.sha256(p));
                }
            }
        }
        Map<String, String> actual = new HashMap<>();
        try (BlockDevice device = fx.local.open(app.id())) {
            AppVdisk vdisk = AppVdisk.open(device);
            for (Entry e : vdisk.manifest().entries()) {
                if (e.isFile() || e.isHardlink()) {
                    try (InputStream in = vdisk.open(e)) {
                        actual.put(e.path(), Archives.sha256(in));
                    }
                }
            }
        }
        assertEquals(expected, actual);
    }

    // ------------------------------------------------------------------ sources that import

    @Test
    void aDirectoryImportsWithModesSymlinksHardlinksAndIdenticalBytes() throws IOException {
        Path root = sampleTree("tool-1.4.2");
        AppVersion app = fx.importSource(root).app();
        assertEquals("tool", app.name());
        assertEquals("1.4.2", app.version());
        assertEquals(5, app.fileCount());
        assertEquals(Fixture.NOW.toEpochMilli(), app.importedAt());
        assertSameFiles(app, root);
        Manifest m = manifestOf(app);
        assertEquals(0755, m.entry("bin/tool").mode());
        assertEquals(EntryType.SYMLINK, m.entry("bin/alias").type());
        assertEquals("tool", m.entry("bin/alias").target());
        assertEquals(EntryType.HARDLINK, m.entry("share/doc/README.hard").type());
        assertEquals(fx.catalog.app("tool", "1.4.2").orElseThrow(), app);
        assertEquals(1, fx.local.list().size());
        assertEquals(app.vdiskBytes(), fx.local.list().get(0).size());
        assertEquals(java.util.List.of(), fx.state().tmpFiles());
    }

    @ParameterizedTest
    @ValueSource(strings = {"tar", "tar.gz", "tgz", "tar.xz", "tar.bz2", "tar.zst"})
    void everyTarFlavourMadeByGnuTarImportsWithIdenticalBytes(String suffix) throws Exception {
        Path root = sampleTree("src");
        String flag = switch (suffix) {
            case "tar" -> "";
            case "tar.gz", "tgz" -> "-z";
            case "tar.xz" -> "-J";
            case "tar.bz2" -> "-j";
            default -> "--zstd";
        };
        Path archive = work.resolve("pkg-2.0." + suffix);
        Archives.sh(root, "tar " + flag + " -cf " + archive + " .");
        AppVersion app = fx.importSource(archive).app();
        assertEquals("pkg@2.0", app.label());
        assertSameFiles(app, root);
        Manifest m = manifestOf(app);
        // tar stores whichever name it meets first as the file and the other as a link to it.
        Entry readme = m.entry("share/doc/README");
        Entry hard = m.entry("share/doc/README.hard");
        Entry link = readme.isHardlink() ? readme : hard;
        Entry file = readme.isHardlink() ? hard : readme;
        assertEquals(EntryType.HARDLINK, link.type());
        assertEquals(EntryType.FILE, file.type());
        assertEquals(file.path(), link.target());
        assertEquals("tool", m.entry("bin/alias").target());
        assertEquals(0755, m.entry("bin/tool").mode());
    }

    @Test
    void aZipImportsWithUnixModesDirectoriesAndSymlinks() throws IOException {
        byte[] big = new byte[300_000];
        new Random(7).nextBytes(big);
        Path zip = new Archives.Zip(work.resolve("web-3.1.zip"))
                .dir("static")
                .file("static/app.js", "console.log(1)\n")
                .file("bin/run", "#!/bin/sh\n".getBytes(StandardCharsets.UTF_8), 0755, true)
                .file("blob", big, 0600, false)
                .symlink("current", "static")
                .write();
        AppVersion app = fx.importSource(zip).app();
        assertEquals("web@3.1", app.label());
        Manifest m = manifestOf(app);
        assertEquals(0755, m.entry("bin/run").mode());
        assertEquals(0600, m.entry("blob").mode());
        assertEquals(big.length, m.entry("blob").size());
        assertEquals(EntryType.SYMLINK, m.entry("current").type());
        assertEquals("static", m.entry("current").target());
        assertEquals(EntryType.DIRECTORY, m.entry("static").type());
    }

    @ParameterizedTest
    @ValueSource(strings = {"xz", "gzip", "zstd"})
    void aDebBuiltByDpkgDebImportsItsDataUnderThePackageNameAndVersion(String compression) throws Exception {
        Path pkg = Files.createDirectories(work.resolve("pkg"));
        Files.createDirectories(pkg.resolve("DEBIAN"));
        Files.writeString(pkg.resolve("DEBIAN/control"), "Package: demo-tool\nVersion: 1:2.5-1\nArchitecture: all\n"
                + "Maintainer: dcd <dcd@example.org>\nDescription: test package\n");
        Files.createDirectories(pkg.resolve("usr/bin"));
        Files.writeString(pkg.resolve("usr/bin/demo-tool"), "#!/bin/sh\necho demo\n");
        Files.setPosixFilePermissions(pkg.resolve("usr/bin/demo-tool"), PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.createDirectories(pkg.resolve("usr/share/doc/demo-tool"));
        Files.writeString(pkg.resolve("usr/share/doc/demo-tool/copyright"), "public domain\n");
        Path deb = work.resolve("whatever_name.deb");
        Archives.run(work, "dpkg-deb", "--root-owner-group", "-Z" + compression, "--build", pkg.toString(), deb.toString());
        AppVersion app = fx.importSource(deb).app();
        assertEquals("demo-tool@1:2.5-1", app.label());
        Path extracted = work.resolve("extracted");
        Archives.run(work, "dpkg-deb", "-x", deb.toString(), extracted.toString());
        assertSameFiles(app, extracted);
        assertNull(manifestOf(app).entry("DEBIAN/control"));
    }

    @Test
    void nameAndVersionComeFromFlagsThenFileName() throws IOException {
        Path tree = sampleTree("foo-1.0");
        assertEquals("foo@1.0", fx.importSource(tree).app().label());
        Path tgz = new Archives.Tar().file("a", "a").write(work.resolve("is-number-7.0.0.tgz"));
        assertEquals("is-number@7.0.0", fx.importSource(tgz).app().label());
        Path v = new Archives.Tar().file("a", "a").write(work.resolve("tool_v2.3.tar"));
        assertEquals("tool@2.3", fx.importSource(v).app().label());
        Path plain = new Archives.Tar().file("a", "b").write(work.resolve("thing.tar"));
        assertEquals("other@9", fx.importSource(ImportRequest.builder(plain).name("other").version("9").build()).app().label());
        assertEquals("thing@1", fx.importSource(ImportRequest.builder(plain).version("1").build()).app().label());
    }

    @Test
    void deviceNodesAndFifosAreSkippedWithAWarning() throws Exception {
        Path tar = new Archives.Tar()
                .file("ok", "fine")
                .special("dev/null", TarArchiveEntry.LF_CHR)
                .special("dev/sda", TarArchiveEntry.LF_BLK)
                .special("pipe", TarArchiveEntry.LF_FIFO)
                .write(work.resolve("dev-1.tar"));
        AppVersion app = fx.importSource(tar).app();
        assertEquals(1, app.fileCount());
        assertNull(manifestOf(app).entry("pipe"));
        assertNull(manifestOf(app).entry("dev/null"));
        assertEquals(3, fx.warnings.size(), fx.warnings.toString());
        assertTrue(fx.warnings.get(0).contains("character device 'dev/null'"), fx.warnings.get(0));
        assertTrue(fx.warnings.get(2).contains("fifo 'pipe'"), fx.warnings.get(2));

        Path dir = Files.createDirectories(work.resolve("withfifo-1"));
        Files.writeString(dir.resolve("file"), "x");
        Archives.run(dir, "mkfifo", "queue");
        fx.warnings.clear();
        AppVersion fromDir = fx.importSource(dir).app();
        assertEquals(1, fromDir.fileCount());
        assertTrue(fx.warnings.get(0).contains("skipped special file 'queue'"), fx.warnings.toString());
    }

    @Test
    void identicalContentUnderADifferentVersionGetsItsOwnVdisk() throws IOException {
        Path tree = sampleTree("same-1");
        AppVersion one = fx.importSource(tree).app();
        AppVersion two = fx.importSource(ImportRequest.builder(tree).version("2").build()).app();
        assertFalse(one.contentId().equals(two.contentId()), "the manifest names the version, so ids differ");
        assertEquals(2, fx.local.list().size());
    }

    // ------------------------------------------------------------------ bad input: one line, nothing changed

    private void assertRejected(ImportRequest request, String fragment) throws IOException {
        fx.importSource(new Archives.Tar().file("keep", "me").write(work.resolve("baseline-" + System.nanoTime() + "-1.tar")));
        Fixture.State before = fx.state();
        IOException e = assertThrows(IOException.class, () -> fx.importSource(request));
        assertNotNull(e.getMessage());
        assertTrue(e.getMessage().contains(fragment), "message was: " + e.getMessage());
        assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
        assertEquals(before, fx.state(), "catalog, backend objects and temp files are unchanged");
    }

    private void assertRejected(Path source, String fragment) throws IOException {
        assertRejected(ImportRequest.builder(source).build(), fragment);
    }

    @Test
    void randomBytesNamedTarAreNotATarArchiveRatherThanABadName() throws IOException {
        byte[] noise = new byte[64 << 10];
        new Random(7).nextBytes(noise);
        for (int seed = 0; seed < 8; seed++) {
            new Random(seed).nextBytes(noise);
            Path file = Files.write(work.resolve("noise-" + seed + ".tar"), noise);
            assertRejected(file, "noise-" + seed + ".tar is not a tar archive");
        }
        assertRejected(Files.write(work.resolve("short-1.tar"), new byte[]{1, 2, 3}), "is not a tar archive");
    }

    @Test
    void aGzipBombIsRefusedNearTheFloorNotAtMaxSize() throws IOException {
        Path bomb = gzipOfZeros(work.resolve("bomb-1.tar.gz"), ExpansionGuard.FLOOR + (64L << 20));
        assertTrue(Files.size(bomb) < (1 << 20), "a bomb: " + Files.size(bomb) + " compressed bytes");
        assertRejected(bomb, "looks like a decompression bomb");
        IOException e = assertThrows(IOException.class, () -> fx.importSource(bomb));
        assertTrue(e.getMessage().startsWith("bomb-1.tar.gz expands more than 100 times its compressed size (256."),
                "refused near the floor, in its own words: " + e.getMessage());
    }

    @Test
    void aZipBombIsRefusedTooAndMaxRatioZeroLetsItThrough() throws IOException {
        Path bomb = work.resolve("zbomb-1.zip");
        try (var zip = new java.util.zip.ZipOutputStream(Files.newOutputStream(bomb))) {
            zip.putNextEntry(new java.util.zip.ZipEntry("zeros.bin"));
            byte[] zeros = new byte[1 << 20];
            for (long left = ExpansionGuard.FLOOR + (16L << 20); left > 0; left -= zeros.length) {
                zip.write(zeros);
            }
            zip.closeEntry();
        }
        assertRejected(bomb, "zbomb-1.zip expands more than 100 times its compressed size");
        ImportResult allowed = fx.importSource(ImportRequest.builder(bomb).maxRatio(0).build());
        assertEquals(ExpansionGuard.FLOOR + (16L << 20), allowed.app().byteCount());
    }

    @Test
    void maxRatioZeroTurnsTheGuardOff() throws IOException {
        ExpansionGuard off = new ExpansionGuard("z.tar.gz", 0);
        try (InputStream in = off.expanded(InputStream.nullInputStream())) {
            assertEquals(0, in.skip(1));
        }
        ExpansionGuard on = new ExpansionGuard("z.tar.gz", 2);
        InputStream zeros = on.expanded(new java.io.ByteArrayInputStream(new byte[(int) (ExpansionGuard.FLOOR / 64)]));
        on.addCompressed(1);
        // 4 MiB expanded from 1 byte is over the ratio but under the floor: allowed.
        assertEquals(ExpansionGuard.FLOOR / 64, zeros.readAllBytes().length);
    }

    /** A tar.gz whose single file is {@code bytes} zeros: about 1000:1, gzip's ceiling. */
    private static Path gzipOfZeros(Path file, long bytes) throws IOException {
        try (var out = new org.apache.commons.compress.archivers.tar.TarArchiveOutputStream(
                new java.util.zip.GZIPOutputStream(Files.newOutputStream(file), 1 << 16))) {
            TarArchiveEntry entry = new TarArchiveEntry("zeros.bin");
            entry.setSize(bytes);
            out.putArchiveEntry(entry);
            byte[] zeros = new byte[1 << 20];
            for (long left = bytes; left > 0; left -= zeros.length) {
                out.write(zeros, 0, (int) Math.min(zeros.length, left));
            }
            out.closeArchiveEntry();
        }
        return file;
    }

    @Test
    void pathTraversalInATarIsRejected() throws IOException {
        assertRejected(new Archives.Tar().file("ok", "x").file("../evil", "x").write(work.resolve("t-1.tar")),
                "uses '..' to leave the app root");
        assertRejected(new Archives.Tar().file("a/../../evil", "x").write(work.resolve("t-2.tar")),
                "uses '..' to leave the app root");
    }

    @Test
    void pathTraversalInAZipIsRejected() throws IOException {
        assertRejected(new Archives.Zip(work.resolve("z-1.zip")).file("../../etc/cron.d/x", "x").write(),
                "uses '..' to leave the app root");
    }

    @Test
    void absolutePathsAreRejected() throws IOException {
        assertRejected(new Archives.Tar().file("/etc/passwd", "root").write(work.resolve("abs-1.tar")),
                "is an absolute path");
        assertRejected(new Archives.Zip(work.resolve("abs-2.zip")).file("/etc/passwd", "root").write(),
                "is an absolute path");
    }

    @Test
    void symlinksEscapingTheAppRootAreRejected() throws IOException {
        assertRejected(new Archives.Tar().dir("a").symlink("a/link", "../../etc/shadow").write(work.resolve("s-1.tar")),
                "escapes the app root");
        assertRejected(new Archives.Zip(work.resolve("s-2.zip")).symlink("link", "../outside").write(),
                "escapes the app root");
        Path dir = Files.createDirectories(work.resolve("s-3"));
        Files.createSymbolicLink(dir.resolve("up"), Path.of("../../.."));
        assertRejected(dir, "escapes the app root");
    }

    @Test
    void entriesThroughASymlinkAreRejected() throws IOException {
        assertRejected(new Archives.Tar().symlink("etc", "sub").file("etc/passwd", "x").write(work.resolve("via-1.tar")),
                "which is a symlink, not a directory");
    }

    @Test
    void hardlinksEscapingTheAppRootAreRejected() throws IOException {
        assertRejected(new Archives.Tar().file("a", "x").hardlink("b", "../../etc/shadow").write(work.resolve("h-1.tar")),
                "escapes the app root");
        assertRejected(new Archives.Tar().file("a", "x").hardlink("b", "/etc/shadow").write(work.resolve("h-2.tar")),
                "escapes the app root");
        assertRejected(new Archives.Tar().hardlink("b", "missing").write(work.resolve("h-3.tar")),
                "does not name a regular file earlier in the archive");
    }

    @Test
    void duplicateEntriesAreRejected() throws IOException {
        assertRejected(new Archives.Tar().file("a", "1").file("./a", "2").write(work.resolve("d-1.tar")),
                "duplicate entry './a'");
        assertRejected(new Archives.Zip(work.resolve("d-2.zip")).file("x/y", "1").file("x/y", "2").write(),
                "duplicate entry 'x/y'");
    }

    @Test
    void aTarGzCutInHalfIsRejectedAsTruncated() throws Exception {
        Path root = sampleTree("src");
        Path whole = work.resolve("cut-1.tar.gz");
        Archives.sh(root, "tar -czf " + whole + " .");
        byte[] bytes = Files.readAllBytes(whole);
        Path half = Files.write(work.resolve("half-1.tar.gz"), Arrays.copyOf(bytes, bytes.length / 2));
        assertRejected(half, "half-1.tar.gz is truncated or corrupt");
    }

    @Test
    void aTarXzOrPlainTarCutShortIsRejected() throws Exception {
        Path root = sampleTree("src");
        Path xz = work.resolve("cut-1.tar.xz");
        Archives.sh(root, "tar -cJf " + xz + " .");
        byte[] bytes = Files.readAllBytes(xz);
        assertRejected(Files.write(work.resolve("cutxz-1.tar.xz"), Arrays.copyOf(bytes, bytes.length - 40)),
                "is truncated or corrupt");
        Path tar = work.resolve("cut-1.tar");
        Archives.sh(root, "tar -cf " + tar + " .");
        byte[] plain = Files.readAllBytes(tar);
        // Cut inside the 200 kB random file's data.
        assertRejected(Files.write(work.resolve("cuttar-1.tar"), Arrays.copyOf(plain, 100_000)), "truncated");
    }

    @Test
    void aZipWithFlippedBytesIsRejectedAsCorrupt() throws IOException {
        byte[] content = new byte[100_000];
        new Random(3).nextBytes(content);
        Path stored = new Archives.Zip(work.resolve("flip-1.zip")).file("data", content, 0644, true).write();
        byte[] bytes = Files.readAllBytes(stored);
        bytes[50_000] ^= 0x5a;
        Files.write(stored, bytes);
        assertRejected(stored, "fails its CRC check");

        byte[] text = "all work and no play makes jack a dull boy\n".repeat(3000).getBytes(StandardCharsets.UTF_8);
        Path deflated = new Archives.Zip(work.resolve("flip-2.zip")).file("text", text, 0644, false).write();
        byte[] d = Files.readAllBytes(deflated);
        for (int i = 100; i < 200; i++) {
            d[i] ^= (byte) 0xff;
        }
        Files.write(deflated, d);
        assertRejected(deflated, "flip-2.zip is");

        Path noDirectory = new Archives.Zip(work.resolve("flip-3.zip")).file("a", "b").write();
        byte[] z = Files.readAllBytes(noDirectory);
        Files.write(noDirectory, Arrays.copyOf(z, z.length - 30));
        assertRejected(noDirectory, "flip-3.zip is truncated or corrupt");
    }

    @Test
    void aNameLongerThan255BytesIsRejected() throws IOException {
        String longName = "d/" + "n".repeat(256);
        assertRejected(new Archives.Tar().file(longName, "x").write(work.resolve("long-1.tar")),
                "has a name longer than 255 bytes");
        assertRejected(new Archives.Zip(work.resolve("long-2.zip")).file("é".repeat(128), "x").write(),
                "has a name longer than 255 bytes");
    }

    @Test
    void invalidUtf8NamesInATarAreRejectedNotMangled() throws IOException {
        // ISO-8859-1 writes each char below 256 as that byte: "caf\u00e9" becomes the raw bytes 63 61 66 e9.
        Path tar = new Archives.Tar("ISO-8859-1").file("caf\u00e9", "x").write(work.resolve("latin-1.tar"));
        assertRejected(tar, "not valid UTF-8");
    }

    @Test
    void validUtf8NamesInTarSurviveIncludingPaxHeaders() throws IOException {
        String name = "caf\u00e9/\u65e5\u672c\u8a9e-" + "x".repeat(120);
        Path tar = new Archives.Tar().file(name, "x").write(work.resolve("utf-1.tar"));
        assertNotNull(manifestOf(fx.importSource(tar).app()).entry(name));
    }

    @Test
    void invalidUtf8NamesInAZipAreRejected() throws IOException {
        Path zip = new Archives.Zip(work.resolve("latin-2.zip"), "ISO-8859-1").file("na\u00efve", "x").write();
        assertRejected(zip, "not valid UTF-8");
    }

    @Test
    void invalidUtf8NamesInADirectoryAreRejected() throws Exception {
        Path dir = Files.createDirectories(work.resolve("rawnames-1"));
        Archives.sh(dir, "printf x > \"$(printf 'bad\\377name')\"");
        assertRejected(dir, "not valid UTF-8");
    }

    @Test
    void invalidUtf8SymlinkTargetsAreRejected() throws Exception {
        Path dir = Files.createDirectories(work.resolve("rawtarget-1"));
        Archives.sh(dir, "ln -s \"$(printf 'to\\377where')\" link");
        assertRejected(dir, "has a target that is not valid UTF-8");
        Path tar = new Archives.Tar("ISO-8859-1").symlink("link", "caf\u00e9").write(work.resolve("rawtarget-2.tar"));
        assertRejected(tar, "not valid UTF-8");
    }

    @Test
    void aZipBombStopsAtMaxSize() throws IOException {
        Path bomb = work.resolve("bomb-1.zip");
        Archives.Zip zip = new Archives.Zip(bomb);
        byte[] zeros = new byte[16 << 20];
        for (int i = 0; i < 4; i++) {
            zip.file("zeros" + i, zeros, 0644, false);
        }
        zip.write();
        assertTrue(Files.size(bomb) < 300_000, "64 MiB of zeros compresses to " + Files.size(bomb));
        assertRejected(ImportRequest.builder(bomb).maxSize(8L << 20).build(), "expands past the size limit of 8388608 bytes");
    }

    @Test
    void aTarGzBombStopsAtMaxSize() throws Exception {
        Path bomb = work.resolve("bomb-2.tar.gz");
        Archives.sh(work, "head -c 50000000 /dev/zero > zeros && tar -czf " + bomb + " zeros && rm zeros");
        assertRejected(ImportRequest.builder(bomb).maxSize(1L << 20).build(), "expands past the size limit");
    }

    @Test
    void importingTheSameVersionTwiceIsRejected() throws IOException {
        Path tree = sampleTree("twice-1.0");
        fx.importSource(tree);
        assertRejected(tree, "app twice@1.0 is already in the catalog");
    }

    @Test
    void anUnknownBackendIsRejected() throws IOException {
        assertRejected(ImportRequest.builder(sampleTree("b-1")).backend("nowhere").build(), "unknown backend 'nowhere'");
    }

    @Test
    void aMissingSourceIsRejected() throws IOException {
        assertRejected(work.resolve("nothing-1.tar.gz"), "does not exist");
    }

    @Test
    void aFileNameWithoutAVersionAsksForOne() throws IOException {
        assertRejected(new Archives.Tar().file("a", "b").write(work.resolve("noversion.tar")), "pass --version");
    }

    @Test
    void anUnknownArchiveTypeIsRejected() throws IOException {
        assertRejected(Files.writeString(work.resolve("x-1.rar"), "Rar!"), "cannot tell the archive type");
    }

    @Test
    void aBadAppNameIsRejected() throws IOException {
        assertRejected(ImportRequest.builder(sampleTree("n-1")).name("a/b").build(), "app name 'a/b' is invalid");
        assertRejected(ImportRequest.builder(sampleTree("n-2")).version("1@2").build(), "version '1@2' is invalid");
    }

    @Test
    void aTarThatIsNotATarIsRejected() throws IOException {
        byte[] junk = new byte[5000];
        new Random(1).nextBytes(junk);
        assertRejected(Files.write(work.resolve("junk-1.tar.gz"), junk), "junk-1.tar.gz is truncated or corrupt");
    }

    @Test
    void aDebCutShortIsRejected() throws Exception {
        Path pkg = Files.createDirectories(work.resolve("pkg/DEBIAN"));
        Files.writeString(pkg.resolve("control"), "Package: cut\nVersion: 1\nArchitecture: all\nMaintainer: x <x@y>\nDescription: d\n");
        Files.createDirectories(work.resolve("pkg/usr/share/cut"));
        byte[] random = new byte[100_000];
        new Random(5).nextBytes(random);
        Files.write(work.resolve("pkg/usr/share/cut/blob"), random);
        Path deb = work.resolve("cut.deb");
        Archives.run(work, "dpkg-deb", "--root-owner-group", "-Zgzip", "--build", work.resolve("pkg").toString(), deb.toString());
        byte[] bytes = Files.readAllBytes(deb);
        assertRejected(Files.write(work.resolve("short.deb"), Arrays.copyOf(bytes, bytes.length / 2)), "short.deb is truncated or corrupt");
    }

    @Test
    void whenTheCatalogCommitFailsTheUploadedVdiskIsDeleted() throws IOException {
        Path tree = sampleTree("late-1");
        Fixture.State before = fx.state();
        Importer failing = new Importer(fx.catalog, fx::backend, fx.tmp, () -> {
            throw new IllegalStateException("simulated crash between put and commit");
        });
        assertThrows(IllegalStateException.class,
                () -> failing.importSource(ImportRequest.builder(tree).build(), dev.dcd.backend.Progress.NONE, w -> { }));
        assertEquals(before, fx.state());
    }
}
