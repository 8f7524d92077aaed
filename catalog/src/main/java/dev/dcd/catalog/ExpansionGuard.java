package dev.dcd.catalog;

import dev.dcd.vdisk.InvalidEntryException;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;

/**
 * Refuses a source that expands too far beyond the compressed bytes read so far: a decompression bomb
 * (17 MiB of gzip that inflates to 16 GiB) is stopped after {@link #FLOOR} bytes instead of filling
 * {@code tmp/} up to {@code --max-size}. Below the floor nothing is refused, so small archives of very
 * compressible files (a zero-filled 100 MiB file in a 100 KiB tar.gz) still import. One guard serves one
 * import: {@link #compressed} counts what comes from the file, {@link #expanded} what comes out of the
 * decompressor.
 */
final class ExpansionGuard {
    /** Bytes that may be expanded before the ratio applies. */
    static final long FLOOR = 256L << 20;

    private final String what;
    private final long maxRatio;
    private long compressedBytes;
    private long expandedBytes;

    /** @param maxRatio the most expanded bytes per compressed byte; 0 turns the guard off */
    ExpansionGuard(String what, long maxRatio) {
        this.what = what;
        this.maxRatio = maxRatio;
    }

    /** Counts bytes read from the source file. */
    InputStream compressed(InputStream in) {
        return new Counting(in, false);
    }

    /** Counts bytes the decompressor produced, and refuses once they are too many. */
    InputStream expanded(InputStream in) {
        return new Counting(in, true);
    }

    /** Adds compressed bytes known without reading them through {@link #compressed} (a zip entry's size). */
    void addCompressed(long bytes) {
        compressedBytes += Math.max(0, bytes);
    }

    private void check() throws InvalidEntryException {
        if (maxRatio > 0 && expandedBytes > FLOOR && expandedBytes > Math.max(1, compressedBytes) * maxRatio) {
            throw new InvalidEntryException(what + " expands more than " + maxRatio + " times its compressed size ("
                    + Sizes.format(expandedBytes) + " from " + Sizes.format(compressedBytes)
                    + " read so far), so it looks like a decompression bomb; raise --max-ratio (0 turns the check off)"
                    + " if this is expected");
        }
    }

    private final class Counting extends FilterInputStream {
        private final boolean expanding;

        Counting(InputStream in, boolean expanding) {
            super(in);
            this.expanding = expanding;
        }

        @Override
        public int read() throws IOException {
            int b = super.read();
            if (b >= 0) {
                count(1);
            }
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = super.read(b, off, len);
            if (n > 0) {
                count(n);
            }
            return n;
        }

        @Override
        public long skip(long n) throws IOException {
            long skipped = super.skip(n);
            if (skipped > 0) {
                count(skipped);
            }
            return skipped;
        }

        private void count(long n) throws InvalidEntryException {
            if (expanding) {
                expandedBytes += n;
                check();
            } else {
                compressedBytes += n;
            }
        }
    }
}
