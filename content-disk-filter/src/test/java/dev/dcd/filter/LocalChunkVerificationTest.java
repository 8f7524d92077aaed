package dev.dcd.filter;

import dev.dcd.synth.RegionMap;
import dev.dcd.synth.VdiskResolver;
import dev.dcd.vdisk.ContentId;
import dev.dcd.vdisk.VdiskFormat;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A local app vdisk (read without the shared cache) is checked chunk by chunk against its manifest's CRC32C:
 * a damaged chunk is an error naming app and chunk, never different bytes; damaged headers and manifests are
 * found when the vdisk is opened.
 */
class LocalChunkVerificationTest {
    @TempDir
    static Path temp;
    static TestGeneration gen;
    static RegionMap.Region region;
    static byte[] pristine;

    @TempDir
    Path work;

    @BeforeAll
    static void createGeneration() throws IOException {
        gen = TestGeneration.create(temp, "local", TestGeneration.Shape.SMALL, 13);
        // The first app-0 region of at least 3 chunks, so a damaged chunk has good neighbours.
        region = gen.map.regions().stream()
                .filter(r -> r.kind() == RegionMap.Kind.APP_DATA && r.vdisk() == 0 && r.length() >= 3 * 65536)
                .findFirst().orElseThrow();
        pristine = readAll(gen.disk().build(), region.start(), (int) region.length());
    }

    /** A copy of the generation's vdisk of app 0 with 4 bytes flipped at {@code vdiskOffset}. */
    private VdiskResolver damaged(long vdiskOffset) throws IOException {
        ContentId id = gen.map.vdisks().get(0);
        Path copy = work.resolve(id.hex() + ".vdisk");
        Files.copy(gen.vdiskFile(id), copy);
        try (FileChannel ch = FileChannel.open(copy, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer four = ByteBuffer.allocate(4);
            ch.read(four, vdiskOffset);
            for (int i = 0; i < 4; i++) {
                four.put(i, (byte) ~four.get(i));
            }
            ch.write(four.flip(), vdiskOffset);
        }
        VdiskResolver good = gen.resolver();
        return vid -> vid.equals(id) ? dev.dcd.block.FileBlockDevice.openReadOnly(copy) : good.open(vid);
    }

    private DynamicContentDisk open(VdiskResolver resolver) throws IOException {
        return DynamicContentDisk.builder().generationDir(gen.dir).resolver(resolver).labels(gen.labels).build();
    }

    private static byte[] readAll(DynamicContentDisk disk, long offset, int length) throws IOException {
        try (disk) {
            ByteBuffer b = ByteBuffer.allocate(length);
            disk.read(offset, b);
            return b.array();
        }
    }

    /** Vdisk chunk index of a vdisk offset inside the data region. */
    private static int chunkOf(long vdiskOffset) {
        return (int) ((vdiskOffset - VdiskFormat.HEADER_SIZE) / VdiskFormat.CHECKSUM_CHUNK);
    }

    private static long chunkStart(int chunk) {
        return VdiskFormat.HEADER_SIZE + (long) chunk * VdiskFormat.CHECKSUM_CHUNK;
    }

    @Test
    void fourFlippedBytesInAChunkGiveAnErrorNamingAppAndChunkNotDifferentBytes() throws IOException {
        int chunk = chunkOf(region.vdiskOffset()) + 1;
        long flipAt = chunkStart(chunk) + 1000;
        try (DynamicContentDisk disk = open(damaged(flipAt))) {
            ByteBuffer whole = ByteBuffer.allocate((int) region.length());
            AppReadException e = assertThrows(AppReadException.class, () -> disk.read(region.start(), whole));
            assertEquals("app0@1.0", e.app());
            assertTrue(e.getMessage().contains("chunk " + chunk + " of vdisk")
                    && e.getMessage().contains("CRC32C"), e.getMessage());
            assertFalse(e.getMessage().contains("\n"));
            assertEquals(0, whole.position(), "nothing is reported as read");

            // Asked again, in a small read inside the chunk: still an error, never the damaged bytes.
            long diskOffsetOfFlip = region.start() + (flipAt - region.vdiskOffset());
            assertThrows(AppReadException.class, () -> disk.read(diskOffsetOfFlip - 100, ByteBuffer.allocate(4096)));
            assertThrows(AppReadException.class, () -> disk.read(diskOffsetOfFlip & -4096, ByteBuffer.allocate(4096)));

            // The chunks around it are served, and are the right bytes.
            long chunkStartOnDisk = region.start() + (chunkStart(chunk) - region.vdiskOffset());
            ByteBuffer before = ByteBuffer.allocate(4096);
            disk.read(chunkStartOnDisk - 4096, before);
            assertArrayEquals(slice(pristine, chunkStartOnDisk - 4096 - region.start(), 4096), before.array());
            ByteBuffer after = ByteBuffer.allocate(8192);
            disk.read(chunkStartOnDisk + 65536, after);
            assertArrayEquals(slice(pristine, chunkStartOnDisk + 65536 - region.start(), 8192), after.array());
            assertEquals(3, disk.stats().op("read").errors(), "each failed read is counted as an error");
        }
    }

    @Test
    void aSmallReadInsideADamagedChunkIsCaughtThoughItDoesNotTouchTheDamagedBytes() throws IOException {
        int chunk = chunkOf(region.vdiskOffset()) + 1;
        long flipAt = chunkStart(chunk) + 60000;
        long diskOffsetOfChunk = region.start() + (chunkStart(chunk) - region.vdiskOffset());
        try (DynamicContentDisk disk = open(damaged(flipAt))) {
            ByteBuffer b = ByteBuffer.allocate(4096);
            AppReadException e = assertThrows(AppReadException.class, () -> disk.read(diskOffsetOfChunk, b));
            assertTrue(e.getMessage().contains("chunk " + chunkOf(flipAt)), e.getMessage());
        }
    }

    @Test
    void anUndamagedVdiskReadsTheSameBytesTwiceOnceCheckedAndOnceRemembered() throws IOException {
        try (DynamicContentDisk disk = gen.disk().build()) {
            for (int pass = 0; pass < 2; pass++) {
                ByteBuffer b = ByteBuffer.allocate((int) region.length());
                disk.read(region.start(), b);
                assertArrayEquals(pristine, b.array());
            }
        }
    }

    @Test
    void aDamagedHeaderMagicIsFoundWhenTheVdiskIsOpened() throws IOException {
        try (DynamicContentDisk disk = open(damaged(0))) {
            AppReadException e = assertThrows(AppReadException.class,
                    () -> disk.read(region.start(), ByteBuffer.allocate(4096)));
            assertTrue(e.getMessage().startsWith("app app0@1.0 on backend 'local': cannot open vdisk"), e.getMessage());
        }
    }

    @Test
    void aDamagedManifestIsFoundWhenTheVdiskIsOpened() throws IOException {
        ContentId id = gen.map.vdisks().get(0);
        long manifestOffset = Files.size(gen.vdiskFile(id)) - 40;
        try (DynamicContentDisk disk = open(damaged(manifestOffset))) {
            AppReadException e = assertThrows(AppReadException.class,
                    () -> disk.read(region.start(), ByteBuffer.allocate(4096)));
            assertTrue(e.getMessage().contains("cannot open vdisk") && e.getMessage().contains("manifest"),
                    e.getMessage());
        }
    }

    private static byte[] slice(byte[] all, long from, int length) {
        byte[] out = new byte[length];
        System.arraycopy(all, (int) from, out, 0, length);
        return out;
    }

    @Test
    void aChunkIsCheckedOnceAndThenOnlyRead() throws IOException {
        java.util.concurrent.atomic.AtomicInteger reads = new java.util.concurrent.atomic.AtomicInteger();
        VdiskResolver counting = vid -> {
            dev.dcd.block.BlockDevice d = gen.resolver().open(vid);
            return new dev.dcd.block.BlockDevice() {
                @Override
                public long size() {
                    return d.size();
                }

                @Override
                public dev.dcd.block.Capabilities capabilities() {
                    return d.capabilities();
                }

                @Override
                public void read(long offset, ByteBuffer dst) throws IOException {
                    reads.incrementAndGet();
                    d.read(offset, dst);
                }

                @Override
                public void close() throws IOException {
                    d.close();
                }
            };
        };
        int chunk = chunkOf(region.vdiskOffset()) + 1;
        long inside = region.start() + (chunkStart(chunk) - region.vdiskOffset()) + 8192;
        try (DynamicContentDisk disk = open(counting)) {
            disk.read(inside, ByteBuffer.allocate(4096));   // opens the vdisk (header, manifest), then checks the chunk
            int afterFirst = reads.get();
            disk.read(inside, ByteBuffer.allocate(4096));
            assertEquals(afterFirst + 1, reads.get(), "a verified chunk costs the read alone");
            ByteBuffer whole = ByteBuffer.allocate(65536);
            disk.read(inside - 8192, whole);
            assertEquals(afterFirst + 2, reads.get(), "the whole chunk, verified before, is one read");
            assertArrayEquals(slice(pristine, inside - 8192 - region.start(), 65536), whole.array());
        }
    }
}
