package dev.dcd.nbd;

import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The direct read buffers of one server, shared by its connections' workers: a worker borrows one on its
 * first read and gives it back when its connection ends, so a new connection reads into buffers an earlier one
 * already paid for. A fresh direct buffer costs its zeroing and a page fault per page (about 1,000 for
 * 4 MiB), which a client that connects per job (a guest booting, an nbdcopy) would otherwise pay on every
 * connection, on the same two cores as its own work.
 */
final class ReadBuffers {
    /** The capacity of every buffer: reads up to this size go through one (larger ones get a heap buffer). */
    static final int CAPACITY = 4 << 20;

    private final int keep;
    /** Most recently given back first: its pages are the likeliest to still be in the CPU caches. */
    private final ConcurrentLinkedDeque<ByteBuffer> free = new ConcurrentLinkedDeque<>();
    private final AtomicInteger kept = new AtomicInteger();
    private final AtomicInteger allocated = new AtomicInteger();

    /** Keeps at most {@code keep} idle buffers; more given back are left to the collector. */
    ReadBuffers(int keep) {
        if (keep < 0) {
            throw new IllegalArgumentException("keep must not be negative");
        }
        this.keep = keep;
    }

    /** An idle buffer if there is one, else a new one; cleared, of {@link #CAPACITY} bytes. */
    ByteBuffer take() {
        ByteBuffer b = free.pollFirst();
        if (b != null) {
            kept.decrementAndGet();
            return b.clear();
        }
        allocated.incrementAndGet();
        return ByteBuffer.allocateDirect(CAPACITY);
    }

    /** Gives back a buffer from {@link #take}; the caller no longer touches it. Null is ignored. */
    void give(ByteBuffer buffer) {
        if (buffer == null) {
            return;
        }
        if (buffer.capacity() != CAPACITY || !buffer.isDirect()) {
            throw new IllegalArgumentException("not a buffer of this pool");
        }
        if (kept.incrementAndGet() <= keep) {
            free.offerFirst(buffer);
        } else {
            kept.decrementAndGet();
        }
    }

    /** Buffers allocated so far (for tests and the log). */
    int allocated() {
        return allocated.get();
    }

    /** Idle buffers held now. */
    int idle() {
        return kept.get();
    }
}
