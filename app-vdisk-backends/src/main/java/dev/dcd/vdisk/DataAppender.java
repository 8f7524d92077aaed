package dev.dcd.vdisk;

import dev.dcd.concurrent.Uninterruptibly;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;

/**
 * Appends a vdisk's data region: the caller's thread reads each file's bytes straight into a buffer and hashes
 * and checksums them there, and a thread of its own writes the full buffers to the file in order, so that
 * the copy into the page cache (as much CPU as the hashing) runs beside the reading on a second core.
 *
 * <p>Each buffer starts at a {@link VdiskFormat#CHECKSUM_CHUNK} boundary of the data region, so when a file
 * turns out to be a duplicate and the end moves back into the current buffer, the bytes that the last
 * chunk's checksum must be computed again from are still in it; only a move back past the current buffer
 * waits for the writes and reads that chunk back from the file. Small vdisks (one buffer) are written by the
 * caller's thread at the end, without starting any thread.
 */
final class DataAppender {
    /** Bytes per buffer: a multiple of the checksum chunk. */
    static final int BUFFER = 16 * VdiskFormat.CHECKSUM_CHUNK;
    /** Buffers in flight: one being filled, the others queued or being written. */
    private static final int BUFFERS = 3;

    private final FileChannel channel;
    private final String what;
    private final long base;
    private final ChunkCrcs crcs;
    private final WriteBehind writeBehind;
    private final BlockingQueue<byte[]> free = new ArrayBlockingQueue<>(BUFFERS);
    private final BlockingQueue<Write> writes = new ArrayBlockingQueue<>(BUFFERS + 1);
    private int allocated = 1;
    private byte[] buffer = new byte[BUFFER];
    /** File offset of {@code buffer[0]}: always a chunk boundary of the data region. */
    private long bufferStart;
    private int length;
    private Thread thread;
    private long queued;
    // guarded by this
    private long written;
    private IOException failure;

    private record Write(byte[] bytes, long at, int length) {
        static final Write STOP = new Write(null, 0, 0);
    }

    /** @param base the file offset where the data region starts, a block boundary */
    DataAppender(FileChannel channel, String what, long base) {
        this.channel = channel;
        this.what = what;
        this.base = base;
        this.crcs = new ChunkCrcs(base);
        this.writeBehind = new WriteBehind(channel);
        this.bufferStart = base;
    }

    /** The file offset where the next byte goes. */
    long position() {
        return bufferStart + length;
    }

    /**
     * Reads the next bytes of {@code in} into the region, adding them to {@code digest}; returns how many, or
     * -1 at the end of the stream.
     */
    int read(InputStream in, MessageDigest digest) throws IOException {
        if (length == BUFFER) {
            handOff();
        }
        int n = in.read(buffer, length, BUFFER - length);
        if (n > 0) {
            digest.update(buffer, length, n);
            crcs.append(buffer, length, n);
            length += n;
        }
        return n;
    }

    /** Appends {@code count} zero bytes. */
    void zeros(int count) throws IOException {
        while (count > 0) {
            if (length == BUFFER) {
                handOff();
            }
            int n = Math.min(count, BUFFER - length);
            Arrays.fill(buffer, length, length + n, (byte) 0);
            crcs.append(buffer, length, n);
            length += n;
            count -= n;
        }
    }

    /** The region ends at {@code end} again (a file just appended was empty or a duplicate); {@code end} is not past the end. */
    void rollBack(long end) throws IOException {
        long chunkStart = base + (end - base) / VdiskFormat.CHECKSUM_CHUNK * VdiskFormat.CHECKSUM_CHUNK;
        if (end < bufferStart) {
            // Back past what this buffer holds (a duplicate bigger than the buffer): the chunk's head is in the
            // file, once the writes queued so far have landed. Rewriting those bytes later rewrites the same bytes.
            drain();
            bufferStart = chunkStart;
            ByteBuffer head = ByteBuffer.wrap(buffer, 0, (int) (end - chunkStart));
            dev.dcd.block.FileBlockDevice.readFully(channel, chunkStart, head, what);
        }
        length = (int) (end - bufferStart);
        crcs.cutTo(end, buffer, (int) (chunkStart - bufferStart));
    }

    /** Writes what is left, waits for every write, and returns one CRC32C per chunk of the region. */
    int[] finish() throws IOException {
        if (thread == null) {
            writeFully(buffer, bufferStart, length);
        } else {
            if (length > 0) {
                queue();
            }
            drain();
            stopThread();
        }
        writeBehind.finish();
        return crcs.finish();
    }

    /** Stops the threads without writing what is left (the vdisk is being abandoned). */
    void abandon() {
        stopThread();
        writeBehind.stop();
    }

    private void handOff() throws IOException {
        long next = position();
        queue();
        buffer = takeFree();
        bufferStart = next;
        length = 0;
    }

    private void queue() throws IOException {
        failIfFailed();
        if (thread == null) {
            thread = new Thread(this::run, "dcd-vdisk-writer");
            thread.setDaemon(true);
            thread.start();
        }
        queued++;
        putWrite(new Write(buffer, bufferStart, length));
    }

    private byte[] takeFree() throws IOException {
        byte[] next = free.poll();
        if (next != null) {
            return next;
        }
        if (allocated < BUFFERS) {
            allocated++;
            return new byte[BUFFER];
        }
        try {
            next = free.take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while writing " + what);
        }
        failIfFailed();
        return next;
    }

    private void putWrite(Write write) throws IOException {
        try {
            writes.put(write); // never blocks long: the queue holds more than all buffers
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while writing " + what);
        }
    }

    /** Waits until every queued buffer is in the file; throws what a write failed with. */
    private synchronized void drain() throws IOException {
        Uninterruptibly.await(this, () -> written >= queued || failure != null);
        failIfFailed();
    }

    private synchronized void failIfFailed() throws IOException {
        if (failure != null) {
            throw new IOException("writing " + what + " failed: " + failure.getMessage(), failure);
        }
    }

    private void stopThread() {
        Thread running = thread;
        if (running == null) {
            return;
        }
        thread = null;
        Uninterruptibly.put(writes, Write.STOP);
        Uninterruptibly.join(running);
    }

    private void run() {
        while (true) {
            Write write;
            try {
                write = writes.take();
            } catch (InterruptedException e) {
                return; // nobody else holds this thread
            }
            if (write == Write.STOP) {
                return;
            }
            IOException failed = null;
            try {
                if (!hasFailed()) {
                    writeFully(write.bytes(), write.at(), write.length());
                    writeBehind.advanced(write.at() + write.length());
                }
            } catch (IOException e) {
                failed = e;
            } catch (RuntimeException e) {
                failed = new IOException(e.toString(), e);
            }
            free.offer(write.bytes());
            synchronized (this) {
                if (failed != null && failure == null) {
                    failure = failed;
                }
                written++;
                notifyAll();
            }
        }
    }

    private synchronized boolean hasFailed() {
        return failure != null;
    }

    private void writeFully(byte[] bytes, long at, int count) throws IOException {
        ByteBuffer src = ByteBuffer.wrap(bytes, 0, count);
        while (src.hasRemaining()) {
            at += channel.write(src, at);
        }
    }
}
