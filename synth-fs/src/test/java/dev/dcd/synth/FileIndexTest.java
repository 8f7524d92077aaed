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
        try (FileIndex.Writer w = new FileIndex.Writer(file, 1L << 40)) {
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
        try (FileIndex.Writer w = new FileIndex.Writer(file, 1L << 40)) {
            w.add(new FileIndex.Node("", FileIndex.Kind.DIRECTORY, 0755, 0, 0, 1, 0, 4096, 2, 2, "", new long[0]));
            for (int i = 0; i < 5000; i++) {
                w.add(new FileIndex.Node("f" + i + "-\u00e9", FileIndex.Kind.FILE, 0644, i, -i, -1L << 40, i, i, 1, 12 + i, "",
                        new long[] {i * 8192L, 8192}));
            }
            w.add(new FileIndex.Node("big", FileIndex.Kind.FILE, 0644, 0, 0, 1, 0, 20_000L * 4096, 1, 9999, "", manyExtents));
        }
        FileIndex index = FileIndex.load(file);
        assertEquals(5002, index.size());
        assertEquals(new FileIndex.Node("f4321-\u00e9", FileIndex.Kind.FILE, 0644, 4321, -4321, -1L << 40, 4321, 4321, 1,
                12 + 4321, "", new long[] {4321 * 8192L, 8192}), index.get("f4321-\u00e9"));
        assertArrayEquals(manyExtents, index.get("big").extents());
    }

    @Test
    void anIndexWhoseWriterNeverFinishedIsRefusedNotReadAsShort() throws Exception {
        Path file = temp.resolve(FileIndex.FILE_NAME);
        FileIndex.Writer w = new FileIndex.Writer(file, 1L << 40);
        w.add(new FileIndex.Node("", FileIndex.Kind.DIRECTORY, 0755, 0, 0, 1, 0, 4096, 2, 2, "", new long[0]));
        for (int i = 0; i < 10_000; i++) {   // enough to flush body chunks before the header exists
            w.add(new FileIndex.Node("f" + i, FileIndex.Kind.FILE, 0644, 0, 0, 1, 0, 1, 1, 12 + i, "", new long[] {0, 4096}));
        }
        java.io.IOException e = assertThrows(java.io.IOException.class, () -> FileIndex.load(file));
        assertTrue(e.getMessage().contains("does not start with the magic"), e.getMessage());
        w.close();
        assertEquals(10_001, FileIndex.load(file).size());
    }

    private static final long DISK = 64L << 20;
    private static final FileIndex.Node ROOT = new FileIndex.Node("", FileIndex.Kind.DIRECTORY, 0755, 0, 0, 1, 0, 4096, 3, 2, "", new long[0]);
    private static final FileIndex.Node BIN = new FileIndex.Node("bin", FileIndex.Kind.DIRECTORY, 0755, 0, 0, 1, 0, 4096, 2, 11, "", new long[0]);
    private static final FileIndex.Node TOOL = new FileIndex.Node("bin/tool", FileIndex.Kind.FILE, 0755, 1, 2, 3, 4, 5000, 1, 12, "",
            new long[]{1 << 20, 4096, 3 << 20, 4096});
    private static final FileIndex.Node LINK = new FileIndex.Node("link", FileIndex.Kind.SYMLINK, 0777, 0, 0, 1, 0, 8, 1, 13, "bin/tool", new long[0]);

    private Path saved(FileIndex.Node... nodes) throws Exception {
        Path file = temp.resolve("vms").resolve("vc").resolve("gen-2").resolve(FileIndex.FILE_NAME);
        java.nio.file.Files.createDirectories(file.getParent());
        try (FileIndex.Writer w = new FileIndex.Writer(file, DISK)) {
            for (FileIndex.Node n : nodes) {
                w.add(n);
            }
        }
        return file;
    }

    private static void assertOneClearLine(Path file, String message) {
        assertTrue(message.startsWith("file index " + file + " is damaged: "), message);
        assertTrue(message.endsWith("'dcd disk build vc' builds a new generation"), message);
        assertFalse(message.contains("\n") || message.contains("null") || message.contains("Exception")
                || message.contains("out of bounds"), message);
    }

    @Test
    void everySingleFlippedByteIsRefusedWithOneLineNamingTheFile() throws Exception {
        Path file = saved(ROOT, BIN, TOOL, LINK);
        byte[] good = java.nio.file.Files.readAllBytes(file);
        assertEquals(4, FileIndex.load(file, DISK).size());
        for (int i = 0; i < good.length; i++) {
            for (int bit : new int[] {0x01, 0x80}) {
                byte[] bad = good.clone();
                bad[i] ^= (byte) bit;
                java.nio.file.Files.write(file, bad);
                java.io.IOException e = assertThrows(java.io.IOException.class, () -> FileIndex.load(file, DISK),
                        "flip of bit " + bit + " in byte " + i);
                assertOneClearLine(file, e.getMessage());
            }
        }
    }

    @Test
    void emptyTruncatedAndForeignIndexesAreRefusedWithOneLine() throws Exception {
        Path file = saved(ROOT, BIN, TOOL, LINK);
        byte[] good = java.nio.file.Files.readAllBytes(file);
        for (int length : new int[] {0, 7, 8, 47, 48, good.length - 1}) {
            java.nio.file.Files.write(file, java.util.Arrays.copyOf(good, length));
            java.io.IOException e = assertThrows(java.io.IOException.class, () -> FileIndex.load(file, DISK));
            assertOneClearLine(file, e.getMessage());
        }
        java.nio.file.Files.write(file, good);
        java.io.IOException e = assertThrows(java.io.IOException.class, () -> FileIndex.load(file, DISK * 2));
        assertTrue(e.getMessage().contains("it describes a disk of 67108864 bytes, not of 134217728"), e.getMessage());
    }

    /** Damage that keeps the checksums right (a bug, or a hand edit) still meets every structural check. */
    private static void reseal(Path file) throws Exception {
        byte[] bytes = java.nio.file.Files.readAllBytes(file);
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(bytes).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        b.putInt(FileIndex.H_BODY_CRC, Checks.crc32c(bytes, FileIndex.HEADER_SIZE, bytes.length - FileIndex.HEADER_SIZE));
        b.putInt(FileIndex.H_CRC, Checks.crc32c(bytes, 0, FileIndex.H_CRC));
        java.nio.file.Files.write(file, bytes);
    }

    private void assertRefused(String expected, FileIndex.Node... nodes) throws Exception {
        Path file = saved(nodes);
        reseal(file);
        java.io.IOException e = assertThrows(java.io.IOException.class, () -> FileIndex.load(file, DISK), expected);
        assertOneClearLine(file, e.getMessage());
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }

    private static FileIndex.Node file(String path, long size, long... extents) {
        return new FileIndex.Node(path, FileIndex.Kind.FILE, 0644, 0, 0, 1, 0, size, 1, 20, "", extents);
    }

    @Test
    void indexesThatBreakTheRulesAreRefusedNamingTheRecord() throws Exception {
        assertRefused("record 1 ('huge') has impossible attributes (mode 644, size 28147497671065600", ROOT, file("huge", 25L << 50, 0, 4096));
        assertRefused("has extent 67104768 (+8192) outside the disk", ROOT, file("tail", 8192, DISK - 4096, 8192));
        assertRefused("has extent -4096 (+4096) outside the disk", ROOT, file("neg", 10, -4096, 4096));
        assertRefused("is 5000 bytes long but its extents hold 4096", ROOT, file("short", 5000, 0, 4096));
        assertRefused("names 'bin' a second time", ROOT, BIN, BIN);
        assertRefused("'bin' holds names but is not a directory", ROOT, file("bin", 1, 0, 4096), TOOL);
        assertRefused("'bin' holds names but is not a directory", ROOT, TOOL);
        assertRefused("it has no root directory", BIN);
        assertRefused("has the malformed name '../etc'", ROOT, file("../etc", 1, 0, 4096));
        assertRefused("is a directory with extents or a link target", ROOT,
                new FileIndex.Node("d", FileIndex.Kind.DIRECTORY, 0755, 0, 0, 1, 0, 4096, 2, 3, "", new long[] {0, 4096}));
        assertRefused("has impossible attributes (mode 100644", ROOT,
                new FileIndex.Node("m", FileIndex.Kind.FILE, 0100644, 0, 0, 1, 0, 1, 1, 3, "", new long[] {0, 4096}));
    }

    @Test
    void anUnknownKindOrAnOverlongNameIsRefusedNotThrownAsAJavaException() throws Exception {
        Path file = saved(ROOT, BIN);
        byte[] bytes = java.nio.file.Files.readAllBytes(file);
        int second = java.nio.ByteBuffer.wrap(bytes).order(java.nio.ByteOrder.LITTLE_ENDIAN)
                .getInt(FileIndex.HEADER_SIZE + FileIndex.R_PATH_LENGTH) == 0 ? FileIndex.HEADER_SIZE + FileIndex.MIN_RECORD : -1;
        assertTrue(second > 0, "the root's record is the smallest");
        bytes[second + FileIndex.R_KIND] = 90;
        java.nio.file.Files.write(file, bytes);
        reseal(file);
        java.io.IOException e = assertThrows(java.io.IOException.class, () -> FileIndex.load(file, DISK));
        assertTrue(e.getMessage().contains("record 1 has unknown kind 90"), e.getMessage());

        bytes[second + FileIndex.R_KIND] = 0;
        java.nio.ByteBuffer.wrap(bytes).order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt(second + FileIndex.R_PATH_LENGTH, 1 << 30);
        java.nio.file.Files.write(file, bytes);
        reseal(file);
        e = assertThrows(java.io.IOException.class, () -> FileIndex.load(file, DISK));
        assertTrue(e.getMessage().contains("record 1's name claims 1073741824 bytes"), e.getMessage());
    }

    /** Format 1, as dcd wrote it before the header checksum: big-endian, no disk size; read with the same checks. */
    @Test
    void indexesOfOlderGenerationsInFormatOneAreReadAndChecked() throws Exception {
        Path file = saved(ROOT, BIN, TOOL, LINK);
        byte[] v2 = java.nio.file.Files.readAllBytes(file);
        Path old = temp.resolve("old.idx");
        java.nio.file.Files.write(old, formatOne(v2));
        FileIndex index = FileIndex.load(old, DISK);
        assertEquals(TOOL, index.get("bin/tool"));
        assertEquals(LINK, index.get("link"));
        java.io.IOException e = assertThrows(java.io.IOException.class, () -> FileIndex.load(old, 2 << 20));
        assertTrue(e.getMessage().contains("record 2 ('bin/tool') has extent 3145728 (+4096) outside the disk of 2097152"),
                e.getMessage());
    }

    /** Re-encodes a format-2 index of ROOT, BIN, TOOL, LINK in format 1 (same fields, big-endian, 16-byte header). */
    private static byte[] formatOne(byte[] v2) throws Exception {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        java.io.DataOutputStream d = new java.io.DataOutputStream(out);
        d.write("DCDFIDX1".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        d.writeLong(4);
        for (FileIndex.Node n : new FileIndex.Node[] {ROOT, BIN, TOOL, LINK}) {
            d.writeByte(n.kind().ordinal());
            byte[] path = n.path().getBytes(java.nio.charset.StandardCharsets.UTF_8);
            d.writeInt(path.length);
            d.write(path);
            d.writeInt(n.mode());
            d.writeInt(n.uid());
            d.writeInt(n.gid());
            d.writeLong(n.mtimeSeconds());
            d.writeInt(n.mtimeNanos());
            d.writeLong(n.size());
            d.writeInt(n.linkCount());
            d.writeLong(n.fileId());
            byte[] target = n.target().getBytes(java.nio.charset.StandardCharsets.UTF_8);
            d.writeInt(target.length);
            d.write(target);
            d.writeInt(n.extentCount());
            for (long v : n.extents()) {
                d.writeLong(v);
            }
        }
        assertEquals(v2.length - FileIndex.HEADER_SIZE + 16, out.size(), "format 1 differs from 2 only in header and byte order");
        return out.toByteArray();
    }
}
