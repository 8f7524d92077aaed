package dev.dcd.block;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A byte-addressed device of fixed size: an app vdisk on a backend, a synthesized disk, a filter in a chain.
 *
 * <p>Offsets are absolute byte offsets; callers need not align them. Implementations must be safe for
 * concurrent {@link #read} calls, because FUSE, readahead and the cache all read in parallel.
 */
public interface BlockDevice extends Closeable {

    /** Size in bytes. Reads and writes must stay within {@code [0, size)}. */
    long size();

    /** What this device supports besides reads, declared apart from the I/O itself. */
    Capabilities capabilities();

    /**
     * Reads exactly {@code dst.remaining()} bytes starting at {@code offset}, advancing {@code dst}'s position.
     *
     * @throws java.io.EOFException if the range runs past {@link #size()}
     */
    void read(long offset, ByteBuffer dst) throws IOException;

    /** Writes all of {@code src}'s remaining bytes at {@code offset}. */
    default void write(long offset, ByteBuffer src) throws IOException {
        throw new ReadOnlyDeviceException(describe());
    }

    /** Makes every acknowledged write durable. */
    default void flush() throws IOException {
    }

    /** Declares a range unused; afterwards it reads as whatever lies beneath (zeros for a plain device). */
    default void trim(long offset, long length) throws IOException {
        throw new UnsupportedOperationException("trim is not supported by " + describe());
    }

    /** A short human-readable name, used in error messages. */
    default String describe() {
        return getClass().getSimpleName();
    }

    @Override
    default void close() throws IOException {
    }

    /** Checks a request against the device size; every implementation calls this first. */
    static void checkRange(BlockDevice device, long offset, long length) throws IOException {
        if (offset < 0 || length < 0 || offset > device.size() - length) {
            throw new java.io.EOFException("range [" + offset + ", +" + length + ") is outside "
                    + device.describe() + " of " + device.size() + " bytes");
        }
    }
}
