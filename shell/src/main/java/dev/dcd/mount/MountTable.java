package dev.dcd.mount;

import java.io.IOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.List;
import java.util.Optional;

/** The kernel's view of what is mounted where, from /proc/self/mountinfo. */
final class MountTable {
    private static final Path MOUNTINFO = Path.of("/proc/self/mountinfo");

    record Entry(Path mountpoint, String fsType, String source) {
        boolean isFuse() {
            return fsType.equals("fuse") || fsType.startsWith("fuse.");
        }
    }

    private MountTable() {
    }

    /** The topmost mount at exactly this path, if any. */
    static Optional<Entry> at(Path mountpoint) throws IOException {
        Entry found = null;
        for (String line : Files.readAllLines(MOUNTINFO)) {
            Entry e = parse(line);
            if (e != null && e.mountpoint().equals(mountpoint)) {
                found = e;
            }
        }
        return Optional.ofNullable(found);
    }

    static List<Entry> all() throws IOException {
        return Files.readAllLines(MOUNTINFO).stream().map(MountTable::parse).filter(e -> e != null).toList();
    }

    /** mountinfo(5): "id parent maj:min root mountpoint opts [optional...] - fstype source superopts". */
    static Entry parse(String line) {
        String[] f = line.split(" ");
        int dash = -1;
        for (int i = 6; i < f.length; i++) {
            if (f[i].equals("-")) {
                dash = i;
                break;
            }
        }
        if (f.length < 7 || dash < 0 || dash + 2 >= f.length) {
            return null;
        }
        return new Entry(Path.of(unescape(f[4])), f[dash + 1], unescape(f[dash + 2]));
    }

    /** The kernel writes space, tab, newline and backslash as three-digit octal escapes. */
    static String unescape(String s) {
        if (s.indexOf('\\') < 0) {
            return s;
        }
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 3 < s.length() + 0 && s.substring(i + 1, i + 4).matches("[0-7]{3}")) {
                sb.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }

    /**
     * True if the FUSE server behind the path has gone away: stat fails with ENOTCONN ("Transport endpoint is
     * not connected"), which is what a killed serving process leaves behind. Callers ask only about paths
     * that mountinfo lists as FUSE mounts.
     */
    static boolean isDisconnected(Path path) {
        try {
            Files.readAttributes(path, BasicFileAttributes.class);
            return false;
        } catch (java.nio.file.AccessDeniedException | java.nio.file.NoSuchFileException e) {
            return false;
        } catch (FileSystemException e) {
            // The JDK reports ENOTCONN as a plain FileSystemException carrying strerror's text, which a
            // translated C library may word differently; any other plain failure of a FUSE root counts too.
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
