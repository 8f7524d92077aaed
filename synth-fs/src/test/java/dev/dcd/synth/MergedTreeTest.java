package dev.dcd.synth;

import dev.dcd.vdisk.ContentId;
import dev.dcd.vdisk.Manifest;
import dev.dcd.vdisk.SealedVdisk;
import dev.dcd.vdisk.VdiskWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class MergedTreeTest {
    @TempDir
    Path temp;

    interface Content {
        void write(VdiskWriter w) throws IOException;
    }

    private AppLayer app(String name, int priority, Content content) throws IOException {
        try (VdiskWriter w = VdiskWriter.create(temp.resolve(name + ".vdisk"), name, "1", Long.MAX_VALUE)) {
            content.write(w);
            SealedVdisk sealed = w.finish();
            Manifest m = sealed.manifest();
            return new AppLayer(name, "1", sealed.id(), m, priority);
        }
    }

    private static void file(VdiskWriter w, String path, String text) throws IOException {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        w.file(path, 0644, 0, 0, 10, 0, new ByteArrayInputStream(bytes), bytes.length);
    }

    @Test
    void directoriesSharedByAppsMerge() throws Exception {
        AppLayer a = app("a", 0, w -> file(w, "usr/bin/a", "a"));
        AppLayer b = app("b", 0, w -> file(w, "usr/bin/b", "b"));
        MergedTree tree = MergedTree.merge(List.of(a, b));
        FsNode.Dir usr = (FsNode.Dir) tree.root().children().get("usr");
        FsNode.Dir bin = (FsNode.Dir) usr.children().get("bin");
        assertEquals(List.of("a", "b"), List.copyOf(bin.children().keySet()));
        assertEquals(2, tree.fileCount());
        assertEquals(3, tree.directoryCount(), "root, usr and bin, each counted once");
        assertEquals(0, ((FsNode.File) bin.children().get("a")).layer());
        assertEquals(1, ((FsNode.File) bin.children().get("b")).layer());
    }

    @Test
    void theSamePathFromTwoAppsIsAConflictThatNamesBoth() throws Exception {
        AppLayer a = app("a", 0, w -> file(w, "etc/conf", "one"));
        AppLayer b = app("b", 0, w -> file(w, "etc/conf", "two"));
        SynthesisException e = assertThrows(SynthesisException.class, () -> MergedTree.merge(List.of(a, b)));
        assertEquals(List.of("/etc/conf (a@1 and b@1)"), e.details());
        assertFalse(e.getMessage().contains("\n"));
    }

    @Test
    void theHigherPriorityWinsAConflictWhateverTheOrder() throws Exception {
        AppLayer low = app("low", 0, w -> file(w, "etc/conf", "low"));
        AppLayer high = app("high", 5, w -> {
            file(w, "etc/conf", "high");
        });
        for (List<AppLayer> order : List.of(List.of(low, high), List.of(high, low))) {
            MergedTree tree = MergedTree.merge(order);
            FsNode.Dir etc = (FsNode.Dir) tree.root().children().get("etc");
            FsNode.File conf = (FsNode.File) etc.children().get("conf");
            assertEquals("high", order.get(conf.layer()).name());
        }
    }

    @Test
    void identicalFilesFromTwoAppsAreNotAConflict() throws Exception {
        AppLayer a = app("a", 0, w -> file(w, "share/license", "same"));
        AppLayer b = app("b", 0, w -> file(w, "share/license", "same"));
        assertEquals(1, MergedTree.merge(List.of(a, b)).fileCount());
    }

    @Test
    void hardlinksShareOneNodeEvenWhenTheLinkSortsBeforeItsTarget() throws Exception {
        AppLayer a = app("a", 0, w -> {
            file(w, "z/original", "data");
            w.hardlink("a/link", "z/original");
        });
        MergedTree tree = MergedTree.merge(List.of(a));
        FsNode link = ((FsNode.Dir) tree.root().children().get("a")).children().get("link");
        FsNode original = ((FsNode.Dir) tree.root().children().get("z")).children().get("original");
        assertSame(link, original);
        assertEquals(2, ((FsNode.File) link).linkCount());
        assertEquals(1, tree.fileCount());
    }

    @Test
    void aFileThatShadowsAnotherAppsDirectoryIsAConflict() throws Exception {
        AppLayer a = app("a", 0, w -> file(w, "opt/tool/bin", "x"));
        AppLayer b = app("b", 0, w -> file(w, "opt/tool", "y"));
        SynthesisException e = assertThrows(SynthesisException.class, () -> MergedTree.merge(List.of(a, b)));
        assertTrue(e.details().get(0).startsWith("/opt/tool "), e.details().toString());
    }

    @Test
    void childrenAreSortedByUtf8Bytes() throws Exception {
        AppLayer a = app("a", 0, w -> {
            file(w, "d/\u00e9", "1");
            file(w, "d/z", "2");
            file(w, "d/B", "3");
        });
        FsNode.Dir d = (FsNode.Dir) MergedTree.merge(List.of(a)).root().children().get("d");
        assertEquals(List.of("B", "z", "\u00e9"), List.copyOf(d.children().keySet()));
        assertNotNull(ContentId.tryParse("0".repeat(64)).orElse(null));
    }
}
