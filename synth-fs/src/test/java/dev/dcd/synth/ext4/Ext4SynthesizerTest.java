package dev.dcd.synth.ext4;

import dev.dcd.backend.Progress;
import dev.dcd.block.FileBlockDevice;
import dev.dcd.synth.AppLayer;
import dev.dcd.synth.DiskMaterializer;
import dev.dcd.synth.DiskSpec;
import dev.dcd.synth.FsType;
import dev.dcd.synth.SynthesisException;
import dev.dcd.synth.SynthesizedDisk;
import dev.dcd.synth.Synthesizers;
import dev.dcd.vdisk.SealedVdisk;
import dev.dcd.vdisk.VdiskWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A small synthesized disk judged by e2fsck; the full conformance suite lives in the tests module. */
class Ext4SynthesizerTest {
    @TempDir
    Path tmp;

    private SealedVdisk smallApp(String name, int files) throws IOException {
        try (VdiskWriter w = VdiskWriter.create(tmp.resolve(name + ".vdisk"), name, "1", 1L << 30)) {
            w.directory("etc", 0755, 0, 0, 1_700_000_000L, 0);
            w.file("etc/hello.txt", 0644, 1000, 1000, 1_700_000_001L, 5, in("hello\n"), -1);
            w.file("etc/empty", 0600, 0, 0, 1_700_000_002L, 0, in(""), -1);
            w.file("bin/tool", 04755, 70000, 70001, 1_700_000_003L, 123, in("#!/bin/sh\necho tool\n"), -1);
            w.hardlink("bin/tool2", "bin/tool");
            w.symlink("bin/short", "tool", 0, 0, 1_700_000_004L, 0);
            w.symlink("bin/long", "../" + "x".repeat(100), 0, 0, 1_700_000_004L, 0);
            w.directory("tmp", 01777, 0, 0, 1_700_000_000L, 0);
            for (int i = 0; i < files; i++) {
                w.file("many/file-with-a-longish-name-" + i, 0644, 0, 0, 1_700_000_000L, 0, in("content " + i), -1);
            }
            return w.finish();
        }
    }

    private static ByteArrayInputStream in(String s) {
        return new ByteArrayInputStream(s.getBytes(StandardCharsets.UTF_8));
    }

    private static DiskSpec spec(long size) {
        return DiskSpec.builder().vmId("vm-test").fsType(FsType.EXT4).diskSize(size).createdEpochSeconds(1_700_000_000L).build();
    }

    private Path synthesize(SealedVdisk app, long size, String name) throws IOException {
        Path dir = tmp.resolve(name);
        AppLayer layer = new AppLayer(app.manifest().appName(), "1", app.id(), app.manifest(), 0);
        SynthesizedDisk disk = Synthesizers.forType(FsType.EXT4).synthesize(spec(size), List.of(layer), dir, Progress.NONE);
        Path raw = dir.resolve("disk.raw");
        DiskMaterializer.materialize(disk.regionMap(), disk.image(), id -> FileBlockDevice.openReadOnly(app.file()), raw,
                Progress.NONE);
        Path part = dir.resolve("part.raw");
        run("dd", "if=" + raw, "of=" + part, "bs=1M", "skip=1", "count=" + (disk.partitionLength() >> 20), "status=none");
        return part;
    }

    private static String run(String... command) {
        return dev.dcd.testing.ProcessRunner.command(command).mergeErr().run().requireOk().out();
    }

    @Test
    void aSmallDiskPassesE2fsck() throws IOException {
        Path part = synthesize(smallApp("small", 10), 64L << 20, "small");
        run("e2fsck", "-fn", part.toString());
    }

    @Test
    void aDirectoryOfTwelveThousandEntriesIsAnHtreeThatPassesE2fsck() throws IOException {
        Path part = synthesize(smallApp("big", 12_000), 256L << 20, "big");
        run("e2fsck", "-fn", part.toString());
        String stat = run("debugfs", "-R", "htree /many", part.toString());
        assertTrue(stat.contains("Root node dump"), stat);
    }

    @Test
    void twoBuildsAreByteIdentical() throws IOException {
        SealedVdisk app = smallApp("same", 50);
        synthesize(app, 64L << 20, "a");
        synthesize(app, 64L << 20, "b");
        assertArrayEquals(Files.readAllBytes(tmp.resolve("a/meta.img")), Files.readAllBytes(tmp.resolve("b/meta.img")));
        assertArrayEquals(Files.readAllBytes(tmp.resolve("a/regions.bin")), Files.readAllBytes(tmp.resolve("b/regions.bin")));
    }

    @Test
    void appsThatDoNotFitFailWithOneLineAndLeaveNothing() throws IOException {
        SealedVdisk app;
        try (VdiskWriter w = VdiskWriter.create(tmp.resolve("fat.vdisk"), "fat", "1", 1L << 30)) {
            w.file("blob", 0644, 0, 0, 0, 0, new java.io.InputStream() {
                long left = 40L << 20;
                long seed = 1;

                @Override
                public int read() {
                    if (left-- <= 0) {
                        return -1;
                    }
                    seed = seed * 6364136223846793005L + 1442695040888963407L;
                    return (int) (seed >>> 56);
                }
            }, -1);
            app = w.finish();
        }
        Path dir = tmp.resolve("fail");
        AppLayer layer = new AppLayer("fat", "1", app.id(), app.manifest(), 0);
        SynthesisException e = assertThrows(SynthesisException.class, () ->
                Synthesizers.forType(FsType.EXT4).synthesize(spec(32L << 20), List.of(layer), dir, Progress.NONE));
        assertFalse(e.getMessage().contains("\n"));
        assertTrue(e.getMessage().contains("larger --size"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("meta.img")));
    }

    /** e2fsck reads no file data, so the thin image alone can be checked, however large the disk. */
    private String fsckThinImage(SynthesizedDisk disk) throws IOException {
        String loop = run("losetup", "--find", "--show", "--read-only", "--offset", Long.toString(disk.partitionOffset()),
                "--sizelimit", Long.toString(disk.partitionLength()), disk.image().toString()).trim();
        try {
            return run("e2fsck", "-fn", loop);
        } finally {
            run("losetup", "--detach", loop);
        }
    }

    private SynthesizedDisk synthesizeOnly(SealedVdisk app, long size, String name) throws IOException {
        AppLayer layer = new AppLayer(app.manifest().appName(), "1", app.id(), app.manifest(), 0);
        return Synthesizers.forType(FsType.EXT4).synthesize(spec(size), List.of(layer), tmp.resolve(name), Progress.NONE);
    }

    @Test
    void aDirectoryTooBigForOneIndexBlockGetsASecondHtreeLevel() throws IOException {
        SealedVdisk app;
        try (VdiskWriter w = VdiskWriter.create(tmp.resolve("huge-dir.vdisk"), "huge", "1", 1L << 20)) {
            for (int i = 0; i < 80_000; i++) {
                w.file("d/an-entry-with-a-name-of-some-length-" + i, 0644, 0, 0, 1_700_000_000L, 0, in(""), 0);
            }
            app = w.finish();
        }
        SynthesizedDisk disk = synthesizeOnly(app, 1L << 30, "huge-dir");
        fsckThinImage(disk);
        String loop = run("losetup", "--find", "--show", "--read-only", "--offset", Long.toString(disk.partitionOffset()),
                "--sizelimit", Long.toString(disk.partitionLength()), disk.image().toString()).trim();
        try {
            String htree = run("debugfs", "-R", "htree /d", loop);
            assertTrue(htree.contains("Indirect levels: 1"), htree.substring(0, Math.min(2000, htree.length())));
            String found = run("debugfs", "-R", "stat /d/an-entry-with-a-name-of-some-length-77777", loop);
            assertTrue(found.contains("Type: regular"), found);
        } finally {
            run("losetup", "--detach", loop);
        }
        // The kernel's own htree lookups (names only: the thin image has no file data, and these files are empty).
        Path mnt = Files.createDirectories(tmp.resolve("mnt-huge-dir"));
        run("mount", "-t", "ext4", "-o", "loop,ro,offset=" + disk.partitionOffset(), disk.image().toString(), mnt.toString());
        try {
            for (int i = 0; i < 80_000; i += 997) {
                assertTrue(Files.isRegularFile(mnt.resolve("d/an-entry-with-a-name-of-some-length-" + i)), "lookup " + i);
            }
            assertFalse(Files.exists(mnt.resolve("d/an-entry-with-a-name-of-some-length-80000")));
            try (var list = Files.list(mnt.resolve("d"))) {
                assertEquals(80_000, list.count());
            }
        } finally {
            run("umount", mnt.toString());
        }
    }

    @Test
    void aHugeDiskHasAJournalWithAnExtentIndexBlockAndPassesE2fsck() throws IOException {
        SynthesizedDisk disk = synthesizeOnly(smallApp("huge-disk", 3), 200L << 30, "huge-disk");
        fsckThinImage(disk);
        String stat = run("debugfs", "-R", "stat <8>", disk.image() + "?offset=" + disk.partitionOffset());
        assertTrue(stat.contains("(ETB0)"), stat);
    }

    @Test
    void noAppsOnTheSmallestDiskGiveAnEmptyCleanFilesystem() throws IOException {
        SynthesizedDisk disk = Synthesizers.forType(FsType.EXT4).synthesize(spec(16L << 20), List.of(), tmp.resolve("empty"),
                Progress.NONE);
        String out = fsckThinImage(disk);
        assertTrue(out.contains("11/"), out);   // the reserved inodes and lost+found, nothing else
        assertEquals(0, disk.fileCount());
    }

    @Test
    void dxHashMatchesDebugfs() throws IOException {
        int[] seed = {0x11223344, 0x55667788, 0x99aabbcc, 0xddeeff00};
        String seedText = "44332211-8877-6655-ccbb-aa9900ffeedd";
        for (String name : List.of("a", "hello.txt", "file-with-a-longish-name-that-exceeds-thirty-two-bytes", "ünïcødé")) {
            int[] h = DxHash.halfMd4(name.getBytes(StandardCharsets.UTF_8), seed, true);
            String out = run("debugfs", "-R", "dx_hash -h half_md4 -s " + seedText + " " + name, "/dev/null");
            assertTrue(out.contains("is 0x" + Integer.toHexString(h[0]) + " "), name + ": " + out);
        }
    }
}
