package dev.dcd.filter;

import dev.dcd.block.Capabilities;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * A layer of the chain, in the style of nbdkit filters: every callback forwards to {@link #next} unless a
 * subclass overrides it, and {@link #capabilities()} forwards too, so a filter adds or hides a capability by
 * overriding only that method. Closing a filter closes the rest of the chain beneath it.
 */
public abstract class Filter implements ExtendedBlockDevice {
    protected final ExtendedBlockDevice next;

    protected Filter(ExtendedBlockDevice next) {
        this.next = next;
    }

    public ExtendedBlockDevice next() {
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
    public void zero(long offset, long length) throws IOException {
        next.zero(offset, length);
    }

    @Override
    public List<Extent> extents(long offset, long length) throws IOException {
        return next.extents(offset, length);
    }

    /** The filter's own name; the chain's description lists every layer top first. */
    protected String filterName() {
        return getClass().getSimpleName();
    }

    @Override
    public String describe() {
        return filterName() + " > " + next.describe();
    }

    @Override
    public void close() throws IOException {
        next.close();
    }
}
