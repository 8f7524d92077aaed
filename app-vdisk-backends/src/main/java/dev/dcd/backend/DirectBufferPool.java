package dev.dcd.backend;

import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Direct buffers of one size, reused: a remote device reads every piece into one, so a socket reads straight into
 * it (a heap buffer costs the JDK a temporary direct buffer and a copy) and a cold pass allocates nothing per read.
 * At most {@code retained} idle buffers are kept; more may be lent at once (one per concurrent reader), the extras
 * are dropped when returned. Thread-safe.
 */
public final class DirectBufferPool {
    private final int bufferBytes;
    private final int retained;
    private final ConcurrentLinkedDeque<ByteBuffer> idle = new ConcurrentLinkedDeque<>();
    private final AtomicInteger idleCount = new AtomicInteger();
    private final AtomicInteger allocated = new AtomicInteger();

    public DirectBufferPool(int bufferBytes, int retained) {
        if (bufferBytes <= 0 || retained < 0) {
            throw new IllegalArgumentException("buffer size " + bufferBytes + ", retained " + retained);
        }
        this.bufferBytes = bufferBytes;
        this.retained = retained;
    }

    public int bufferBytes() {
        return bufferBytes;
    }

    /** A cleared buffer of {@link #bufferBytes()}; give it back with {@link #release} once nothing refers to it. */
    public ByteBuffer acquire() {
        ByteBuffer b = idle.pollFirst();
        if (b == null) {
            allocated.incrementAndGet();
            return ByteBuffer.allocateDirect(bufferBytes);
        }
        idleCount.decrementAndGet();
        return b.clear();
    }

    public void release(ByteBuffer b) {
        if (b == null || !b.isDirect() || b.capacity() != bufferBytes) {
            throw new IllegalArgumentException("not a buffer of this pool");
        }
        if (idleCount.incrementAndGet() <= retained) {
            idle.addFirst(b);
        } else {
            idleCount.decrementAndGet();
        }
    }

    /** Buffers allocated so far: stays at the peak number lent at once while reads reuse them. */
    public int allocated() {
        return allocated.get();
    }
}
