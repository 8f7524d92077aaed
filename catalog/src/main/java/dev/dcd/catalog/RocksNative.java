package dev.dcd.catalog;

import org.rocksdb.RocksDB;
import org.rocksdb.util.Environment;

import java.lang.reflect.Field;

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
 *
 * <p>Two details of RocksDB's loader matter (checked with {@code strace -f -e trace=openat,execve}):
 * {@link RocksDB#loadLibrary(List)} looks in each directory for {@code getJniLibraryFileName("rocksdbjni")},
 * which is {@code librocksdbjnijni-linux64.so}, not the jar's {@code librocksdbjni-linux64.so}, so the cached
 * copy carries the name the loader asks for (under the jar's name it was never found, and every start fell
 * back to extracting into /tmp). And {@link Environment} decides between glibc and musl builds by running
 * {@code sh -c "ldd /usr/bin/env | grep -q musl"} (a fork, a shell and the dynamic loader three times, on
 * every start); the libc this JVM already mapped answers that from {@code /proc/self/maps}, and the answer is
 * handed to {@link Environment} by reflection ({@code ROCKSDB_MUSL_LIBC} in the environment still wins).
 */
public final class RocksNative {
    /** Overrides the cache root; what tests and read-only homes use. */
    public static final String CACHE_ENV = "DCD_NATIVE_CACHE";
    private static final String PREFIX = "rocksdbjni-";

    private RocksNative() {
    }

    /** Loads the library once per JVM: from the cache when possible, else the way RocksDB does it. */
    static void load() {
        presetLibc();
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

    /** The library's name in the jar: {@code librocksdbjni-linux64.so} on glibc x86-64. */
    static String resourceName() {
        return Environment.getJniLibraryFileName("rocksdb");
    }

    /**
     * The file name {@link RocksDB#loadLibrary(List)} loads from each directory it is given: it passes
     * {@code "rocksdbjni"} where the jar's name is built from {@code "rocksdb"}, hence the doubled suffix.
     */
    static String libraryFileName() {
        return Environment.getJniLibraryFileName("rocksdbjni");
    }

    /**
     * Tells {@link Environment} which libc this process runs on, read from the libraries it has mapped, so
     * that it does not start a shell and {@code ldd} to find out. Leaves it alone when the user set
     * {@code ROCKSDB_MUSL_LIBC}, when the maps do not say, or when the field cannot be reached.
     */
    static void presetLibc() {
        if (System.getenv("ROCKSDB_MUSL_LIBC") != null) {
            return;
        }
        try {
            Optional<Boolean> musl = muslFromMaps(Files.readString(Path.of("/proc/self/maps")));
            if (musl.isPresent()) {
                Field field = Environment.class.getDeclaredField("MUSL_LIBC");
                field.setAccessible(true);
                if (field.get(null) == null) {
                    field.set(null, musl.get());
                }
            }
        } catch (IOException | ReflectiveOperationException | RuntimeException e) {
            // not Linux, or another RocksDB: its own detection still works, only slower
        }
    }

    /** Whether the mapped libraries ({@code /proc/self/maps}) are musl's or glibc's; empty when neither shows. */
    static Optional<Boolean> muslFromMaps(String maps) {
        boolean musl = false;
        boolean glibc = false;
        for (String line : maps.split("\n")) {
            String file = line.substring(line.lastIndexOf('/') + 1);
            musl |= file.startsWith("ld-musl-") || file.startsWith("libc.musl-");
            glibc |= file.startsWith("libc.so.6") || file.startsWith("libc-2.");
        }
        return musl == glibc ? Optional.empty() : Optional.of(musl);
    }

    /**
     * Makes sure {@code root/rocksdbjni-<crc>-<size>/<library>} holds this jar's library and returns that
     * directory; copies it out of the jar only when it is not there yet (or has the wrong size).
     */
    static Path extract(Path root) throws IOException {
        String name = resourceName();
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
        Path target = dir.resolve(libraryFileName());
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
