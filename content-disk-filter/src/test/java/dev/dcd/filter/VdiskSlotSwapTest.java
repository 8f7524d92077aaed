package dev.dcd.filter;

import dev.dcd.block.BlockDevice;
import dev.dcd.block.Capabilities;
import dev.dcd.vdisk.ContentId;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.*;

/** A slot swaps its device under reads in flight: no read fails, none sees a wrong byte, old devices close late. */
class VdiskSlotSwapTest {
    private static final ContentId ID = new ContentId("ab".repeat(32));
    private static final long SIZE = 1 << 20;

    /** The same content on every "backend": byte i is a function of i, as for one content id anywhere. */
    static byte expected(long offset) {
        return (byte) (offset * 31 + (offset >>> 8));
    }

    /** A device that fails any read after close, so a read that runs on a closed device cannot go unnoticed. */
    static final class Device implements BlockDevice {
        final String backend;
        final AtomicBoolean closed = new AtomicBoolean();
        final AtomicLong reads = new AtomicLong();
        volatile CountDownLatch entered;
        volatile CountDownLatch proceed;

        Device(String backend) {
            this.backend = backend;
        }

        @Override
        public long size() {
            return SIZE;
        }

        @Override
        public Capabilities capabilities() {
            return Capabilities.READ_ONLY;
        }

        @Override
        public void read(long offset, ByteBuffer dst) throws IOException {
            reads.incrementAndGet();
            CountDownLatch in = entered;
            if (in != null) {
                in.countDown();
                try {
                    assertTrue(proceed.await(30, TimeUnit.SECONDS));
                } catch (InterruptedException e) {
                    throw new IOException(e);
                }
            }
            if (closed.get()) {
                throw new IOException(backend + " is closed");
            }
            for (long pos = offset; dst.hasRemaining(); pos++) {
                dst.put(expected(pos));
            }
        }

        @Override
        public void close() {
            if (!closed.compareAndSet(false, true)) {
                throw new IllegalStateException(backend + " closed twice");
            }
        }
    }

    @Test
    void swapsUnderConcurrentReadsWithoutAFailedOrWrongReadAndClosesEveryReplacedDevice() throws Exception {
        Device first = new Device("local");
        VdiskSlot slot = new VdiskSlot(ID, new VdiskLabel("app@1", "local"), id -> first,
                (id, label, resolver) -> resolver.open(id));
        List<Device> devices = new ArrayList<>(List.of(first));
        AtomicBoolean stop = new AtomicBoolean();
        AtomicInteger failures = new AtomicInteger();
        AtomicLong readsDone = new AtomicLong();
        ExecutorService readers = Executors.newFixedThreadPool(4);
        List<Future<?>> running = new ArrayList<>();
        for (int t = 0; t < 4; t++) {
            running.add(readers.submit(() -> {
                ThreadLocalRandom random = ThreadLocalRandom.current();
                while (!stop.get()) {
                    long offset = random.nextLong(SIZE - 8192);
                    ByteBuffer dst = ByteBuffer.allocate(1 + random.nextInt(8192));
                    try {
                        slot.read(offset, dst);
                        for (int i = 0; i < dst.capacity(); i++) {
                            if (dst.get(i) != expected(offset + i)) {
                                failures.incrementAndGet();
                            }
                        }
                    } catch (IOException | RuntimeException e) {
                        failures.incrementAndGet();
                    }
                    readsDone.incrementAndGet();
                }
                return null;
            }));
        }
        for (int i = 0; i < 300; i++) {
            Device next = new Device(i % 2 == 0 ? "s3" : "local");
            devices.add(next);
            slot.swap(next, new VdiskLabel("app@1", next.backend), i % 2 == 0);
            assertEquals(next.backend, slot.label().backend(), "the label names the new backend at once");
            long before = readsDone.get();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (readsDone.get() < before + 4 && System.nanoTime() < deadline) {
                Thread.onSpinWait(); // let readers run on the new device before the next swap
            }
        }
        stop.set(true);
        for (Future<?> f : running) {
            f.get(60, TimeUnit.SECONDS);
        }
        readers.shutdown();
        assertEquals(0, failures.get(), "failed or wrong reads");
        for (int i = 0; i < devices.size() - 1; i++) {
            assertTrue(devices.get(i).closed.get(), "replaced device " + i + " is closed once its reads ended");
        }
        Device last = devices.get(devices.size() - 1);
        assertFalse(last.closed.get(), "the current device stays open");
        assertTrue(last.reads.get() > 0, "new reads go to the new device");
        slot.close();
        assertTrue(last.closed.get(), "closing the slot closes the current device");
    }

    @Test
    void theOldDeviceClosesOnlyAfterTheLastReadInFlightOnItEnds() throws Exception {
        Device old = new Device("local");
        old.entered = new CountDownLatch(1);
        old.proceed = new CountDownLatch(1);
        VdiskSlot slot = new VdiskSlot(ID, new VdiskLabel("app@1", "local"), id -> old,
                (id, label, resolver) -> resolver.open(id));
        ExecutorService reader = Executors.newSingleThreadExecutor();
        ByteBuffer slow = ByteBuffer.allocate(4096);
        Future<?> inFlight = reader.submit(() -> {
            slot.read(8192, slow);
            return null;
        });
        assertTrue(old.entered.await(30, TimeUnit.SECONDS), "the read is in flight on the old device");

        Device fresh = new Device("s3");
        VdiskSlot.Lease retired = slot.swap(fresh, new VdiskLabel("app@1", "s3"), true);
        assertNotNull(retired);
        assertFalse(old.closed.get(), "a read still runs on the old device, so it stays open");
        assertEquals(1, retired.references(), "only the read in flight holds the old device");

        ByteBuffer now = ByteBuffer.allocate(100);
        slot.read(0, now);
        assertEquals(1, fresh.reads.get(), "a read that starts after the swap goes to the new device");
        assertEquals(expected(99), now.get(99));

        old.proceed.countDown();
        inFlight.get(30, TimeUnit.SECONDS);
        reader.shutdown();
        for (int i = 0; i < slow.capacity(); i++) {
            assertEquals(expected(8192 + i), slow.get(i), "the read in flight finished on the old device, intact");
        }
        assertTrue(old.closed.get(), "the last read on the old device closed it");
        assertFalse(fresh.closed.get());
        slot.close();
        assertTrue(fresh.closed.get());
    }

    @Test
    void aSwapBeforeTheFirstReadReplacesNothingAndASwapAfterCloseIsRefused() throws Exception {
        Device never = new Device("local");
        VdiskSlot slot = new VdiskSlot(ID, new VdiskLabel("app@1", "local"), id -> never,
                (id, label, resolver) -> resolver.open(id));
        Device moved = new Device("nas");
        assertNull(slot.swap(moved, new VdiskLabel("app@1", "nas"), true), "nothing was open to retire");
        slot.read(0, ByteBuffer.allocate(10));
        assertEquals(0, never.reads.get(), "the original backend is not opened after the app moved away");
        assertEquals(1, moved.reads.get());
        assertTrue(slot.remote());
        slot.close();
        assertTrue(moved.closed.get());
        Device late = new Device("s3");
        assertThrows(IOException.class, () -> slot.swap(late, new VdiskLabel("app@1", "s3"), true));
        assertTrue(late.closed.get(), "a device handed to a closed slot is closed, not leaked");
    }
}
