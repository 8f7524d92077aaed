package dev.dcd.backend.lun;

import dev.dcd.backend.BackendException;
import dev.dcd.backend.DirectBufferPool;
import dev.dcd.vdisk.SealedVdisk;
import dev.dcd.vdisk.VdiskWriter;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

/** A vdisk in an in-memory LUN, read through {@link LunDevice} with 1 MiB pieces on a pool of four threads. */
class LunDeviceTest {
    private static final int MIB = 1 << 20;
    private static final long AT = 3 * MIB;

    @TempDir
    Path temp;

    private final ExecutorService pool = Executors.newFixedThreadPool(4);

    @AfterEach
    void stop() {
        pool.shutdownNow();
    }

    /** The LUN: the vdisk's bytes at {@link #AT}; reads count, and can be told to flip one byte on the way. */
    private static final class Lun implements LunDevice.Source {
        final byte[] bytes;
        final AtomicInteger reads = new AtomicInteger();
        volatile long flip = -1;

        Lun(byte[] vdisk) {
            bytes = new byte[(int) AT + vdisk.length + MIB];
            System.arraycopy(vdisk, 0, bytes, (int) AT, vdisk.length);
        }

        @Override
        public void read(long lunOffset, ByteBuffer dst, long deadlineNanos) {
            reads.incrementAndGet();
            int at = dst.position();
            int n = dst.remaining();
            dst.put(bytes, (int) lunOffset, n);
            if (flip >= lunOffset && flip < lunOffset + n) {
                dst.put(at + (int) (flip - lunOffset), (byte) (bytes[(int) flip] ^ 1));
            }
        }

        @Override
        public long deadline() {
            return System.nanoTime() + 10_000_000_000L;
        }
    }

    private byte[] vdisk;
    private SealedVdisk sealed;

    private LunDevice open(Lun lun) throws IOException {
        ExtentTable.Extent extent = new ExtentTable.Extent(sealed.id(), AT, sealed.length(), sealed.length());
        return LunDevice.open("lun0", extent, lun, pool, new DirectBufferPool(MIB, 6));
    }

    private Lun lunWithA20MiBFile() throws IOException {
        byte[] data = new byte[20 * MIB + 12345];
        new Random(5).nextBytes(data);
        try (VdiskWriter w = VdiskWriter.create(temp.resolve("v"), "app", "1", 1L << 30)) {
            w.file("big.bin", 0644, 0, 0, 0, 0, new ByteArrayInputStream(data), data.length);
            sealed = w.finish();
        }
        vdisk = Files.readAllBytes(sealed.file());
        return new Lun(vdisk);
    }

    @Test
    void aLongUnalignedReadReturnsExactlyTheVdisksBytesIntoDirectAndHeapBuffers() throws Exception {
        Lun lun = lunWithA20MiBFile();
        try (LunDevice device = open(lun)) {
            for (boolean direct : new boolean[]{true, false}) {
                // 16 MiB from an offset inside a chunk: pieces wholly inside go in place, the two ends through buffers.
                long from = 3 * 65536 + 4096 + 17;
                int n = 16 * MIB + 333;
                ByteBuffer dst = direct ? ByteBuffer.allocateDirect(n + 100) : ByteBuffer.allocate(n + 100);
                dst.position(50).limit(50 + n);
                device.read(from, dst);
                assertEquals(50 + n, dst.position());
                byte[] got = new byte[n];
                dst.get(50, got);
                assertArrayEquals(Arrays.copyOfRange(vdisk, (int) from, (int) from + n), got, "direct " + direct);
            }
        }
    }

    @Test
    void aByteFlippedInAPieceReadInPlaceIsReadAgainAndTheRightBytesServed() throws Exception {
        Lun lun = lunWithA20MiBFile();
        // Inside the sixth 1 MiB piece of the read below, so wholly inside it and read in place; flipped on the way
        // the first time only (a glitch, not damage on the LUN).
        long victim = AT + 5L * MIB + 777;
        lun.flip = victim;
        AtomicInteger seen = new AtomicInteger();
        LunDevice.Source glitchOnce = new LunDevice.Source() {
            @Override
            public void read(long lunOffset, ByteBuffer dst, long deadlineNanos) {
                if (victim >= lunOffset && victim < lunOffset + dst.remaining() && seen.getAndIncrement() > 0) {
                    lun.flip = -1;
                }
                lun.read(lunOffset, dst, deadlineNanos);
            }

            @Override
            public long deadline() {
                return lun.deadline();
            }
        };
        ExtentTable.Extent extent = new ExtentTable.Extent(sealed.id(), AT, sealed.length(), sealed.length());
        ByteBuffer dst = ByteBuffer.allocateDirect(16 * MIB);
        try (LunDevice device = LunDevice.open("lun0", extent, glitchOnce, pool, new DirectBufferPool(MIB, 6))) {
            device.read(4096, dst);
        }
        assertEquals(2, seen.get(), "the piece that failed its check was read a second time");
        byte[] got = new byte[16 * MIB];
        dst.get(0, got);
        assertArrayEquals(Arrays.copyOfRange(vdisk, 4096, 4096 + 16 * MIB), got);
    }

    @Test
    void aByteDamagedOnTheLunFailsTheReadItIsNeverReturnedAsData() throws Exception {
        Lun lun = lunWithA20MiBFile();
        try (LunDevice device = open(lun)) {
            lun.bytes[(int) (AT + 6L * MIB + 99)] ^= 1;
            ByteBuffer dst = ByteBuffer.allocateDirect(16 * MIB);
            BackendException e = assertThrows(BackendException.class, () -> device.read(4096, dst));
            assertTrue(e.getMessage().contains("CRC32C"), e.getMessage());
            // A read that does not touch the damaged chunk is served.
            ByteBuffer small = ByteBuffer.allocate(MIB);
            device.read(4096, small);
            assertArrayEquals(Arrays.copyOfRange(vdisk, 4096, 4096 + MIB), small.array());
        }
    }
}
