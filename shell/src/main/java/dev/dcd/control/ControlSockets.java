package dev.dcd.control;

import java.io.IOException;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;

/**
 * Where the control sockets of running servers live: {@code $DCD_HOME/mounts/control/}, a directory only its
 * owner may enter (0700), one socket per server, {@code mount-VM.sock} for a FUSE mount and {@code serve-VM.sock}
 * for an NBD server (docs/control-channel.md).
 */
public final class ControlSockets {
    public static final String DIR = "control";
    public static final String SUFFIX = ".sock";
    public static final String MOUNT = "mount";
    public static final String SERVE = "serve";

    private ControlSockets() {
    }

    /** One server's socket: its kind ({@value #MOUNT} or {@value #SERVE}), the VM it serves and the path. */
    public record Endpoint(String kind, String vm, Path path) {
        public String describe() {
            return (MOUNT.equals(kind) ? "mount" : "NBD server") + " of VM " + vm;
        }
    }

    public static Path dir(Path home) {
        return home.resolve("mounts").resolve(DIR);
    }

    public static Path socket(Path home, String kind, String vm) {
        return dir(home).resolve(kind + "-" + URLEncoder.encode(vm, StandardCharsets.UTF_8) + SUFFIX);
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
        found.sort(java.util.Comparator.comparing(Endpoint::path));
        return found;
    }
}
