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
}
