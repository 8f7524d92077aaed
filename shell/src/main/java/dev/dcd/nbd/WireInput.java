package dev.dcd.nbd;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;

/**
 * Buffered, exact reads from a channel. Not a stream over the channel: {@code Channels.newInputStream} of a
 * socket channel locks the channel for the whole blocking read, which would stall the workers' replies.
 */
final class WireInput {
    private final ReadableByteChannel channel;
    private final ByteBuffer buffer = ByteBuffer.allocate(64 << 10).flip();

    WireInput(ReadableByteChannel channel) {
        this.channel = channel;
    }

    int readInt() throws IOException {
        return read(4).getInt();
    }

    long readLong() throws IOException {
        return read(8).getLong();
    }

    /** A new buffer holding the next {@code n} bytes, positioned at 0. */
    ByteBuffer read(int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        readFully(b);
        return b.flip();
    }

    /** Fills {@code dst}; large reads bypass the buffer. */
    void readFully(ByteBuffer dst) throws IOException {
        drain(dst);
        while (dst.hasRemaining()) {
            if (dst.remaining() >= buffer.capacity()) {
                if (channel.read(dst) < 0) {
                    throw new EOFException("the client closed the connection");
                }
            } else {
                fill();
                drain(dst);
            }
        }
    }

    /** Like {@link #readFully}, but false when the peer closed before sending the first byte. */
    boolean readFullyOrEnd(ByteBuffer dst) throws IOException {
        if (!buffer.hasRemaining()) {
            buffer.clear();
            int n;
            try {
                n = channel.read(buffer);
            } finally {
                buffer.flip();
            }
            if (n < 0) {
                return false;
            }
        }
        readFully(dst);
        return true;
    }

    /** Reads and drops {@code n} bytes. */
    void skip(long n) throws IOException {
        long left = n;
        while (left > 0) {
            if (!buffer.hasRemaining()) {
                fill();
            }
            int k = (int) Math.min(left, buffer.remaining());
            buffer.position(buffer.position() + k);
            left -= k;
        }
    }

    private void drain(ByteBuffer dst) {
        int k = Math.min(dst.remaining(), buffer.remaining());
        if (k > 0) {
            dst.put(dst.position(), buffer, buffer.position(), k);
            dst.position(dst.position() + k);
            buffer.position(buffer.position() + k);
        }
    }

    private void fill() throws IOException {
        buffer.compact();
        try {
            if (channel.read(buffer) < 0) {
                throw new EOFException("the client closed the connection");
            }
        } finally {
            buffer.flip();
        }
    }
}
