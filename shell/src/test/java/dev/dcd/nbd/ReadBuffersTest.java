package dev.dcd.nbd;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ReadBuffersTest {
    @Test
    void aBufferGivenBackIsTheNextOneTakenClearedAndNothingNewIsAllocated() {
        ReadBuffers pool = new ReadBuffers(2);
        ByteBuffer first = pool.take();
        assertTrue(first.isDirect());
        assertEquals(ReadBuffers.CAPACITY, first.capacity());
        first.position(10).limit(20);
        pool.give(first);
        ByteBuffer again = pool.take();
        assertSame(first, again);
        assertEquals(0, again.position());
        assertEquals(ReadBuffers.CAPACITY, again.limit());
        assertEquals(1, pool.allocated());
        assertEquals(0, pool.idle());
    }

    @Test
    void atMostKeepIdleBuffersAreHeldAndTheRestLeftToTheCollector() {
        ReadBuffers pool = new ReadBuffers(2);
        ByteBuffer a = pool.take();
        ByteBuffer b = pool.take();
        ByteBuffer c = pool.take();
        assertNotSame(a, b);
        assertEquals(3, pool.allocated());
        pool.give(a);
        pool.give(b);
        pool.give(c);
        assertEquals(2, pool.idle());
        pool.take();
        pool.take();
        assertEquals(0, pool.idle());
        pool.take();
        assertEquals(4, pool.allocated(), "the third idle buffer was not kept");
    }

    @Test
    void nothingButItsOwnBuffersGoesIn() {
        ReadBuffers pool = new ReadBuffers(1);
        pool.give(null);
        assertEquals(0, pool.idle());
        assertThrows(IllegalArgumentException.class, () -> pool.give(ByteBuffer.allocate(ReadBuffers.CAPACITY)));
        assertThrows(IllegalArgumentException.class, () -> pool.give(ByteBuffer.allocateDirect(4096)));
        assertThrows(IllegalArgumentException.class, () -> new ReadBuffers(-1));
    }
}
