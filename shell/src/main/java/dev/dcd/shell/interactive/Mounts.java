package dev.dcd.shell.interactive;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SortedSet;
import java.util.TreeSet;

/**
 * The dcd mounts that exist right now: {@code fuse.dcd} entries of the mount table, plus the records that
 * {@code dcd mount} keeps in {@code $DCD_HOME/mounts/*.pid} whose serving process is still alive.
 */
final class Mounts {
    static final Path PROC_MOUNTS = Path.of("/proc/mounts");
    static final String FS_TYPE = "fuse.dcd";

    private Mounts() {
    }

    static SortedSet<String> list(Path home) {
        SortedSet<String> found = new TreeSet<>();
        try {
            found.addAll(fromMountTable(Files.readAllLines(PROC_MOUNTS)));
        } catch (IOException | RuntimeException e) {
            // no mount table (not Linux): the records below still tell
        }
        try {
            found.addAll(dev.dcd.mount.MountService.liveMounts(home).values().stream().map(Path::toString).toList());
        } catch (IOException e) {
            // unreadable records directory: the mount table above still tells
        }
        return found;
    }

    /** Mountpoints of {@code fuse.dcd} lines in /proc/mounts format (fields separated by spaces, octal escapes). */
    static SortedSet<String> fromMountTable(List<String> lines) {
        SortedSet<String> found = new TreeSet<>();
        for (String line : lines) {
            String[] fields = line.split(" ");
            if (fields.length > 2 && fields[2].equals(FS_TYPE)) {
                found.add(unescape(fields[1]));
            }
        }
        return found;
    }

    /** The kernel writes space, tab, newline and backslash in mount paths as {@code \ooo}. */
    static String unescape(String field) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < field.length(); i++) {
            char c = field.charAt(i);
            if (c == '\\' && i + 3 < field.length()
                    && field.substring(i + 1, i + 4).chars().allMatch(d -> d >= '0' && d <= '7')) {
                b.append((char) Integer.parseInt(field.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }
}
