package dev.dcd.catalog;

import org.rocksdb.RocksDB;
import org.rocksdb.util.Environment;

import java.io.IOException;
import java.io.InputStream;
import java.net.JarURLConnection;
import java.net.URL;
import java.net.URLConnection;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.jar.JarEntry;

/**
 * Loads RocksDB's JNI library from a versioned cache directory, extracting it there once.
 *
 * <p>{@link RocksDB#loadLibrary()} copies its 17 MB library out of the jar into a new temporary file on every
 * start and deletes it only on a clean exit, so each start pays for the copy and each killed process leaves
 * one behind in /tmp. Here the library goes once into {@code ~/.cache/dcd/native/rocksdbjni-<crc>-<size>/}
 * (or under {@code $XDG_CACHE_HOME}), named by the CRC-32 and size the jar records for it, so a different
 * RocksDB build gets a directory of its own and a file there is never stale. The copy is written to a
 * temporary name and renamed, so concurrent first starts each see either nothing or the whole file.
 * Anything unusual (no writable cache, the library not in a jar) falls back to RocksDB's own loader.
 */
public final class RocksNative {
    /** Overrides the cache root; what tests and read-only homes use. */
    public static final String CACHE_ENV = "DCD_NATIVE_CACHE";
    private static final String PREFIX = "rocksdbjni-";

    private RocksNative() {
    }

    /** Loads the library once per JVM: from the cache when possible, else the way RocksDB does it. */
    static void load() {
        Optional<Path> dir = cacheRoot(System.getenv()).flatMap(root -> {
            try {
                return Optional.of(extract(root));
            } catch (IOException | RuntimeException e) {
                return Optional.empty();
            }
        });
        if (dir.isPresent()) {
            try {
                RocksDB.loadLibrary(List.of(dir.get().toString()));
                return;
            } catch (UnsatisfiedLinkError e) {
                // a cache on a noexec mount, say: RocksDB's own loader may still work
            }
        }
        RocksDB.loadLibrary();
    }

    /** {@code $DCD_NATIVE_CACHE}, else {@code $XDG_CACHE_HOME/dcd/native}, else {@code ~/.cache/dcd/native}. */
    static Optional<Path> cacheRoot(Map<String, String> env) {
        String explicit = env.get(CACHE_ENV);
        if (explicit != null && !explicit.isBlank()) {
            return Optional.of(Path.of(explicit));
        }
        String xdg = env.get("XDG_CACHE_HOME");
        if (xdg != null && !xdg.isBlank() && Path.of(xdg).isAbsolute()) {
            return Optional.of(Path.of(xdg, "dcd", "native"));
        }
        String home = env.getOrDefault("HOME", System.getProperty("user.home"));
        return home == null || home.isBlank() ? Optional.empty() : Optional.of(Path.of(home, ".cache", "dcd", "native"));
    }

    /** The file name RocksDB looks for in a directory handed to {@link RocksDB#loadLibrary(List)}. */
    static String libraryFileName() {
        return Environment.getJniLibraryFileName("rocksdb");
    }

    /**
     * Makes sure {@code root/rocksdbjni-<crc>-<size>/<library>} holds this jar's library and returns that
     * directory; copies it out of the jar only when it is not there yet (or has the wrong size).
     */
    static Path extract(Path root) throws IOException {
        String name = libraryFileName();
        URL url = RocksDB.class.getResource("/" + name);
        if (url == null) {
            throw new IOException("no " + name + " in the class path");
        }
        URLConnection connection = url.openConnection();
        if (!(connection instanceof JarURLConnection jar)) {
            throw new IOException(name + " is not in a jar");
        }
        JarEntry entry = jar.getJarEntry();
        if (entry.getSize() < 0 || entry.getCrc() < 0) {
            throw new IOException(name + " has no size or CRC in its jar");
        }
        Path dir = root.resolve(PREFIX + Long.toHexString(entry.getCrc()) + "-" + entry.getSize());
        Path target = dir.resolve(name);
        if (Files.isRegularFile(target) && Files.size(target) == entry.getSize()) {
            return dir;
        }
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, name, ".part");
        try {
            try (InputStream in = connection.getInputStream()) {
                Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
            }
            if (Files.size(tmp) != entry.getSize()) {
                throw new IOException(name + ": short copy from the jar");
            }
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
        return dir;
    }
}
