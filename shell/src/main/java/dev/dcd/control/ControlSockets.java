package dev.dcd.control;

import java.io.Closeable;
import java.io.IOException;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Where the control sockets of running servers live: {@code $DCD_HOME/mounts/control/}, a directory only its
 * owner may enter (0700), one socket per server, {@code mount-VM.sock} for a FUSE mount and {@code serve-VM.sock}
 * for an NBD server (docs/control-channel.md).
 *
 * <p>Linux limits a socket's path to {@value #MAX_SOCKET_PATH} bytes. When {@code $DCD_HOME} is so deep that the
 * socket's own path is longer, the server listens at a short path instead ({@link #shortSocket}) and puts a
 * symbolic link to it at the usual name, so that it is listed, found and asked like any other.
 *
 * <p>Beside the sockets, every server registers itself as a <em>reader</em> ({@code KIND-VM.PID-START.reader})
 * before it opens any vdisk, and removes the file when it stops: a server that is still starting (its socket not yet
 * listening) or that has no control channel is thereby still known to whoever deletes a vdisk copy.
 */
public final class ControlSockets {
    public static final String DIR = "control";
    public static final String SUFFIX = ".sock";
    public static final String READER_SUFFIX = ".reader";
    public static final String MOUNT = "mount";
    public static final String SERVE = "serve";
    /** The longest path a Unix domain socket may have on Linux ({@code sun_path} is 108 bytes with its NUL). */
    public static final int MAX_SOCKET_PATH = 107;
    /** Hex digits of the SHA-256 of home, kind and VM that name a socket at a short path. */
    static final int SHORT_NAME_HEX = 32;
    /** A process start time may be read a few ms apart (clock tick rounding): within this it is the same process. */
    private static final long START_SLACK_MILLIS = 2_000;

    private ControlSockets() {
    }

    /** One server's socket: its kind ({@value #MOUNT} or {@value #SERVE}), the VM it serves and the path. */
    public record Endpoint(String kind, String vm, Path path) {
        public String describe() {
            return ControlSockets.describe(kind, vm);
        }
    }

    /**
     * A server that registered itself as a reader of vdisks: alive while its process is (the start time in the
     * name tells a reused pid apart).
     */
    public record Reader(String kind, String vm, long pid, long startMillis, Path file) {
        public String describe() {
            return ControlSockets.describe(kind, vm);
        }

        public boolean alive() {
            Optional<ProcessHandle> handle = ProcessHandle.of(pid).filter(ProcessHandle::isAlive);
            if (handle.isEmpty()) {
                return false;
            }
            long started = handle.get().info().startInstant().map(java.time.Instant::toEpochMilli).orElse(0L);
            return startMillis == 0 || started == 0 || Math.abs(started - startMillis) < START_SLACK_MILLIS;
        }
    }

    static String describe(String kind, String vm) {
        return (MOUNT.equals(kind) ? "mount" : "NBD server") + " of VM " + vm;
    }

    public static Path dir(Path home) {
        return home.resolve("mounts").resolve(DIR);
    }

    /** The name a server's socket is listed and asked under (the socket itself, or a link to its short path). */
    public static Path socket(Path home, String kind, String vm) {
        return dir(home).resolve(kind + "-" + URLEncoder.encode(vm, StandardCharsets.UTF_8) + SUFFIX);
    }

    /** True when a socket can be bound and connected at {@code path} itself. */
    public static boolean fits(Path path) {
        return path.toAbsolutePath().toString().getBytes(StandardCharsets.UTF_8).length <= MAX_SOCKET_PATH;
    }

    /**
     * Where a server listens when {@link #socket} is too long: {@code $XDG_RUNTIME_DIR/dcd/HASH.sock} when that
     * is set and short enough, else {@code /tmp/dcd-UID/HASH.sock}; the directory is created owner-only (0700) and
     * refused when another user owns it. HASH names home, kind and VM, so each server has its own.
     */
    static Path shortSocket(Path home, String kind, String vm) throws IOException {
        String name = hash(home.toAbsolutePath().normalize() + "\0" + kind + "\0" + vm) + SUFFIX;
        String runtime = System.getenv("XDG_RUNTIME_DIR");
        if (runtime != null && !runtime.isEmpty() && Path.of(runtime).isAbsolute() && Files.isDirectory(Path.of(runtime))) {
            Path candidate = Path.of(runtime, "dcd").resolve(name);
            if (fits(candidate)) {
                ownerOnlyDir(candidate.getParent());
                return candidate;
            }
        }
        Path candidate = Path.of("/tmp", "dcd-" + uid()).resolve(name);
        ownerOnlyDir(candidate.getParent());
        return candidate;
    }

    /** Creates {@code dir} 0700, or checks that an existing one is a directory of this user's and makes it 0700. */
    private static void ownerOnlyDir(Path dir) throws IOException {
        try {
            Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        } catch (java.nio.file.FileAlreadyExistsException e) {
            // checked below
        }
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            throw new IOException(dir + " is not a directory");
        }
        long owner = ((Number) Files.getAttribute(dir, "unix:uid", LinkOption.NOFOLLOW_LINKS)).longValue();
        if (owner != uid()) {
            throw new IOException(dir + " belongs to uid " + owner + ", not to this user (uid " + uid() + ")");
        }
        Set<PosixFilePermission> ownerOnly = PosixFilePermissions.fromString("rwx------");
        if (!Files.getPosixFilePermissions(dir, LinkOption.NOFOLLOW_LINKS).equals(ownerOnly)) {
            Files.setPosixFilePermissions(dir, ownerOnly);
        }
    }

    /** The path to connect to for a listed socket: the link's target when the server listens at a short path. */
    public static Path connectable(Path socket) {
        try {
            if (Files.isSymbolicLink(socket)) {
                return socket.resolveSibling(Files.readSymbolicLink(socket));
            }
        } catch (IOException e) {
            // gone meanwhile: connecting to the name says so
        }
        return socket;
    }

    /** Creates the directory owner-only, and makes an existing one owner-only again. */
    static Path createDir(Path home) throws IOException {
        Path dir = dir(home);
        Files.createDirectories(dir);
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
        return dir;
    }

    /** Every socket file present (live or left by a server that died: connecting tells which). */
    public static List<Endpoint> list(Path home) throws IOException {
        List<Endpoint> found = new ArrayList<>();
        Path dir = dir(home);
        if (!Files.isDirectory(dir)) {
            return found;
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "*" + SUFFIX)) {
            for (Path f : files) {
                String name = f.getFileName().toString();
                name = name.substring(0, name.length() - SUFFIX.length());
                int dash = name.indexOf('-');
                if (dash <= 0) {
                    continue;
                }
                String kind = name.substring(0, dash);
                if (!kind.equals(MOUNT) && !kind.equals(SERVE)) {
                    continue;
                }
                found.add(new Endpoint(kind, URLDecoder.decode(name.substring(dash + 1), StandardCharsets.UTF_8), f));
            }
        }
        found.sort(Comparator.comparing(Endpoint::path));
        return found;
    }

    // ---------------------------------------------------------------- readers

    /**
     * Registers this process as a {@code kind} server of {@code vm} that may read vdisks, until the returned handle
     * is closed. Call it before the server resolves the catalog and opens its vdisks: a move lists the readers after
     * it switched the catalog, so a server it does not see resolves the catalog after the switch. Registrations of
     * processes that ended are swept.
     */
    public static Closeable registerReader(Path home, String kind, String vm) throws IOException {
        Path dir = createDir(home);
        sweepDeadReaders(dir);
        ProcessHandle self = ProcessHandle.current();
        long start = self.info().startInstant().map(java.time.Instant::toEpochMilli).orElse(0L);
        Path file = dir.resolve(kind + "-" + URLEncoder.encode(vm, StandardCharsets.UTF_8) + "." + self.pid() + "-"
                + start + READER_SUFFIX);
        Files.write(file, new byte[0]);
        // A server stopped by a signal (a supervised mount's standby, ended while it takes over) runs no finally
        // block, but the JVM's exit does this; after kill -9 the dead pid counts for nothing and the next sweep goes.
        file.toFile().deleteOnExit();
        return () -> Files.deleteIfExists(file);
    }

    /** Every registered reader whose process is alive. */
    public static List<Reader> liveReaders(Path home) throws IOException {
        List<Reader> found = new ArrayList<>();
        for (Reader r : readers(dir(home))) {
            if (r.alive()) {
                found.add(r);
            }
        }
        return found;
    }

    private static void sweepDeadReaders(Path dir) throws IOException {
        for (Reader r : readers(dir)) {
            if (!r.alive()) {
                Files.deleteIfExists(r.file());
            }
        }
    }

    private static List<Reader> readers(Path dir) throws IOException {
        List<Reader> found = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
            return found;
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "*" + READER_SUFFIX)) {
            for (Path f : files) {
                parseReader(f).ifPresent(found::add);
            }
        } catch (NoSuchFileException e) {
            return found;
        }
        found.sort(Comparator.comparing(Reader::file));
        return found;
    }

    /** {@code KIND-VM.PID-START.reader}; empty for a name that is not one. */
    static Optional<Reader> parseReader(Path f) {
        String name = f.getFileName().toString();
        name = name.substring(0, name.length() - READER_SUFFIX.length());
        int dot = name.lastIndexOf('.');
        int dash = name.indexOf('-');
        if (dash <= 0 || dot <= dash) {
            return Optional.empty();
        }
        String kind = name.substring(0, dash);
        String[] process = name.substring(dot + 1).split("-", 2);
        if (!kind.equals(MOUNT) && !kind.equals(SERVE) || process.length != 2) {
            return Optional.empty();
        }
        try {
            return Optional.of(new Reader(kind, URLDecoder.decode(name.substring(dash + 1, dot), StandardCharsets.UTF_8),
                    Long.parseLong(process[0]), Long.parseLong(process[1]), f));
        } catch (RuntimeException e) {
            return Optional.empty();
        }
    }

    private static String hash(String text) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(digest).substring(0, SHORT_NAME_HEX);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** This process's user id: /proc/self is owned by the process's effective ids. */
    private static long uid() {
        try {
            return ((Number) Files.getAttribute(Path.of("/proc/self"), "unix:uid")).longValue();
        } catch (IOException | UnsupportedOperationException e) {
            return 0;
        }
    }
}
