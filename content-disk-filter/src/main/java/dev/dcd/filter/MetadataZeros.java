package dev.dcd.filter;

import jnr.ffi.LastError;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Runtime;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * The zero ranges inside a generation's thin image (meta.img), so that block status can report the holes
 * of metadata regions too (inode tables, bitmaps and group padding that were declared but never written).
 * The thin image is a sparse file: what the synthesizer never wrote is a hole of the host filesystem, and a
 * hole reads as zeros by definition. The holes are found with {@code lseek(SEEK_DATA/SEEK_HOLE)} once, when
 * the map is made; the data runs between them are reported as data even where they hold zeros (exact for
 * holes, conservative for data). Where the host filesystem or platform cannot answer, the image is all
 * data, which is what block status reported before: never a zero that is not one.
 *
 * <p>Immutable once built: the thin image of a generation is never written after synthesis.
 */
final class MetadataZeros {
    /** {@code whence} values of Linux {@code lseek(2)}; other systems get {@link #NONE}. */
    static final int SEEK_DATA = 3;
    static final int SEEK_HOLE = 4;
    /** {@code ENXIO}: no data at or after the offset (only holes up to the end of the file). */
    private static final int ENXIO = 6;
    private static final int O_RDONLY = 0;

    /** No holes known: everything is data. */
    static final MetadataZeros NONE = new MetadataZeros(new long[0], new long[0]);

    /** The three libc calls used, bound with jnr-ffi. */
    public interface LibC {
        int open(String path, int flags);

        long lseek(int fd, long offset, int whence);

        int close(int fd);
    }

    private static final class Native {
        static final LibC LIBC;
        static final Runtime RUNTIME;

        static {
            LibC lib = null;
            Runtime runtime = null;
            if (System.getProperty("os.name", "").toLowerCase(java.util.Locale.ROOT).contains("linux")) {
                try {
                    lib = LibraryLoader.create(LibC.class).load("c");
                    runtime = Runtime.getRuntime(lib);
                } catch (LinkageError | RuntimeException e) {
                    lib = null;
                }
            }
            LIBC = lib;
            RUNTIME = runtime;
        }
    }

    /** Sorted, disjoint, non-adjacent hole ranges: hole i is [starts[i], ends[i]). */
    private final long[] starts;
    private final long[] ends;

    private MetadataZeros(long[] starts, long[] ends) {
        this.starts = starts;
        this.ends = ends;
    }

    /** Builds from explicit hole ranges (sorted, disjoint), e.g. for tests. */
    static MetadataZeros ofHoles(long[] starts, long[] ends) {
        if (starts.length != ends.length) {
            throw new IllegalArgumentException("starts and ends differ in length");
        }
        for (int i = 0; i < starts.length; i++) {
            if (starts[i] >= ends[i] || (i > 0 && starts[i] <= ends[i - 1])) {
                throw new IllegalArgumentException("holes must be sorted, non-empty and apart");
            }
        }
        return new MetadataZeros(starts.clone(), ends.clone());
    }

    /**
     * The holes of {@code image} within its first {@code size} bytes. Falls back to {@link #NONE} when the
     * platform cannot say (not Linux, no libc binding, a filesystem without SEEK_DATA), never to a guess.
     */
    static MetadataZeros scan(Path image, long size) throws IOException {
        LibC libc = Native.LIBC;
        if (libc == null || size <= 0) {
            return NONE;
        }
        int fd = libc.open(image.toString(), O_RDONLY);
        if (fd < 0) {
            throw new IOException("cannot open " + image + " to find its holes (errno "
                    + LastError.getLastError(Native.RUNTIME) + ")");
        }
        long[] s = new long[16];
        long[] e = new long[16];
        int n = 0;
        try {
            long pos = 0;
            while (pos < size) {
                long data = libc.lseek(fd, pos, SEEK_DATA);
                if (data < 0) {
                    int errno = LastError.getLastError(Native.RUNTIME);
                    if (errno != ENXIO) {
                        return NONE; // SEEK_DATA unsupported here: no claims
                    }
                    data = size; // only a hole remains
                }
                data = Math.min(data, size);
                if (data > pos) {
                    if (n == s.length) {
                        s = Arrays.copyOf(s, n * 2);
                        e = Arrays.copyOf(e, n * 2);
                    }
                    s[n] = pos;
                    e[n] = data;
                    n++;
                }
                if (data >= size) {
                    break;
                }
                long hole = libc.lseek(fd, data, SEEK_HOLE);
                if (hole < 0) {
                    return NONE;
                }
                pos = hole;
            }
        } finally {
            libc.close(fd);
        }
        return new MetadataZeros(Arrays.copyOf(s, n), Arrays.copyOf(e, n));
    }

    /** How many hole ranges are known. */
    int holes() {
        return starts.length;
    }

    /** Bytes in holes. */
    long holeBytes() {
        long total = 0;
        for (int i = 0; i < starts.length; i++) {
            total += ends[i] - starts[i];
        }
        return total;
    }

    /** The index of the first hole that ends after {@code offset}, or {@link #holes()} if none does. */
    int firstEndingAfter(long offset) {
        int lo = 0;
        int hi = starts.length;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (ends[mid] <= offset) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }

    long start(int hole) {
        return starts[hole];
    }

    long end(int hole) {
        return ends[hole];
    }

    /** True when every byte of [offset, offset + length) lies in one hole. */
    boolean isHole(long offset, long length) {
        int i = firstEndingAfter(offset);
        return i < starts.length && starts[i] <= offset && offset + length <= ends[i];
    }
}
