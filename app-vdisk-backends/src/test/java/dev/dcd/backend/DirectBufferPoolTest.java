package dev.dcd.backend;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;

import static org.junit.jupiter.api.Assertions.*;

class DirectBufferPoolTest {
    @Test
    void aReturnedBufferIsLentAgainClearedSoSequentialReadsAllocateOnce() {
        DirectBufferPool pool = new DirectBufferPool(4096, 2);
        ByteBuffer first = pool.acquire();
        assertTrue(first.isDirect());
        assertEquals(4096, first.capacity());
        first.put(new byte[100]).limit(200);
        pool.release(first);
        for (int i = 0; i < 50; i++) {
            ByteBuffer b = pool.acquire();
            assertSame(first, b);
            assertEquals(0, b.position());
            assertEquals(4096, b.limit());
            pool.release(b);
        }
        assertEquals(1, pool.allocated());
    }

    @Test
    void concurrentBorrowersGetDistinctBuffersAndOnlyTheRetainedNumberIsKept() {
        DirectBufferPool pool = new DirectBufferPool(1024, 2);
        ByteBuffer a = pool.acquire();
        ByteBuffer b = pool.acquire();
        ByteBuffer c = pool.acquire();
        assertNotSame(a, b);
        assertNotSame(b, c);
        assertEquals(3, pool.allocated());
        pool.release(a);
        pool.release(b);
        pool.release(c); // over the limit: dropped
        ByteBuffer x = pool.acquire();
        ByteBuffer y = pool.acquire();
        ByteBuffer z = pool.acquire();
        assertEquals(4, pool.allocated(), "two came from the pool, one was new");
        assertTrue((x == a || x == b) && (y == a || y == b) && z != c);
    }

    @Test
    void aForeignBufferIsRefused() {
        DirectBufferPool pool = new DirectBufferPool(1024, 1);
        assertThrows(IllegalArgumentException.class, () -> pool.release(ByteBuffer.allocate(1024)));
        assertThrows(IllegalArgumentException.class, () -> pool.release(ByteBuffer.allocateDirect(512)));
    }
}
