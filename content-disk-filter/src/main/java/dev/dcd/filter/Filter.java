package dev.dcd.filter;

import dev.dcd.block.ForwardingBlockDevice;

import java.io.IOException;
import java.util.List;

/**
 * A layer of the chain, in the style of nbdkit filters: every callback forwards to {@link #next} unless a
 * subclass overrides it ({@link ForwardingBlockDevice} does that for the plain device calls, this class adds
 * {@link #zero} and {@link #extents}), and {@link #capabilities()} forwards too, so a filter adds or hides a
 * capability by overriding only that method. Closing a filter closes the rest of the chain beneath it.
 */
public abstract class Filter extends ForwardingBlockDevice<ExtendedBlockDevice> implements ExtendedBlockDevice {

    protected Filter(ExtendedBlockDevice next) {
        super(next);
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
}
