package dev.dcd.block;

/**
 * What a device supports beyond reads. Kept apart from the I/O so that a filter can declare
 * what it adds or hides without touching the data path (as in nbdkit's can_* callbacks).
 */
public record Capabilities(boolean writable, boolean flush, boolean trim, boolean zero, boolean extents) {

    public static final Capabilities READ_ONLY = new Capabilities(false, false, false, false, false);
    public static final Capabilities READ_WRITE = new Capabilities(true, true, true, false, false);

    public Capabilities withWritable(boolean value) {
        return new Capabilities(value, flush, trim, zero, extents);
    }

    public Capabilities withFlush(boolean value) {
        return new Capabilities(writable, value, trim, zero, extents);
    }

    public Capabilities withTrim(boolean value) {
        return new Capabilities(writable, flush, value, zero, extents);
    }

    public Capabilities withZero(boolean value) {
        return new Capabilities(writable, flush, trim, value, extents);
    }

    public Capabilities withExtents(boolean value) {
        return new Capabilities(writable, flush, trim, zero, value);
    }
}
