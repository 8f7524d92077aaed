package dev.dcd.tests.fat32;

import dev.dcd.synth.DiskSpec;
import dev.dcd.synth.SynthesizedDisk;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Real Debian packages (tzdata, full of symlinks, and hello) downloaded with apt-get, unpacked with dpkg-deb,
 * imported as two apps and merged onto one FAT32 volume with symlinks copied.
 */
class Fat32DebianPackageIT {
    @TempDir
    Path temp;

    @Test
    void twoRealPackagesMergeOntoAVolumeThatFsckAcceptsAndMtoolsReadsBackExactly() throws Exception {
        FatFixture fx = new FatFixture(temp);
        Map<String, String> expected = new TreeMap<>();
        for (String pkg : List.of("tzdata", "hello")) {
            Path root = unpack(pkg);
            fx.app(pkg, "deb", app -> importTree(app, root));
            expected.putAll(expectedContent(root));
        }
        SynthesizedDisk disk = fx.synthesize(FatFixture.spec(256L << 20).symlinkPolicy(DiskSpec.SymlinkPolicy.COPY_TARGET)
                .build(), temp.resolve("gen"));
        assertTrue(expected.size() > 1000, "tzdata alone has over a thousand names");
        Path part = FatFixture.partition(disk, fx.materialize(disk, temp.resolve("disk.raw")), temp.resolve("part.img"));
        Fat32ConformanceIT.assertFsckClean(part);
        assertEquals(expected, FatFixture.copyOut(part.toString(), temp.resolve("out")));
    }

    private Path unpack(String pkg) throws IOException {
        Path dir = Files.createDirectories(temp.resolve("deb-" + pkg));
        FatFixture.Tool download = FatFixture.Tool.run(List.of("sh", "-c", "cd '" + dir + "' && apt-get download " + pkg));
        if (download.exit() != 0) {
            // A fresh machine may have no package lists yet.
            FatFixture.Tool.run(List.of("apt-get", "update", "-qq")).check();
            FatFixture.Tool.run(List.of("sh", "-c", "cd '" + dir + "' && apt-get download " + pkg)).check();
        }
        Path deb;
        try (Stream<Path> s = Files.list(dir)) {
            deb = s.filter(p -> p.toString().endsWith(".deb")).findFirst().orElseThrow();
        }
        Path root = dir.resolve("root");
        FatFixture.Tool.run(List.of("dpkg-deb", "-x", deb.toString(), root.toString())).check();
        return root;
    }

    /** What an importer would do: every entry of the unpacked tree, hardlinks recognized by inode. */
    private static void importTree(FatFixture.App app, Path root) throws IOException {
        Map<Object, String> inodes = new HashMap<>();
        List<Path> all;
        try (Stream<Path> s = Files.walk(root)) {
            all = s.sorted().toList();
        }
        for (Path p : all) {
            String rel = root.relativize(p).toString();
            if (rel.isEmpty()) {
                continue;
            }
            if (Files.isSymbolicLink(p)) {
                app.writer.symlink(rel, Files.readSymbolicLink(p).toString(), 0, 0, 1_700_000_000L, 0);
            } else if (Files.isDirectory(p)) {
                app.writer.directory(rel, mode(p), 0, 0, 1_700_000_000L, 0);
            } else {
                Object inode = Files.getAttribute(p, "unix:ino");
                String first = inodes.putIfAbsent(inode, rel);
                if (first != null) {
                    app.writer.hardlink(rel, first);
                } else {
                    try (InputStream in = Files.newInputStream(p)) {
                        app.writer.file(rel, mode(p), 0, 0, Files.getLastModifiedTime(p).toMillis() / 1000, 0, in,
                                Files.size(p));
                    }
                }
            }
        }
    }

    private static int mode(Path p) throws IOException {
        int mode = 0;
        for (PosixFilePermission perm : Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS)) {
            mode |= 1 << (8 - perm.ordinal());
        }
        return mode;
    }

    /** Regular files as they are, symlinks as their target's content when it is a file inside the tree. */
    private static Map<String, String> expectedContent(Path root) throws IOException {
        Map<String, String> out = new TreeMap<>();
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                Path target = Files.isSymbolicLink(p) ? followInside(root, p) : p;
                if (target != null && Files.isRegularFile(target, LinkOption.NOFOLLOW_LINKS)) {
                    out.put(root.relativize(p).toString(), FatFixture.sha256(target));
                }
            }
        }
        return out;
    }

    /** Follows a symlink chain treating absolute targets as relative to the package root. */
    private static Path followInside(Path root, Path link) throws IOException {
        Path p = link;
        for (int hops = 0; hops < 40 && Files.isSymbolicLink(p); hops++) {
            String t = Files.readSymbolicLink(p).toString();
            p = (t.startsWith("/") ? root.resolve(t.substring(1)) : p.getParent().resolve(t)).normalize();
            if (!p.startsWith(root)) {
                return null;
            }
        }
        return Files.isSymbolicLink(p) || !Files.exists(p, LinkOption.NOFOLLOW_LINKS) ? null : p;
    }
}
