package dev.dcd.filter;

import dev.dcd.block.BlockDevice;
import dev.dcd.synth.VdiskResolver;
import dev.dcd.vdisk.ContentId;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * One app vdisk the region map refers to, opened on first use so that a disk whose backend is down still
 * serves every other app. Any failure becomes an {@link AppReadException} naming the app and backend.
 */
final class VdiskSlot {
    /** Opens the device the slot reads through (the backend's device, or the shared cache in front of it). */
    @FunctionalInterface
    interface Opener {
        BlockDevice open(ContentId id, VdiskLabel label, VdiskResolver resolver) throws IOException;
    }

    private final ContentId id;
    private final VdiskLabel label;
    private final VdiskResolver resolver;
    private final Opener opener;
    private volatile BlockDevice device;
    private boolean closed;

    VdiskSlot(ContentId id, VdiskLabel label, VdiskResolver resolver, Opener opener) {
        this.id = id;
        this.label = label;
        this.resolver = resolver;
        this.opener = opener;
    }

    ContentId id() {
        return id;
    }

    VdiskLabel label() {
        return label;
    }

    /** True when every byte of the range is in the shared cache already (reading it costs no backend request). */
    boolean resident(long offset, long length) {
        return device instanceof CachedVdisk c && c.resident(offset, length);
    }

    /** True when the slot is open and read through the shared cache, so {@link #fill} can prefetch into it. */
    boolean fills() {
        return device instanceof CachedVdisk;
    }

    /** Brings a range into the shared cache without copying it out; errors name app and backend like reads. */
    void fill(long offset, long length, Runnable progress) throws IOException {
        if (!(device instanceof CachedVdisk c)) {
            return;
        }
        try {
            c.fill(offset, length, progress);
        } catch (AppReadException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            throw new AppReadException(label, "prefetch of vdisk " + id.shortHex() + " at " + offset + " (+" + length
                    + ") failed: " + e.getMessage(), e);
        }
    }

    /**
     * The slot's cached device, opening it if needed (a prefetch replay starts before the guest's first read);
     * null when the slot reads its backend directly. Errors name app and backend.
     */
    CachedVdisk cached() throws IOException {
        BlockDevice d = device;
        if (d == null) {
            d = open();
        }
        return d instanceof CachedVdisk c ? c : null;
    }

    /** The open cached device, or null when the slot is not open yet or not cached; never opens. */
    CachedVdisk openCached() {
        return device instanceof CachedVdisk c ? c : null;
    }

    void read(long offset, ByteBuffer dst) throws IOException {
        BlockDevice d = device;
        if (d == null) {
            d = open();
        }
        int start = dst.position();
        try {
            d.read(offset, dst);
        } catch (AppReadException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            dst.position(start);
            throw new AppReadException(label, "read of vdisk " + id.shortHex() + " at " + offset + " (+"
                    + (dst.limit() - start) + ") failed: " + e.getMessage(), e);
        }
    }

    private synchronized BlockDevice open() throws IOException {
        if (closed) {
            throw new IOException("disk is closed");
        }
        if (device == null) {
            try {
                device = opener.open(id, label, resolver);
            } catch (AppReadException e) {
                throw e;
            } catch (IOException | RuntimeException e) {
                throw new AppReadException(label, "cannot open vdisk " + id.shortHex() + ": " + e.getMessage(), e);
            }
        }
        return device;
    }

    synchronized void close() throws IOException {
        closed = true;
        BlockDevice d = device;
        device = null;
        if (d != null) {
            d.close();
        }
    }
}
