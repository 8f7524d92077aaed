package dev.dcd.tests.catalog;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dcd.backend.Backend;
import dev.dcd.backend.Backends;
import dev.dcd.block.BlockDevice;
import dev.dcd.vdisk.AppVdisk;
import dev.dcd.vdisk.ContentId;
import dev.dcd.vdisk.Entry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Real-world packages through the real command line: a Debian package fetched with {@code apt-get download}
 * and an npm-style tarball, imported by {@code dcd.jar} in a separate process, listed by {@code catalog show},
 * and read back byte for byte.
 */
class RealPackagesImportIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path CACHE = Path.of("target", "packages").toAbsolutePath();

    @TempDir
    Path temp;

    /** Downloads once per checkout; apt lists are there because {@code ./dcd test} runs apt-get update. */
    private static Path helloDeb() throws Exception {
        Files.createDirectories(CACHE);
        try (Stream<Path> cached = Files.list(CACHE)) {
            var existing = cached.filter(p -> p.getFileName().toString().matches("hello_.*\\.deb")).findFirst();
            if (existing.isPresent()) {
                return existing.get();
            }
        }
        Dcd.tool(CACHE, "apt-get", "download", "hello");
        try (Stream<Path> cached = Files.list(CACHE)) {
            return cached.filter(p -> p.getFileName().toString().matches("hello_.*\\.deb")).findFirst().orElseThrow();
        }
    }

    /** sha256 of every regular file under a directory, by relative path. */
    private static Map<String, String> treeHashes(Path root) throws IOException {
        Map<String, String> hashes = new TreeMap<>();
        try (Stream<Path> walk = Files.walk(root)) {
            for (Path p : (Iterable<Path>) walk::iterator) {
                if (Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
                    hashes.put(root.relativize(p).toString(), Dcd.sha256(p));
                }
            }
        }
        return hashes;
    }

    /** Reads every file back out of the vdisk the catalog names, wherever the local backend put it. */
    private static Map<String, String> vdiskHashes(Path home, String contentId) throws IOException {
        Map<String, String> hashes = new TreeMap<>();
        try (Backend backend = Backends.open("local", Backends.parse("local://" + home.resolve("vdisks")));
             BlockDevice device = backend.open(new ContentId(contentId))) {
            AppVdisk vdisk = AppVdisk.open(device);
            for (Entry e : vdisk.manifest().entries()) {
                if (e.isFile() || e.isHardlink()) {
                    try (InputStream in = vdisk.open(e)) {
                        hashes.put(e.path(), Dcd.sha256(in));
                    }
                }
            }
        }
        return hashes;
    }

    /** The sha256 the CLI reports for each file in {@code catalog show --json}. */
    private static Map<String, String> shownHashes(Path home, String app) throws Exception {
        JsonNode show = JSON.readTree(Dcd.ok(home, "--json", "catalog", "show", app).out());
        Map<String, String> hashes = new TreeMap<>();
        for (JsonNode e : show.get("entries")) {
            if (e.has("sha256")) {
                hashes.put(e.get("path").asText(), e.get("sha256").asText());
            }
        }
        return hashes;
    }

    @Test
    void aDebFromTheDebianArchiveImportsUnderItsPackageNameAndEveryFileReadsBackIntact() throws Exception {
        Path deb = helloDeb();
        Path home = temp.resolve("home");
        String version = Dcd.tool(temp, "dpkg-deb", "-f", deb.toString(), "Version").trim();
        Dcd.Result imported = Dcd.ok(home, "catalog", "import", deb.toString());
        assertTrue(imported.out().startsWith("imported hello@" + version + ": "), imported.toString());

        String show = Dcd.ok(home, "catalog", "show", "hello").out();
        assertTrue(show.contains(" usr/bin/hello\n"), show);
        assertTrue(show.contains(" usr/share/doc/hello/copyright\n"), show);
        assertTrue(show.contains("file  0755  0:0 "), show);

        Path extracted = temp.resolve("extracted");
        Dcd.tool(temp, "dpkg-deb", "-x", deb.toString(), extracted.toString());
        Map<String, String> expected = treeHashes(extracted);
        assertTrue(expected.size() > 5, expected.toString());
        String contentId = JSON.readTree(Dcd.ok(home, "--json", "catalog", "list").out()).get(0).get("contentId").asText();
        assertEquals(expected, vdiskHashes(home, contentId));
        assertEquals(expected, shownHashes(home, "hello@" + version));
    }

    @Test
    void anNpmStyleTarballImportsWithItsPackagePrefix() throws Exception {
        Path pkg = Files.createDirectories(temp.resolve("build/package/lib"));
        Files.writeString(pkg.getParent().resolve("package.json"), "{\n  \"name\": \"is-number\",\n  \"version\": \"7.0.0\",\n"
                + "  \"main\": \"index.js\",\n  \"license\": \"MIT\"\n}\n");
        Files.writeString(pkg.getParent().resolve("index.js"), "'use strict';\nmodule.exports = require('./lib/is-number');\n");
        Files.writeString(pkg.resolve("is-number.js"), "module.exports = function(num) {\n"
                + "  if (typeof num === 'number') return num - num === 0;\n"
                + "  if (typeof num === 'string' && num.trim() !== '') return Number.isFinite(+num);\n"
                + "  return false;\n};\n");
        Files.writeString(pkg.getParent().resolve("README.md"), "# is-number\n");
        Path tgz = temp.resolve("is-number-7.0.0.tgz");
        // The layout 'npm pack' writes: everything under package/, gzip-compressed.
        Dcd.tool(temp.resolve("build"), "tar", "-czf", tgz.toString(), "package");
        Path home = temp.resolve("home");
        Dcd.Result imported = Dcd.ok(home, "catalog", "import", tgz.toString());
        assertTrue(imported.out().startsWith("imported is-number@7.0.0: 4 files, "), imported.toString());
        String show = Dcd.ok(home, "catalog", "show", "is-number@7.0.0").out();
        assertTrue(show.contains(" package/package.json\n"), show);
        assertTrue(show.contains(" package/lib/is-number.js\n"), show);
        Map<String, String> expected = treeHashes(temp.resolve("build"));
        assertEquals(expected, shownHashes(home, "is-number"));
        String contentId = JSON.readTree(Dcd.ok(home, "--json", "catalog", "show", "is-number").out())
                .get("app").get("contentId").asText();
        assertEquals(expected, vdiskHashes(home, contentId));
    }

    @Test
    void badInputThroughTheRealBinaryIsOneLineWithExitCodeOneAndChangesNothing() throws Exception {
        Path home = temp.resolve("home");
        Path good = Files.createDirectories(temp.resolve("good-1.0"));
        Files.writeString(good.resolve("f"), "x");
        Dcd.ok(home, "catalog", "import", good.toString());
        String before = Dcd.ok(home, "--json", "catalog", "list").out();
        Path evil = Files.createDirectories(temp.resolve("evil"));
        Dcd.tool(evil, "bash", "-c", "echo x > f && tar -cf ../evil-1.tar --transform='s,^,../../,' f");
        Dcd.Result r = Dcd.jar(home, "catalog", "import", temp.resolve("evil-1.tar").toString());
        assertEquals(1, r.code(), r.toString());
        assertEquals("dcd: entry '../../f' uses '..' to leave the app root\n", r.err());
        assertEquals(before, Dcd.ok(home, "--json", "catalog", "list").out());
        try (Stream<Path> tmp = Files.list(home.resolve("tmp"))) {
            assertEquals(0, tmp.count());
        }
        try (Stream<Path> vdisks = Files.list(home.resolve("vdisks"))) {
            assertEquals(1, vdisks.count());
        }
        assertEquals(2, Dcd.jar(home, "catalog", "import").code());
    }
}
