package dev.dcd.backend;

import dev.dcd.block.ChunkVerifiedDevice;
import dev.dcd.vdisk.ChunkChecksums;
import dev.dcd.vdisk.SealedVdisk;
import dev.dcd.vdisk.VdiskFormat;
import dev.dcd.vdisk.VdiskHeader;
import dev.dcd.vdisk.VdiskWriter;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A remote device's read of a real sealed vdisk: header and manifest from memory, the data region between them from
 * the backend only, each part handed over at its own position 0 with the device's deadline.
 */
class RemoteVdiskDeviceTest {
    @TempDir
    static Path temp;
    private static byte[] raw;
    private static VdiskHeader header;
    private static ChunkChecksums sums;

    @BeforeAll
    static void sealOne() throws Exception {
        byte[] data = new byte[200_000];
        new Random(5).nextBytes(data);
        SealedVdisk sealed;
        try (VdiskWriter w = VdiskWriter.create(temp.resolve("v"), "app", "1.0", 1L << 30)) {
            w.file("f", 0644, 0, 0, 0, 0, new ByteArrayInputStream(data), data.length);
            sealed = w.finish();
        }
        raw = Files.readAllBytes(sealed.file());
        header = VdiskHeader.decode(ByteBuffer.wrap(raw, 0, VdiskFormat.HEADER_SIZE).slice(), "test");
        sums = sealed.manifest().checksums();
    }

    private static byte[] bytes(long from, int n) {
        return Arrays.copyOfRange(raw, (int) from, (int) from + n);
    }

    /** Records what it was asked for; its "backend" is the vdisk file's bytes. */
    private static final class Device extends RemoteVdiskDevice {
        final List<long[]> dataReads = new ArrayList<>();

        Device(ChunkChecksums sums) {
            super("far", "vdisk-1", raw.length, bytes(0, VdiskFormat.HEADER_SIZE), header.manifestOffset(),
                    bytes(header.manifestOffset(), (int) header.manifestLength()), sums);
        }

        @Override
        protected long deadline() {
            return 42;
        }

        @Override
        protected void readData(long pos, ByteBuffer part, long deadline) {
            assertEquals(42, deadline);
            assertEquals(0, part.position(), "the data part starts at its own position 0");
            dataReads.add(new long[] {pos, part.remaining()});
            part.put(bytes(pos, part.remaining()));
        }

        @Override
        public void streamChunks(int first, int count, ChunkVerifiedDevice.ChunkSink sink) {
            throw new UnsupportedOperationException();
        }
    }

    private static byte[] read(Device device, long offset, int length) throws Exception {
        ByteBuffer dst = ByteBuffer.allocate(length + 4).position(2).limit(2 + length);
        device.read(offset, dst);
        assertEquals(2 + length, dst.position(), "dst advanced by what was read");
        byte[] out = new byte[length];
        dst.get(2, out);
        return out;
    }

    @Test
    void aReadOfTheWholeVdiskAsksTheBackendForTheDataRegionOnly() throws Exception {
        Device device = new Device(sums);
        assertArrayEquals(raw, read(device, 0, raw.length));
        assertEquals(1, device.dataReads.size());
        assertArrayEquals(new long[] {header.dataOffset(), header.dataLength()}, device.dataReads.get(0));
    }

    @Test
    void headerAndManifestBytesNeverGoToTheBackend() throws Exception {
        Device device = new Device(sums);
        assertArrayEquals(bytes(3, 10), read(device, 3, 10));
        assertArrayEquals(bytes(header.manifestOffset() + 2, 5), read(device, header.manifestOffset() + 2, 5));
        assertEquals(0, device.dataReads.size());
    }

    @Test
    void aReadInsideTheDataRegionIsOnePart() throws Exception {
        Device device = new Device(sums);
        long at = header.dataOffset() + 1000;
        assertArrayEquals(bytes(at, 30), read(device, at, 30));
        assertArrayEquals(new long[] {at, 30}, device.dataReads.get(0));
    }

    @Test
    void theDataRegionCannotBeReadWhileTheDeviceIsStillOpening() throws Exception {
        Device opening = new Device(null);
        assertArrayEquals(bytes(0, 16), read(opening, 0, 16));
        assertThrows(IllegalStateException.class, () -> read(opening, header.dataOffset(), 4));
    }

    @Test
    void aClosedDeviceRefusesReadsByName() {
        Device device = new Device(sums);
        device.close();
        BackendException e = assertThrows(BackendException.class, () -> read(device, 0, 4));
        assertTrue(e.getMessage().contains("far") && e.getMessage().contains("closed"), e.getMessage());
        assertEquals("far:vdisk-1", device.describe());
    }

    @Test
    void readsOutsideTheDeviceAreRefusedBeforeAnything() {
        Device device = new Device(sums);
        assertThrows(java.io.EOFException.class, () -> read(device, raw.length - 2, 4));
        assertEquals(0, device.dataReads.size());
    }
}
