package dev.dcd.mount;

import dev.dcd.synth.FileIndex;

import java.io.IOException;
import java.nio.file.Path;

/**
 * The disk and the hand-built index both FUSE front ends (DcdFuse, LowLevelFs) are specified over, so that their
 * tests describe the same tree: "dir/big" lies in two extents (5000 bytes at 8192, then 3000 at 65536), "hello"
 * and "hello-again" are one file (two links), "link" points at "dir/big".
 */
final class MountFixture {
    static final int DISK_SIZE = 1 << 20;

    private MountFixture() {
    }

    /** A disk whose every byte depends on its offset, so a read from the wrong place cannot match by chance. */
    static byte[] patternedDisk() {
        byte[] bytes = new byte[DISK_SIZE];
        for (int i = 0; i < bytes.length; i++) {
            bytes[i] = (byte) (i * 31 + (i >> 12));
        }
        return bytes;
    }

    /** Writes the shared tree, then {@code extra} nodes, to {@code file} and loads it back. */
    static FileIndex writeIndex(Path file, FileIndex.Node... extra) throws IOException {
        try (FileIndex.Writer w = new FileIndex.Writer(file, DISK_SIZE)) {
            w.add(node("", FileIndex.Kind.DIRECTORY, 0755, 0, 3, 2, "", new long[0]));
            w.add(node("dir", FileIndex.Kind.DIRECTORY, 0750, 0, 2, 12, "", new long[0]));
            w.add(node("dir/big", FileIndex.Kind.FILE, 0640, 8000, 1, 13, "", new long[] {8192, 5000, 65536, 4096}));
            w.add(node("hello", FileIndex.Kind.FILE, 0644, 5, 2, 14, "", new long[] {4096, 4096}));
            w.add(node("hello-again", FileIndex.Kind.FILE, 0644, 5, 2, 14, "", new long[] {4096, 4096}));
            w.add(node("link", FileIndex.Kind.SYMLINK, 0777, "dir/big".length(), 1, 15, "dir/big", new long[0]));
            for (FileIndex.Node n : extra) {
                w.add(n);
            }
        }
        return FileIndex.load(file);
    }

    /** A node owned by 0:100, modified at 1_700_000_000.000000005. */
    static FileIndex.Node node(String path, FileIndex.Kind kind, int mode, long size, int links, long id,
                               String target, long[] extents) {
        return new FileIndex.Node(path, kind, mode, 0, 100, 1_700_000_000L, 5, size, links, id, target, extents);
    }
}
