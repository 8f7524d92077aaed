package dev.dcd.tests.ext4;

import dev.dcd.vdisk.SealedVdisk;
import dev.dcd.vdisk.VdiskWriter;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Turns a directory tree on the host into an app vdisk, keeping modes, owners, nanosecond mtimes, symlinks
 * and hardlinks (found by inode number), the way an importer would for an extracted package.
 */
final class TreeVdisk {
    private TreeVdisk() {
    }

    static SealedVdisk write(Path tree, Path vdisk, String name, String version) throws IOException {
        try (VdiskWriter w = VdiskWriter.create(vdisk, name, version, 1L << 40)) {
            Map<Long, String> firstNameByInode = new HashMap<>();
            walk(tree, tree, w, firstNameByInode);
            return w.finish();
        }
    }

    private static void walk(Path root, Path dir, VdiskWriter w, Map<Long, String> firstNameByInode) throws IOException {
        List<Path> children = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            s.forEach(children::add);
        }
        children.sort((a, b) -> java.util.Arrays.compareUnsigned(bytes(a.getFileName().toString()), bytes(b.getFileName().toString())));
        for (Path p : children) {
            String rel = root.relativize(p).toString();
            Map<String, Object> a = Files.readAttributes(p, "unix:mode,uid,gid,ino,nlink,lastModifiedTime", LinkOption.NOFOLLOW_LINKS);
            int mode = (Integer) a.get("mode");
            int uid = (Integer) a.get("uid");
            int gid = (Integer) a.get("gid");
            Instant mtime = ((FileTime) a.get("lastModifiedTime")).toInstant();
            int type = mode & 0170000;
            if (type == 0040000) {
                w.directory(rel, mode & 07777, uid, gid, mtime.getEpochSecond(), mtime.getNano());
                walk(root, p, w, firstNameByInode);
            } else if (type == 0120000) {
                w.symlink(rel, Files.readSymbolicLink(p).toString(), uid, gid, mtime.getEpochSecond(), mtime.getNano());
            } else if (type == 0100000) {
                long ino = (Long) a.get("ino");
                String first = (Integer) a.get("nlink") > 1 ? firstNameByInode.putIfAbsent(ino, rel) : null;
                if (first != null) {
                    w.hardlink(rel, first);
                } else {
                    try (InputStream in = Files.newInputStream(p)) {
                        w.file(rel, mode & 07777, uid, gid, mtime.getEpochSecond(), mtime.getNano(), in, Files.size(p));
                    }
                }
            }
        }
    }

    private static byte[] bytes(String s) {
        return s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    }
}
