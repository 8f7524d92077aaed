package dev.dcd.vdisk;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

class WriteBehindTest {
    @TempDir
    Path temp;

    @Test
    void aWriterThatStaysBelowOneStepNeverStartsWriteback() throws Exception {
        try (ForceWatch channel = new ForceWatch(open("small"), false)) {
            WriteBehind behind = new WriteBehind(channel);
            behind.advanced(WriteBehind.STEP - 1);
            behind.finish();
            assertEquals(0, channel.forces.get());
        }
    }

    @Test
    void aWriterOneStepAheadGetsItsBytesForcedWhileItGoesOn() throws Exception {
        try (ForceWatch channel = new ForceWatch(open("ahead"), false)) {
            WriteBehind behind = new WriteBehind(channel);
            behind.advanced(WriteBehind.STEP);
            assertTrue(channel.forced.await(60, TimeUnit.SECONDS), "an fdatasync started");
            behind.finish();
            assertTrue(channel.forces.get() >= 1);
        }
    }

    @Test
    void aFailedBackgroundFdatasyncFailsTheSealEvenIfTheLastFsyncWouldNot() throws Exception {
        try (ForceWatch channel = new ForceWatch(open("failing"), true)) {
            WriteBehind behind = new WriteBehind(channel);
            behind.advanced(WriteBehind.STEP);
            assertTrue(channel.forced.await(60, TimeUnit.SECONDS), "an fdatasync started");
            IOException e = assertThrows(IOException.class, behind::finish);
            assertTrue(e.getMessage().contains("EIO from the test"), e.getMessage());
        }
    }

    private FileChannel open(String name) throws IOException {
        return FileChannel.open(temp.resolve(name), StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.READ);
    }

    /** A real file channel that counts its forces and, when asked, fails them as a disk error would. */
    private static final class ForceWatch extends FileChannel {
        final FileChannel real;
        final boolean fail;
        final AtomicInteger forces = new AtomicInteger();
        final CountDownLatch forced = new CountDownLatch(1);

        ForceWatch(FileChannel real, boolean fail) {
            this.real = real;
            this.fail = fail;
        }

        @Override
        public void force(boolean metaData) throws IOException {
            forces.incrementAndGet();
            forced.countDown();
            if (fail) {
                throw new IOException("EIO from the test");
            }
            real.force(metaData);
        }

        @Override public int read(ByteBuffer dst) throws IOException { return real.read(dst); }
        @Override public long read(ByteBuffer[] dsts, int offset, int length) throws IOException { return real.read(dsts, offset, length); }
        @Override public int write(ByteBuffer src) throws IOException { return real.write(src); }
        @Override public long write(ByteBuffer[] srcs, int offset, int length) throws IOException { return real.write(srcs, offset, length); }
        @Override public long position() throws IOException { return real.position(); }
        @Override public FileChannel position(long p) throws IOException { real.position(p); return this; }
        @Override public long size() throws IOException { return real.size(); }
        @Override public FileChannel truncate(long size) throws IOException { real.truncate(size); return this; }
        @Override public long transferTo(long position, long count, WritableByteChannel target) throws IOException { return real.transferTo(position, count, target); }
        @Override public long transferFrom(ReadableByteChannel src, long position, long count) throws IOException { return real.transferFrom(src, position, count); }
        @Override public int read(ByteBuffer dst, long position) throws IOException { return real.read(dst, position); }
        @Override public int write(ByteBuffer src, long position) throws IOException { return real.write(src, position); }
        @Override public MappedByteBuffer map(MapMode mode, long position, long size) throws IOException { return real.map(mode, position, size); }
        @Override public FileLock lock(long position, long size, boolean shared) throws IOException { return real.lock(position, size, shared); }
        @Override public FileLock tryLock(long position, long size, boolean shared) throws IOException { return real.tryLock(position, size, shared); }
        @Override protected void implCloseChannel() throws IOException { real.close(); }
    }
}
