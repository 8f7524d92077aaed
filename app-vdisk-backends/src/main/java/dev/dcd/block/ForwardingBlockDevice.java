package dev.dcd.block;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A device that passes every call through to {@link #next} unless a subclass overrides it, in the style of an
 * nbdkit filter: a wrapper that counts, renames or injects faults overrides only the calls it changes, and
 * cannot forget to forward the rest. Closing it closes {@code next}.
 *
 * @param <D> the type of the device beneath, so that subclasses (the filter chain's {@code Filter}) can forward
 *            calls of a richer interface without casting
 */
public abstract class ForwardingBlockDevice<D extends BlockDevice> implements BlockDevice {
    protected final D next;

    protected ForwardingBlockDevice(D next) {
        this.next = java.util.Objects.requireNonNull(next, "next");
    }

    /** The device beneath this one. */
    public D next() {
        return next;
    }

    @Override
    public long size() {
        return next.size();
    }

    @Override
    public Capabilities capabilities() {
        return next.capabilities();
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        next.read(offset, dst);
    }

    @Override
    public void write(long offset, ByteBuffer src) throws IOException {
        next.write(offset, src);
    }

    @Override
    public void flush() throws IOException {
        next.flush();
    }

    @Override
    public void trim(long offset, long length) throws IOException {
        next.trim(offset, length);
    }

    @Override
    public String describe() {
        return next.describe();
    }

    @Override
    public void close() throws IOException {
        next.close();
    }
}
