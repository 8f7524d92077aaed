package dev.dcd.vdisk;

import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Deque;

/** Path rules shared by the writer and the importers: everything stays inside the app root. */
public final class VdiskPaths {
    private VdiskPaths() {
    }

    /**
     * Turns an archive path ({@code ./usr/bin/x}, {@code usr/bin/x/}) into manifest form ({@code usr/bin/x}).
     * The root itself becomes "". Rejects absolute paths, {@code ..}, NUL and over-long names.
     */
    public static String normalize(String raw) throws InvalidEntryException {
        if (raw.indexOf('\0') >= 0) {
            throw new InvalidEntryException("entry '" + printable(raw) + "' has a NUL byte in its name");
        }
        if (raw.startsWith("/")) {
            throw new InvalidEntryException("entry '" + printable(raw) + "' is an absolute path; archives must hold relative paths");
        }
        if (raw.indexOf('\uFFFD') >= 0) {
            throw new InvalidEntryException("entry '" + printable(raw) + "' has a name that is not valid UTF-8");
        }
        StringBuilder out = new StringBuilder();
        for (String part : raw.split("/")) {
            if (part.isEmpty() || part.equals(".")) {
                continue;
            }
            if (part.equals("..")) {
                throw new InvalidEntryException("entry '" + printable(raw) + "' uses '..' to leave the app root");
            }
            if (part.getBytes(StandardCharsets.UTF_8).length > VdiskFormat.MAX_NAME_BYTES) {
                throw new InvalidEntryException("entry '" + printable(raw) + "' has a name longer than "
                        + VdiskFormat.MAX_NAME_BYTES + " bytes");
            }
            if (out.length() > 0) {
                out.append('/');
            }
            out.append(part);
        }
        String path = out.toString();
        if (path.getBytes(StandardCharsets.UTF_8).length > VdiskFormat.MAX_PATH_BYTES) {
            throw new InvalidEntryException("entry '" + printable(raw.substring(0, 60)) + "...' is longer than "
                    + VdiskFormat.MAX_PATH_BYTES + " bytes");
        }
        return path;
    }

    /**
     * Checks that a relative symlink target, resolved from the link's directory, stays inside the app root.
     * Absolute targets are left alone: they are resolved by the guest against the disk root, and dcd never
     * follows a link on the host.
     */
    public static void checkSymlink(String linkPath, String target) throws InvalidEntryException {
        if (target.isEmpty()) {
            throw new InvalidEntryException("symlink '" + printable(linkPath) + "' has an empty target");
        }
        if (target.indexOf('\0') >= 0 || target.getBytes(StandardCharsets.UTF_8).length > VdiskFormat.MAX_PATH_BYTES) {
            throw new InvalidEntryException("symlink '" + printable(linkPath) + "' has an invalid target");
        }
        if (target.startsWith("/")) {
            return;
        }
        Deque<String> stack = new ArrayDeque<>();
        int slash = linkPath.lastIndexOf('/');
        if (slash > 0) {
            for (String part : linkPath.substring(0, slash).split("/")) {
                stack.addLast(part);
            }
        }
        for (String part : target.split("/")) {
            if (part.isEmpty() || part.equals(".")) {
                continue;
            }
            if (part.equals("..")) {
                if (stack.isEmpty()) {
                    throw new InvalidEntryException("symlink '" + printable(linkPath) + "' -> '" + printable(target)
                            + "' escapes the app root");
                }
                stack.removeLast();
            } else {
                stack.addLast(part);
            }
        }
    }

    /** Longest name an error message echoes; a longer one (a 4000-byte path from a hostile archive) is cut. */
    public static final int MAX_ECHOED = 80;

    /**
     * Makes a name safe to print in a one-line message: control characters escaped, and cut to its first
     * {@link #MAX_ECHOED} characters and an ellipsis when longer.
     */
    public static String printable(String text) {
        String whole = printableFull(text);
        if (whole.codePointCount(0, whole.length()) <= MAX_ECHOED) {
            return whole;
        }
        return whole.substring(0, whole.offsetByCodePoints(0, MAX_ECHOED)) + "…";
    }

    /** {@link #printable} without the cut, for listings that show every name in full. */
    public static String printableFull(String text) {
        StringBuilder out = new StringBuilder();
        text.codePoints().forEach(c -> {
            if (c < 0x20 || c == 0x7f) {
                out.append(String.format("\\x%02x", c));
            } else {
                out.appendCodePoint(c);
            }
        });
        return out.toString();
    }
}
