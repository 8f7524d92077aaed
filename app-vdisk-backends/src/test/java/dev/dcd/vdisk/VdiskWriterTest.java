package dev.dcd.vdisk;

import dev.dcd.block.FileBlockDevice;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Random;
import java.util.zip.CRC32C;

import static org.junit.jupiter.api.Assertions.*;

class VdiskWriterTest {
    @TempDir
    Path temp;

    private static ByteArrayInputStream bytes(String s) {
        return new ByteArrayInputStream(s.getBytes(StandardCharsets.UTF_8));
    }

    private VdiskWriter writer(String name) throws IOException {
        return VdiskWriter.create(temp.resolve(name), "app", "1.0", 1L << 30);
    }

    @Test
    void everyFileStartsOnABlockBoundaryAndReadsBackIntact() throws Exception {
        Random random = new Random(1);
        byte[][] contents = new byte[30][];
        SealedVdisk sealed;
        try (VdiskWriter w = writer("a.vdisk")) {
            for (int i = 0; i < contents.length; i++) {
                contents[i] = new byte[random.nextInt(20_000)];
                random.nextBytes(contents[i]);
                w.file("d/f" + i, 0644, 1, 2, 100 + i, 5, new ByteArrayInputStream(contents[i]), contents[i].length);
            }
            sealed = w.finish();
        }
        try (FileBlockDevice device = FileBlockDevice.openReadOnly(sealed.file())) {
            AppVdisk vdisk = AppVdisk.open(device);
            assertEquals(sealed.id(), vdisk.id());
            for (int i = 0; i < contents.length; i++) {
                Entry e = vdisk.manifest().entry("d/f" + i);
                assertEquals(contents[i].length, e.size());
                if (e.size() > 0) {
                    assertEquals(0, e.dataOffset() % VdiskFormat.BLOCK_SIZE, "aligned");
                }
                assertArrayEquals(contents[i], vdisk.open(e).readAllBytes());
                assertArrayEquals(MessageDigest.getInstance("SHA-256").digest(contents[i]), e.sha256());
                assertEquals(1, e.uid());
                assertEquals(2, e.gid());
                assertEquals(100 + i, e.mtimeSeconds());
            }
            assertTrue(vdisk.manifest().entry("d").isDirectory(), "implicit parent directory");
        }
    }

    @Test
    void identicalFilesAreStoredOnceAndTheTailOfTheirBlockIsZero() throws Exception {
        SealedVdisk sealed;
        try (VdiskWriter w = writer("b.vdisk")) {
            w.file("one", 0644, 0, 0, 0, 0, bytes("x".repeat(9000)), 9000);
            w.file("two", 0644, 0, 0, 0, 0, bytes("x".repeat(9000)), 9000);
            w.file("three", 0644, 0, 0, 0, 0, bytes("y"), 1);
            sealed = w.finish();
        }
        Manifest m = sealed.manifest();
        assertEquals(m.entry("one").dataOffset(), m.entry("two").dataOffset());
        assertEquals(VdiskFormat.HEADER_SIZE + 3 * VdiskFormat.BLOCK_SIZE, m.entry("three").dataOffset(), "9000 bytes take three blocks");
        byte[] raw = Files.readAllBytes(sealed.file());
        for (long i = m.entry("one").dataOffset() + 9000; i < m.entry("three").dataOffset(); i++) {
            assertEquals(0, raw[(int) i], "padding byte " + i);
        }
        assertEquals(4 * VdiskFormat.BLOCK_SIZE, m.dataLength(), "the duplicate adds nothing");
    }

    @Test
    void theContentIdIsTheSha256OfTheManifestAndIsStable() throws Exception {
        SealedVdisk a;
        SealedVdisk b;
        try (VdiskWriter w = writer("c1")) {
            w.file("f", 0644, 0, 0, 0, 0, bytes("hello"), 5);
            a = w.finish();
        }
        try (VdiskWriter w = writer("c2")) {
            w.file("f", 0644, 0, 0, 0, 0, bytes("hello"), 5);
            b = w.finish();
        }
        assertEquals(a.id(), b.id());
        assertArrayEquals(Files.readAllBytes(a.file()), Files.readAllBytes(b.file()));
        assertEquals(HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(a.manifest().encode())), a.id().hex());
    }

    @Test
    void hardlinksShareTheirTargetsDataAndSymlinksKeepTheirTarget() throws Exception {
        SealedVdisk sealed;
        try (VdiskWriter w = writer("d")) {
            w.file("bin/tool", 04755, 0, 0, 7, 0, bytes("tool"), 4);
            w.hardlink("bin/alias", "bin/tool");
            w.symlink("bin/link", "tool", 0, 0, 7, 0);
            w.symlink("bin/abs", "/usr/bin/env", 0, 0, 7, 0);
            sealed = w.finish();
        }
        Entry alias = sealed.manifest().entry("bin/alias");
        assertEquals(EntryType.HARDLINK, alias.type());
        assertEquals("bin/tool", alias.target());
        assertEquals(sealed.manifest().entry("bin/tool").dataOffset(), alias.dataOffset());
        assertEquals(04755, alias.mode());
        assertEquals("tool", sealed.manifest().entry("bin/link").target());
    }

    @Test
    void pathsThatLeaveTheRootAreRefused() throws Exception {
        try (VdiskWriter w = writer("e")) {
            assertMessage(w, () -> w.file("../etc/passwd", 0644, 0, 0, 0, 0, bytes(""), 0), "..");
            assertMessage(w, () -> w.file("/etc/passwd", 0644, 0, 0, 0, 0, bytes(""), 0), "absolute");
            assertMessage(w, () -> w.symlink("a/b", "../../x", 0, 0, 0, 0), "escapes");
            assertMessage(w, () -> w.hardlink("h", "../x"), "escapes");
            assertMessage(w, () -> w.hardlink("h", "missing"), "does not name");
            w.symlink("dirlink", "/etc", 0, 0, 0, 0);
            assertMessage(w, () -> w.file("dirlink/passwd", 0644, 0, 0, 0, 0, bytes(""), 0), "not a directory");
            w.file("f", 0644, 0, 0, 0, 0, bytes("a"), 1);
            assertMessage(w, () -> w.file("./f", 0644, 0, 0, 0, 0, bytes("a"), 1), "duplicate");
            assertMessage(w, () -> w.file("n".repeat(256), 0644, 0, 0, 0, 0, bytes(""), 0), "longer than 255");
        }
    }

    @Test
    void truncatedAndOverlongStreamsAndTheSizeLimitAreRefused() throws Exception {
        try (VdiskWriter w = VdiskWriter.create(temp.resolve("f"), "app", "1", 10_000)) {
            assertMessage(w, () -> w.file("short", 0644, 0, 0, 0, 0, bytes("abc"), 10), "truncated");
            assertMessage(w, () -> w.file("long", 0644, 0, 0, 0, 0, bytes("abcdef"), 3), "more than");
            assertMessage(w, () -> w.file("big", 0644, 0, 0, 0, 0, new ByteArrayInputStream(new byte[20_000]), -1), "size limit");
        }
    }

    @Test
    void aCorruptedManifestIsDetected() throws Exception {
        SealedVdisk sealed;
        try (VdiskWriter w = writer("g")) {
            w.file("f", 0644, 0, 0, 0, 0, bytes("data"), 4);
            sealed = w.finish();
        }
        byte[] raw = Files.readAllBytes(sealed.file());
        raw[raw.length - 3] ^= 1;
        Path bad = temp.resolve("bad");
        Files.write(bad, raw);
        try (FileBlockDevice device = FileBlockDevice.openReadOnly(bad)) {
            IOException e = assertThrows(IOException.class, () -> AppVdisk.open(device));
            assertTrue(e.getMessage().contains("does not match its content id"), e.getMessage());
        }
    }

    @Test
    void chunkChecksumsVerifyDataAndCatchFlippedBits() throws Exception {
        SealedVdisk sealed;
        byte[] data = new byte[200_000];
        new Random(3).nextBytes(data);
        try (VdiskWriter w = writer("h")) {
            w.file("f", 0644, 0, 0, 0, 0, new ByteArrayInputStream(data), data.length);
            sealed = w.finish();
        }
        ChunkChecksums sums = sealed.manifest().checksums();
        byte[] raw = Files.readAllBytes(sealed.file());
        for (int c = 0; c < sums.chunkCount(); c++) {
            ByteBuffer chunk = ByteBuffer.wrap(raw, (int) sums.chunkStart(c), sums.chunkLength(c));
            assertTrue(sums.verify(c, chunk.slice()), "chunk " + c);
        }
        raw[(int) sums.chunkStart(1) + 17] ^= 0x40;
        assertFalse(sums.verify(1, ByteBuffer.wrap(raw, (int) sums.chunkStart(1), sums.chunkLength(1)).slice()));
    }

    @Test
    void chunkChecksumsStayRightWhenDuplicatesAndEmptyFilesRollTheEndBackMidChunk() throws Exception {
        Random random = new Random(7);
        byte[][] distinct = new byte[12][];
        for (int i = 0; i < distinct.length; i++) {
            // from a few bytes to a few chunks, so ends fall inside chunks, on their edges and across them
            distinct[i] = new byte[i % 3 == 0 ? random.nextInt(300_000) : random.nextInt(70_000)];
            random.nextBytes(distinct[i]);
        }
        SealedVdisk sealed;
        try (VdiskWriter w = writer("dups")) {
            for (int i = 0; i < 60; i++) {
                byte[] content = i % 7 == 3 ? new byte[0] : distinct[random.nextInt(distinct.length)];
                w.file("f" + i, 0644, 0, 0, 0, 0, new ByteArrayInputStream(content), content.length);
            }
            sealed = w.finish();
        }
        Manifest m = sealed.manifest();
        ChunkChecksums sums = m.checksums();
        assertEquals((m.dataLength() + VdiskFormat.CHECKSUM_CHUNK - 1) / VdiskFormat.CHECKSUM_CHUNK, sums.chunkCount());
        byte[] raw = Files.readAllBytes(sealed.file());
        for (int c = 0; c < sums.chunkCount(); c++) {
            CRC32C crc = new CRC32C();
            crc.update(raw, (int) sums.chunkStart(c), sums.chunkLength(c));
            assertTrue(sums.verify(c, ByteBuffer.wrap(raw, (int) sums.chunkStart(c), sums.chunkLength(c)).slice()),
                    "chunk " + c + " (CRC32C of the bytes on disk: " + Long.toHexString(crc.getValue()) + ")");
        }
        try (FileBlockDevice device = FileBlockDevice.openReadOnly(sealed.file())) {
            AppVdisk vdisk = AppVdisk.open(device);
            for (Entry e : vdisk.manifest().entries()) {
                if (e.isFile()) {
                    assertArrayEquals(MessageDigest.getInstance("SHA-256").digest(vdisk.open(e).readAllBytes()), e.sha256(), e.path());
                }
            }
        }
    }

    @Test
    void aDuplicateLargerThanTheWriteBufferRollsBackIntoDataAlreadyWritten() throws Exception {
        Random random = new Random(13);
        byte[] big = new byte[DataAppender.BUFFER + DataAppender.BUFFER / 2 + 1001];
        byte[] small = new byte[5000];
        byte[] last = new byte[70_000];
        random.nextBytes(big);
        random.nextBytes(small);
        random.nextBytes(last);
        SealedVdisk sealed;
        try (VdiskWriter w = writer("bigdup")) {
            w.file("small", 0644, 0, 0, 0, 0, new ByteArrayInputStream(small), small.length);
            w.file("big", 0644, 0, 0, 0, 0, new ByteArrayInputStream(big), big.length);
            w.file("big-again", 0644, 0, 0, 0, 0, new ByteArrayInputStream(big), big.length);
            w.file("last", 0644, 0, 0, 0, 0, new ByteArrayInputStream(last), last.length);
            sealed = w.finish();
        }
        Manifest m = sealed.manifest();
        assertEquals(m.entry("big").dataOffset(), m.entry("big-again").dataOffset());
        ChunkChecksums sums = m.checksums();
        byte[] raw = Files.readAllBytes(sealed.file());
        for (int c = 0; c < sums.chunkCount(); c++) {
            assertTrue(sums.verify(c, ByteBuffer.wrap(raw, (int) sums.chunkStart(c), sums.chunkLength(c)).slice()), "chunk " + c);
        }
        try (FileBlockDevice device = FileBlockDevice.openReadOnly(sealed.file())) {
            AppVdisk vdisk = AppVdisk.open(device);
            assertArrayEquals(big, vdisk.open(vdisk.manifest().entry("big-again")).readAllBytes());
            assertArrayEquals(last, vdisk.open(vdisk.manifest().entry("last")).readAllBytes());
        }
    }

    @Test
    void aFilePastTheWriteBehindStepIsSealedIntact() throws Exception {
        byte[] data = new byte[(int) (2 * WriteBehind.STEP + 12_345)];
        new Random(11).nextBytes(data);
        SealedVdisk sealed;
        try (VdiskWriter w = writer("big")) {
            w.file("big", 0644, 0, 0, 0, 0, new ByteArrayInputStream(data), data.length);
            sealed = w.finish();
        }
        try (FileBlockDevice device = FileBlockDevice.openReadOnly(sealed.file())) {
            AppVdisk vdisk = AppVdisk.open(device);
            assertArrayEquals(data, vdisk.open(vdisk.manifest().entry("big")).readAllBytes());
        }
    }

    private interface Action {
        void run() throws IOException;
    }

    private static void assertMessage(VdiskWriter w, Action action, String fragment) {
        InvalidEntryException e = assertThrows(InvalidEntryException.class, action::run);
        assertTrue(e.getMessage().contains(fragment), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), "one line");
    }
}
