package dev.dcd.catalog;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.RocksDB;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RocksNativeTest {
    @TempDir
    Path root;

    @Test
    void theFirstStartExtractsTheJarsLibraryIntoAVersionedDirectory() throws Exception {
        Path dir = RocksNative.extract(root);

        assertEquals(root, dir.getParent());
        assertTrue(dir.getFileName().toString().startsWith("rocksdbjni-"), dir.toString());
        Path lib = dir.resolve(RocksNative.libraryFileName());
        assertEquals(sha256OfResource(), sha256(Files.readAllBytes(lib)));
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(1, files.count(), "no temporary file left beside the library");
        }
    }

    @Test
    void laterStartsReuseTheExtractedFileWithoutCopyingItAgain() throws Exception {
        Path lib = RocksNative.extract(root).resolve(RocksNative.libraryFileName());
        FileTime marked = FileTime.fromMillis(1_000_000_000_000L);
        Files.setLastModifiedTime(lib, marked);
        Object inode = Files.readAttributes(lib, "unix:ino").get("ino");

        Path again = RocksNative.extract(root).resolve(RocksNative.libraryFileName());

        assertEquals(lib, again);
        assertEquals(marked, Files.getLastModifiedTime(again));
        assertEquals(inode, Files.readAttributes(again, "unix:ino").get("ino"));
    }

    @Test
    void aTruncatedLibraryFromAKilledFirstStartIsReplaced() throws Exception {
        Path lib = RocksNative.extract(root).resolve(RocksNative.libraryFileName());
        Files.write(lib, new byte[4096]);

        RocksNative.extract(root);

        assertEquals(sha256OfResource(), sha256(Files.readAllBytes(lib)));
    }

    @Test
    void theCacheRootFollowsTheOverrideThenXdgThenHome() {
        assertEquals(Optional.of(Path.of("/c")), RocksNative.cacheRoot(Map.of("DCD_NATIVE_CACHE", "/c", "HOME", "/h")));
        assertEquals(Optional.of(Path.of("/x/dcd/native")), RocksNative.cacheRoot(Map.of("XDG_CACHE_HOME", "/x", "HOME", "/h")));
        assertEquals(Optional.of(Path.of("/h/.cache/dcd/native")), RocksNative.cacheRoot(Map.of("XDG_CACHE_HOME", "rel", "HOME", "/h")));
    }

    @Test
    void theCachedCopyCarriesTheNameRocksDbsDirectoryLoaderAsksFor() {
        assertEquals(RocksNative.resourceName().replace("librocksdbjni-", "librocksdbjnijni-"),
                RocksNative.libraryFileName());
    }

    @Test
    void aFreshJvmLoadsTheCachedLibraryAndExtractsNothingIntoTmp() throws Exception {
        Path tmp = Files.createDirectories(root.resolve("tmp"));
        Path cache = root.resolve("cache");
        ProcessBuilder probe = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Djava.io.tmpdir=" + tmp, "-cp", System.getProperty("java.class.path"), Probe.class.getName())
                .redirectErrorStream(true);
        probe.environment().put(RocksNative.CACHE_ENV, cache.toString());
        probe.environment().remove("ROCKSDB_MUSL_LIBC");
        Process process = probe.start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);

        assertTrue(process.waitFor(60, TimeUnit.SECONDS), "the probe JVM finished");
        assertEquals(0, process.exitValue(), output);
        assertEquals("loaded, libc preset to musl=false, in tmp: []", output.strip(),
                "RocksDB extracted nothing into java.io.tmpdir, nor asked ldd for the libc");
        try (Stream<Path> dirs = Files.list(cache)) {
            Path dir = dirs.findFirst().orElseThrow();
            assertTrue(Files.isRegularFile(dir.resolve(RocksNative.libraryFileName())), dir.toString());
        }
    }

    @Test
    void theLibcIsReadFromTheMappedLibraries() {
        String glibc = "7f0e1000-7f0e2000 r-xp 00000000 08:01 123 /usr/lib/x86_64-linux-gnu/libc.so.6\n";
        String musl = "7f0e1000-7f0e2000 r-xp 00000000 08:01 123 /lib/ld-musl-x86_64.so.1\n";
        String neither = "7f0e1000-7f0e2000 rw-p 00000000 00:00 0 [heap]\n";

        assertEquals(Optional.of(false), RocksNative.muslFromMaps(neither + glibc));
        assertEquals(Optional.of(true), RocksNative.muslFromMaps(musl + neither));
        assertEquals(Optional.empty(), RocksNative.muslFromMaps(neither));
        assertEquals(Optional.empty(), RocksNative.muslFromMaps(glibc + musl), "both: let RocksDB decide");
    }

    /** Runs in its own JVM: loads RocksDB the way {@link Catalog} does and says what it found. */
    public static final class Probe {
        public static void main(String[] args) throws Exception {
            RocksNative.presetLibc();
            java.lang.reflect.Field musl = org.rocksdb.util.Environment.class.getDeclaredField("MUSL_LIBC");
            musl.setAccessible(true);
            Object preset = musl.get(null);
            RocksNative.load();
            try (org.rocksdb.Options options = new org.rocksdb.Options()) {
                // a native constructor: RocksDB would extract its library into java.io.tmpdir if it was not loaded
            }
            // RocksDB's own loader deletes its copy only at exit, so look before exiting
            try (Stream<Path> left = Files.list(Path.of(System.getProperty("java.io.tmpdir")))) {
                System.out.println("loaded, libc preset to musl=" + preset + ", in tmp: " + left.toList());
            }
        }
    }

    private static String sha256OfResource() throws IOException, NoSuchAlgorithmException {
        try (InputStream in = RocksDB.class.getResourceAsStream("/" + RocksNative.resourceName())) {
            return sha256(in.readAllBytes());
        }
    }

    private static String sha256(byte[] bytes) throws NoSuchAlgorithmException {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    }
}
