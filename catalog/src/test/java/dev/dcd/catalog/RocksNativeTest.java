package dev.dcd.catalog;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.RocksDB;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;
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

    private static String sha256OfResource() throws IOException, NoSuchAlgorithmException {
        try (InputStream in = RocksDB.class.getResourceAsStream("/" + RocksNative.libraryFileName())) {
            return sha256(in.readAllBytes());
        }
    }

    private static String sha256(byte[] bytes) throws NoSuchAlgorithmException {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    }
}
