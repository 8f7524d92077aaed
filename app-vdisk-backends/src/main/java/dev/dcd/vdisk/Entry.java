package dev.dcd.vdisk;

import java.util.Arrays;
import java.util.HexFormat;
import java.util.Objects;

/**
 * One manifest entry.
 *
 * @param path       relative, '/'-separated, no leading slash; the app root is the empty path
 * @param mode       permission bits including setuid, setgid and sticky (07777); the type lives in {@code type}
 * @param size       file size in bytes (for a hardlink, the size of the file it links to; for a symlink, the target length)
 * @param dataOffset absolute offset of the file's first byte in the vdisk, a multiple of {@link VdiskFormat#BLOCK_SIZE};
 *                   0 for empty files and non-files. Hardlinks carry their target's offset.
 * @param sha256     of the file's bytes (files and hardlinks); 32 zero bytes otherwise
 * @param target     symlink target, or for a hardlink the path of the file entry it shares an inode with; else ""
 */
public record Entry(String path, EntryType type, int mode, int uid, int gid, long mtimeSeconds, int mtimeNanos,
                    long size, long dataOffset, byte[] sha256, String target) {

    public static final byte[] NO_HASH = new byte[32];

    public Entry {
        Objects.requireNonNull(path);
        Objects.requireNonNull(type);
        Objects.requireNonNull(sha256);
        Objects.requireNonNull(target);
    }

    public boolean isFile() {
        return type == EntryType.FILE;
    }

    public boolean isDirectory() {
        return type == EntryType.DIRECTORY;
    }

    public boolean isSymlink() {
        return type == EntryType.SYMLINK;
    }

    public boolean isHardlink() {
        return type == EntryType.HARDLINK;
    }

    /** True when the entry has file bytes in the vdisk (a file or a hardlink to one). */
    public boolean hasData() {
        return (type == EntryType.FILE || type == EntryType.HARDLINK) && size > 0;
    }

    public String name() {
        int slash = path.lastIndexOf('/');
        return slash < 0 ? path : path.substring(slash + 1);
    }

    public String parent() {
        int slash = path.lastIndexOf('/');
        return slash < 0 ? "" : path.substring(0, slash);
    }

    public String sha256Hex() {
        return HexFormat.of().formatHex(sha256);
    }

    public Entry withAttributes(int newMode, int newUid, int newGid, long newMtimeSeconds, int newMtimeNanos) {
        return new Entry(path, type, newMode, newUid, newGid, newMtimeSeconds, newMtimeNanos, size, dataOffset, sha256, target);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Entry e && path.equals(e.path) && type == e.type && mode == e.mode && uid == e.uid
                && gid == e.gid && mtimeSeconds == e.mtimeSeconds && mtimeNanos == e.mtimeNanos && size == e.size
                && dataOffset == e.dataOffset && Arrays.equals(sha256, e.sha256) && target.equals(e.target);
    }

    @Override
    public int hashCode() {
        return Objects.hash(path, type, mode, size, dataOffset, Arrays.hashCode(sha256));
    }

    @Override
    public String toString() {
        return type + " " + path + (target.isEmpty() ? "" : " -> " + target) + " (" + size + " bytes, mode "
                + Integer.toOctalString(mode) + ")";
    }
}
