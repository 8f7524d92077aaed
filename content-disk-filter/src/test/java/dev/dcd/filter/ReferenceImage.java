package dev.dcd.filter;

import dev.dcd.block.FileBlockDevice;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * The model a disk is checked against: a materialized raw image with the same writes applied by plain
 * FileChannel I/O, and trims applied with the documented semantics (whole 4 KiB blocks inside the range go
 * back to the pristine lower bytes; partial edge blocks keep what they had).
 */
final class ReferenceImage implements Closeable {
    private final FileChannel image;
    private final FileChannel pristine;
    private final long size;

    ReferenceImage(Path materialized, Path workCopy) throws IOException {
        Files.copy(materialized, workCopy, StandardCopyOption.REPLACE_EXISTING);
        this.pristine = FileChannel.open(materialized, StandardOpenOption.READ);
        this.image = FileChannel.open(workCopy, StandardOpenOption.READ, StandardOpenOption.WRITE);
        this.size = pristine.size();
    }

    long size() {
        return size;
    }

    void write(long offset, byte[] data) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(data);
        long pos = offset;
        while (b.hasRemaining()) {
            pos += image.write(b, pos);
        }
    }

    void trim(long offset, long length) throws IOException {
        long first = (offset + 4095) / 4096;
        long end = offset + length == size ? (size + 4095) / 4096 : (offset + length) / 4096;
        for (long block = first; block < end; block++) {
            long start = block * 4096;
            int n = (int) Math.min(4096, size - start);
            ByteBuffer b = ByteBuffer.allocate(n);
            FileBlockDevice.readFully(pristine, start, b, "pristine");
            b.flip();
            while (b.hasRemaining()) {
                image.write(b, start + b.position());
            }
        }
    }

    byte[] read(long offset, int length) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(length);
        FileBlockDevice.readFully(image, offset, b, "reference");
        return b.array();
    }

    @Override
    public void close() throws IOException {
        image.close();
        pristine.close();
    }
}
