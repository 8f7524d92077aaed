package dev.dcd.mount;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** RequestCounters counts requests and their time by opcode, and gives an interval's share by difference. */
class RequestCountersTest {
    @Test
    void anIntervalCountsOnlyWhatWasAnsweredInIt() {
        RequestCounters c = new RequestCounters();
        c.answered(FuseWire.LOOKUP, 5_000);
        RequestCounters.Snapshot before = c.snapshot();
        c.answered(FuseWire.LOOKUP, 7_000);
        c.answered(FuseWire.READ, 40_000);
        c.answered(FuseWire.READ, 60_000);
        c.diskRead(30_000);
        RequestCounters.Snapshot d = c.snapshot().minus(before);
        assertEquals(1, d.requests(FuseWire.LOOKUP));
        assertEquals(7_000, d.nanos(FuseWire.LOOKUP));
        assertEquals(2, d.requests(FuseWire.READ));
        assertEquals(107_000, d.totalNanos());
        assertEquals(30_000, d.diskReadNanos());
        assertEquals("LOOKUP 1 (7.0 us), READ 2 (50.0 us); in the server 0.1 ms, of which READ in the disk 0.0 ms",
                d.describe());
    }

    @Test
    void anOpcodeBeyondTheTableIsCountedNotLost() {
        RequestCounters c = new RequestCounters();
        c.answered(4096, 1_000); // CUSE_INIT
        assertEquals(1, c.snapshot().requests(4096));
    }
}
