package dev.dcd.filter;

/**
 * One run of a device's allocation map, as NBD's block-status reports it: {@link Type#HOLE} is unallocated
 * and reads as zeros (NBD_STATE_HOLE|NBD_STATE_ZERO), {@link Type#ZERO} is allocated but reads as zeros,
 * {@link Type#DATA} is allocated with data.
 */
public record Extent(long offset, long length, Type type) {
    public enum Type { DATA, ZERO, HOLE }

    public Extent {
        if (offset < 0 || length <= 0) {
            throw new IllegalArgumentException("bad extent [" + offset + ", +" + length + ")");
        }
    }

    public long end() {
        return offset + length;
    }

    /** True when the extent reads as zeros. */
    public boolean readsZero() {
        return type != Type.DATA;
    }
}
