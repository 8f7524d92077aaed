package dev.dcd.tests.catalog;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The launcher's start-up archive and RocksDB's native library cache, through the real {@code ./dcd} and
 * {@code dcd.jar}: a missing, stale or corrupt archive is rebuilt or ignored, never an error, and the
 * native library lands once in its cache instead of the temporary directory.
 */
class LauncherStartupIT {
    private static final String PREPARING = "dcd: preparing the start-up archive (once per build)\n";

    @TempDir
    Path temp;

    private Dcd.Result launcher(Path archive, String... args) throws Exception {
        List<String> command = new java.util.ArrayList<>(List.of(Dcd.REPO.resolve("dcd").toString(),
                "--home", temp.resolve("home").toString()));
        command.addAll(List.of(args));
        return Dcd.exec(Dcd.REPO, Map.of("DCD_CDS_ARCHIVE", archive.toString()), command);
    }

    @Test
    void aMissingArchiveIsMadeOnceAndThenUsedSilently() throws Exception {
        Path archive = temp.resolve("dcd.jsa");
        String help = Dcd.ok(temp.resolve("home"), "--help").out();

        Dcd.Result first = launcher(archive, "--help");
        Dcd.Result second = launcher(archive, "--help");

        assertEquals(0, first.code(), first.toString());
        assertEquals(PREPARING, first.err());
        assertEquals(help, first.out());
        assertTrue(Files.size(archive) > 1 << 20, "an archive of the warm-up's classes");
        assertEquals(new Dcd.Result(0, help, ""), second);
        try (Stream<Path> beside = Files.list(temp)) {
            assertEquals(List.of(archive), beside.filter(p -> p.getFileName().toString().startsWith("dcd.jsa")).toList(),
                    "neither the class list nor a temporary archive is left behind");
        }
    }

    @Test
    void anArchiveOlderThanTheJarIsRebuilt() throws Exception {
        Path archive = temp.resolve("dcd.jsa");
        launcher(archive, "--version");
        Files.setLastModifiedTime(archive, FileTime.fromMillis(0));

        Dcd.Result r = launcher(archive, "catalog", "list");

        assertEquals(0, r.code(), r.toString());
        assertEquals(PREPARING, r.err());
        assertTrue(Files.getLastModifiedTime(archive).toMillis() > Files.getLastModifiedTime(Dcd.JAR).toMillis());
    }

    @Test
    void aCorruptArchiveIsNoError() throws Exception {
        Path archive = Files.write(temp.resolve("dcd.jsa"), "not an archive".repeat(1000).getBytes());

        Dcd.Result r = launcher(archive, "--version");

        assertEquals(new Dcd.Result(0, "dcd 0.1.0\n", ""), r);
    }

    @Test
    void rocksDbsLibraryGoesToTheCacheOnceAndNotToTheTemporaryDirectory() throws Exception {
        Path tmp = Files.createDirectories(temp.resolve("tmp"));
        Path cache = temp.resolve("native");
        List<String> command = List.of("java", "-Djava.io.tmpdir=" + tmp, "-jar", Dcd.JAR.toString(),
                "--home", temp.resolve("home").toString(), "catalog", "list");

        Dcd.Result first = Dcd.exec(Dcd.REPO, Map.of("DCD_NATIVE_CACHE", cache.toString()), command);
        Path lib;
        try (Stream<Path> dirs = Files.list(cache)) {
            // the name RocksDB.loadLibrary(List) asks for, see RocksNative
            lib = dirs.toList().get(0).resolve("librocksdbjnijni-linux64.so");
        }
        FileTime extracted = Files.getLastModifiedTime(lib);
        Dcd.Result second = Dcd.exec(Dcd.REPO, Map.of("DCD_NATIVE_CACHE", cache.toString()), command);

        assertEquals(0, first.code(), first.toString());
        assertEquals(0, second.code(), second.toString());
        assertEquals(extracted, Files.getLastModifiedTime(lib), "extracted once, reused after");
        try (Stream<Path> left = Files.list(tmp)) {
            assertEquals(List.of(), left.filter(p -> p.getFileName().toString().contains("rocksdb")).toList());
        }
    }
}
