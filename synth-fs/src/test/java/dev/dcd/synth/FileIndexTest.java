package dev.dcd.synth;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class FileIndexTest {
    @TempDir
    Path temp;

    @Test
    void nodesRoundTripAndDirectoriesListTheirChildrenInOrder() throws Exception {
        Path file = temp.resolve(FileIndex.FILE_NAME);
        FileIndex.Node root = new FileIndex.Node("", FileIndex.Kind.DIRECTORY, 0755, 0, 0, 1, 0, 4096, 3, 2, "", new long[0]);
        FileIndex.Node bin = new FileIndex.Node("bin", FileIndex.Kind.DIRECTORY, 0755, 0, 0, 1, 0, 4096, 2, 11, "", new long[0]);
        FileIndex.Node tool = new FileIndex.Node("bin/tool", FileIndex.Kind.FILE, 04755, 1, 2, 3, 4, 5000, 2, 12, "",
                new long[]{1 << 20, 8192});
        FileIndex.Node alias = new FileIndex.Node("bin/alias", FileIndex.Kind.FILE, 04755, 1, 2, 3, 4, 5000, 2, 12, "",
                new long[]{1 << 20, 8192});
        FileIndex.Node link = new FileIndex.Node("link", FileIndex.Kind.SYMLINK, 0777, 0, 0, 1, 0, 8, 1, 13, "bin/tool", new long[0]);
        try (FileIndex.Writer w = new FileIndex.Writer(file)) {
            for (FileIndex.Node n : new FileIndex.Node[]{root, bin, alias, tool, link}) {
                w.add(n);
            }
        }
        FileIndex index = FileIndex.load(file);
        assertEquals(5, index.size());
        assertEquals(tool, index.get("bin/tool"));
        assertEquals(index.get("bin/tool").fileId(), index.get("bin/alias").fileId());
        assertEquals(java.util.List.of("bin", "link"), index.list(""));
        assertEquals(java.util.List.of("alias", "tool"), index.list("bin"));
        assertEquals(1 << 20, index.get("bin/tool").extentOffset(0));
    }

    @Test
    void recordsLargerThanTheWriteBufferAndManyRecordsRoundTrip() throws Exception {
        Path file = temp.resolve(FileIndex.FILE_NAME);
        long[] manyExtents = new long[2 * 20_000];   // 320 KiB: more than the writer's 64 KiB chunk
        for (int i = 0; i < manyExtents.length; i++) {
            manyExtents[i] = i * 4096L;
        }
        try (FileIndex.Writer w = new FileIndex.Writer(file)) {
            w.add(new FileIndex.Node("", FileIndex.Kind.DIRECTORY, 0755, 0, 0, 1, 0, 4096, 2, 2, "", new long[0]));
            for (int i = 0; i < 5000; i++) {
                w.add(new FileIndex.Node("f" + i + "-\u00e9", FileIndex.Kind.FILE, 0644, i, -i, -1L << 40, i, i, 1, 12 + i, "",
                        new long[] {i * 8192L, 4096}));
            }
            w.add(new FileIndex.Node("big", FileIndex.Kind.FILE, 0644, 0, 0, 1, 0, 20_000L * 4096, 1, 9999, "", manyExtents));
        }
        FileIndex index = FileIndex.load(file);
        assertEquals(5002, index.size());
        assertEquals(new FileIndex.Node("f4321-\u00e9", FileIndex.Kind.FILE, 0644, 4321, -4321, -1L << 40, 4321, 4321, 1,
                12 + 4321, "", new long[] {4321 * 8192L, 4096}), index.get("f4321-\u00e9"));
        assertArrayEquals(manyExtents, index.get("big").extents());
    }

    @Test
    void anIndexWhoseWriterNeverFinishedIsRefusedNotReadAsShort() throws Exception {
        Path file = temp.resolve(FileIndex.FILE_NAME);
        FileIndex.Writer w = new FileIndex.Writer(file);
        for (int i = 0; i < 10_000; i++) {   // enough to flush body chunks before the header exists
            w.add(new FileIndex.Node("f" + i, FileIndex.Kind.FILE, 0644, 0, 0, 1, 0, 1, 1, 12 + i, "", new long[] {0, 4096}));
        }
        java.io.IOException e = assertThrows(java.io.IOException.class, () -> FileIndex.load(file));
        assertTrue(e.getMessage().contains("is not a file index"), e.getMessage());
        w.close();
        assertEquals(10_000, FileIndex.load(file).size());
    }
}
