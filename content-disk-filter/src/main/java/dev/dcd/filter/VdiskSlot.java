package dev.dcd.filter;

import dev.dcd.block.BlockDevice;
import dev.dcd.synth.VdiskResolver;
import dev.dcd.vdisk.ChunkChecksums;
import dev.dcd.vdisk.ContentId;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One app vdisk the region map refers to, opened on first use so that a disk whose backend is down still
 * serves every other app. Any failure becomes an {@link AppReadException} naming the app and backend.
 *
 * <p>The device behind a slot can be swapped while reads run ({@link #swap}): the app moved to another backend.
 * Every read takes a {@link Lease} on the device current when it starts and gives it back when it ends; a swap
 * only publishes the new lease (a pointer flip, nothing slow: the caller opened and checked the new device
 * before), so new reads go to the new device at once while reads in flight finish on the old one. The old
 * device is closed by whichever read gives back its last lease, or by the swap itself when none is in flight.
 * The content id does not change, so caches keyed by it stay valid across a swap.
 */
final class VdiskSlot {
    /** Opens the device the slot reads through (the backend's device, or the shared cache in front of it). */
    @FunctionalInterface
    interface Opener {
        BlockDevice open(ContentId id, VdiskLabel label, VdiskResolver resolver) throws IOException;
    }

    /**
     * One device with a reference count: 1 for the slot while it is current, plus 1 per read in flight. At 0
     * it is closed, and a lease can no longer be taken on it (a reader that lost that race reads the slot again).
     */
    static final class Lease {
        final BlockDevice device;
        final VdiskLabel label;
        final boolean remote;
        private final AtomicInteger refs = new AtomicInteger(1);

        Lease(BlockDevice device, VdiskLabel label, boolean remote) {
            this.device = device;
            this.label = label;
            this.remote = remote;
        }

        boolean acquire() {
            for (;;) {
                int n = refs.get();
                if (n == 0) {
                    return false;
                }
                if (refs.compareAndSet(n, n + 1)) {
                    return true;
                }
            }
        }

        void release() {
            if (refs.decrementAndGet() == 0) {
                try {
                    device.close();
                } catch (IOException | RuntimeException e) {
                    // The device is retired either way; a close that fails must not fail a read that succeeded.
                    System.err.println("dcd: closing the replaced device of " + label.app() + " on " + label.backend()
                            + ": " + e.getMessage());
                }
            }
        }

        /** Reads in flight on this device (the slot's own reference not counted once it is replaced). */
        int references() {
            return refs.get();
        }
    }

    private final ContentId id;
    private final VdiskResolver resolver;
    private final Opener opener;
    private final Object lock = new Object();
    /** The label and remoteness the slot had before its first open, then those of the current lease. */
    private volatile VdiskLabel label;
    private volatile boolean remote;
    /** Null until the first read opens the device, and after close. */
    private volatile Lease current;
    private boolean closed;
    /** A first open is under way outside {@link #lock} (see {@link #open}); guarded by {@code lock}. */
    private boolean opening;

    VdiskSlot(ContentId id, VdiskLabel label, VdiskResolver resolver, Opener opener) {
        this(id, label, false, resolver, opener);
    }

    VdiskSlot(ContentId id, VdiskLabel label, boolean remote, VdiskResolver resolver, Opener opener) {
        this.id = id;
        this.label = label;
        this.remote = remote;
        this.resolver = resolver;
        this.opener = opener;
    }

    ContentId id() {
        return id;
    }

    /** The app and the backend that serves it now (it changes with a swap). */
    VdiskLabel label() {
        return label;
    }

    /** True when the backend serving the app now is remote: reads of it are worth prefetching. */
    boolean remote() {
        return remote;
    }

    /** True when every byte of the range is in the shared cache already (reading it costs no backend request). */
    boolean resident(long offset, long length) {
        Lease l = current;
        return l != null && l.device instanceof CachedVdisk c && c.resident(offset, length);
    }

    /** True when the slot is open and read through the shared cache, so {@link #fill} can prefetch into it. */
    boolean fills() {
        Lease l = current;
        return l != null && l.device instanceof CachedVdisk;
    }

    /** Brings a range into the shared cache without copying it out; errors name app and backend like reads. */
    void fill(long offset, long length, Runnable progress) throws IOException {
        Lease l = lease();
        try {
            if (!(l.device instanceof CachedVdisk c)) {
                return;
            }
            c.fill(offset, length, progress);
        } catch (AppReadException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            throw new AppReadException(l.label, "prefetch of vdisk " + id.shortHex() + " at " + offset + " (+" + length
                    + ") failed: " + e.getMessage(), e);
        } finally {
            l.release();
        }
    }

    /**
     * The chunk geometry of the slot's cached device, opening it if needed (a prefetch replay starts before the
     * guest's first read); null when the slot reads its backend directly. Errors name app and backend.
     */
    ChunkChecksums openCachedSums() throws IOException {
        Lease l = lease();
        try {
            return l.device instanceof CachedVdisk c ? c.sums() : null;
        } finally {
            l.release();
        }
    }

    /** As {@link #openCachedSums()}, but null when the slot is not open yet; never opens. */
    ChunkChecksums cachedSums() {
        Lease l = current;
        return l != null && l.device instanceof CachedVdisk c ? c.sums() : null;
    }

    /**
     * Brings chunks {@code [first, first + count)} into the shared cache (a prefetch list's run). Returns how many of
     * them were not cached before, or -1 when the slot is not read through the cache (any more: the app moved to a
     * local backend). Errors name app and backend like reads.
     */
    int fillChunks(int first, int count) throws IOException {
        Lease l = lease();
        try {
            if (!(l.device instanceof CachedVdisk c)) {
                return -1;
            }
            int missing = 0;
            for (int k = first; k < first + count; k++) {
                missing += c.holds(k) ? 0 : 1;
            }
            if (missing > 0) {
                c.fillChunks(first, count, () -> { });
            }
            return missing;
        } catch (AppReadException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            throw new AppReadException(l.label, "prefetch of chunks " + first + "..+" + count + " of vdisk "
                    + id.shortHex() + " failed: " + e.getMessage(), e);
        } finally {
            l.release();
        }
    }

    void read(long offset, ByteBuffer dst) throws IOException {
        Lease l = lease();
        int start = dst.position();
        try {
            l.device.read(offset, dst);
        } catch (AppReadException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            dst.position(start);
            throw new AppReadException(l.label, "read of vdisk " + id.shortHex() + " at " + offset + " (+"
                    + (dst.limit() - start) + ") failed: " + e.getMessage(), e);
        } finally {
            l.release();
        }
    }

    /** A lease on the current device, opening it on first use; the caller releases it. */
    private Lease lease() throws IOException {
        for (;;) {
            Lease l = current;
            if (l == null) {
                l = open();
            }
            if (l.acquire()) {
                return l;
            }
            // Swapped out and closed between the read of current and the acquire: the new one is current now.
        }
    }

    /**
     * Opens the device unless it is open. The opener runs outside {@link #lock}: opening a remote vdisk takes round
     * trips (and, on a dead backend, its whole deadline), and neither {@link #close} nor a {@link #swap} should wait
     * for that. Concurrent first readers wait for the one open in progress instead of opening twice.
     */
    private Lease open() throws IOException {
        VdiskLabel l;
        boolean wasRemote;
        synchronized (lock) {
            for (;;) {
                if (closed) {
                    throw new IOException("disk is closed");
                }
                if (current != null) {
                    return current;
                }
                if (!opening) {
                    break;
                }
                try {
                    lock.wait();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new java.io.InterruptedIOException("interrupted waiting for vdisk " + id.shortHex()
                            + " to open");
                }
            }
            opening = true;
            l = label;
            wasRemote = remote;
        }
        BlockDevice device = null;
        try {
            device = opener.open(id, l, resolver);
        } catch (AppReadException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            throw new AppReadException(l, "cannot open vdisk " + id.shortHex() + ": " + e.getMessage(), e);
        } finally {
            if (device == null) {
                synchronized (lock) {
                    opening = false;
                    lock.notifyAll();
                }
            }
        }
        Lease published;
        boolean unused;
        synchronized (lock) {
            opening = false;
            lock.notifyAll();
            // Closed meanwhile, or a swap published a newer device: this one is not needed.
            unused = closed || current != null;
            if (!unused) {
                current = new Lease(device, l, wasRemote);
            }
            published = current;
        }
        if (unused) {
            try {
                device.close();
            } catch (IOException | RuntimeException e) {
                // Never served a read; nothing depends on closing it cleanly.
            }
        }
        if (published == null) {
            throw new IOException("disk is closed");
        }
        return published;
    }

    /**
     * Opens the slot now if nobody has (a serving disk does it in the background, so that the guest's first read of
     * the app does not pay the backend's round trips to open it), and connects a cached device to its backend even
     * when the manifest came from the cache. Errors name app and backend, as reads do.
     */
    void openAhead() throws IOException {
        Lease l = lease();
        try {
            if (l.device instanceof CachedVdisk c) {
                c.connect();
            }
        } catch (AppReadException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            throw new AppReadException(l.label, "cannot open vdisk " + id.shortHex() + ": " + e.getMessage(), e);
        } finally {
            l.release();
        }
    }

    /**
     * Makes {@code device} (opened and checked by the caller) the one new reads go to, and retires the old one:
     * it is closed once the reads in flight on it have ended. Returns the retired lease (null if the slot had
     * not been opened yet), so callers can see when its last read ends.
     *
     * @throws IOException when the disk is closed already (then {@code device} is closed)
     */
    Lease swap(BlockDevice device, VdiskLabel newLabel, boolean newRemote) throws IOException {
        Lease old;
        synchronized (lock) {
            if (closed) {
                device.close();
                throw new IOException("disk is closed");
            }
            old = current;
            label = newLabel;
            remote = newRemote;
            current = new Lease(device, newLabel, newRemote);
        }
        if (old != null) {
            old.release();
        }
        return old;
    }

    void close() throws IOException {
        Lease l;
        synchronized (lock) {
            closed = true;
            l = current;
            current = null;
        }
        if (l != null) {
            // Reads still in flight (there should be none once the chain closes) close it when they end.
            l.release();
        }
    }
}
