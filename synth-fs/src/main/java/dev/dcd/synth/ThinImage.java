package dev.dcd.synth;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.TreeMap;

/**
 * The generation's thin disk: a sparse file of the full virtual size holding only metadata, at the offsets
 * the guest sees. Every write, and every range declared as metadata that stays zero (an unused inode table),
 * becomes a metadata region of the map.
 */
public final class ThinImage implements Closeable {
    private final FileChannel channel;
    private final long size;
    /** start -> end of metadata ranges, kept merged so scattered small writes stay few regions. */
    private final TreeMap<Long, Long> ranges = new TreeMap<>();

    private ThinImage(FileChannel channel, long size) {
        this.channel = channel;
        this.size = size;
    }

    public static ThinImage create(Path file, long size) throws IOException {
        FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
                StandardOpenOption.WRITE, StandardOpenOption.SPARSE);
        // Extending by writing the last byte would allocate a block; truncate-up keeps the file all hole.
        try (var raf = new java.io.RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(size);
        }
        return new ThinImage(channel, size);
    }

    public long size() {
        return size;
    }

    public void write(long offset, ByteBuffer src) throws IOException {
        int length = src.remaining();
        check(offset, length);
        long at = offset;
        while (src.hasRemaining()) {
            at += channel.write(src, at);
        }
        declare(offset, length);
    }

    public void write(long offset, byte[] bytes) throws IOException {
        write(offset, ByteBuffer.wrap(bytes));
    }

    /** Marks a range as metadata without writing it: it reads as zeros from the sparse file. */
    public void declare(long offset, long length) {
        if (length <= 0) {
            return;
        }
        check(offset, length);
        long start = offset;
        long end = offset + length;
        Map.Entry<Long, Long> before = ranges.floorEntry(start);
        if (before != null && before.getValue() >= start) {
            start = before.getKey();
            end = Math.max(end, before.getValue());
            ranges.remove(before.getKey());
        }
        Map.Entry<Long, Long> next;
        while ((next = ranges.ceilingEntry(start)) != null && next.getKey() <= end) {
            end = Math.max(end, next.getValue());
            ranges.remove(next.getKey());
        }
        ranges.put(start, end);
    }

    /** Adds every metadata range to the region map. */
    public void addTo(RegionMapBuilder builder) {
        for (Map.Entry<Long, Long> range : ranges.entrySet()) {
            builder.metadata(range.getKey(), range.getValue() - range.getKey());
        }
    }

    private void check(long offset, long length) {
        if (offset < 0 || length < 0 || offset + length > size) {
            throw new IllegalArgumentException("metadata write [" + offset + ", +" + length + ") outside disk of " + size);
        }
    }

    /**
     * Makes every written byte durable. fdatasync suffices: the image is a new file, and what it skips (the
     * file's times) is not needed to read the data back; its size and block allocation are, and are synced.
     */
    public void force() throws IOException {
        channel.force(false);
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
