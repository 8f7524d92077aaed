package dev.dcd.tests.bench;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** FuseTrace reads tracefs lines as the kernel prints them: one connection's requests, their round trips, idle time. */
class FuseTraceTest {
    private static final List<String> TRACE = List.of(
            "# entries-in-buffer/entries-written: 9/9   #P:2",
            " pool-5-thread-1-22734   [001] ...1. 100.000000: fuse_request_send: connection 40 req 2 opcode 1 (FUSE_LOOKUP) len 46 ",
            "    dcd-fuse-low-22025   [001] ..... 100.000010: fuse_request_end: connection 40 req 2 len 144 error 0",
            " pool-5-thread-1-22734   [001] ...1. 100.000020: fuse_request_send: connection 40 req 4 opcode 14 (FUSE_OPEN) len 48 ",
            " other-1                 [000] ...1. 100.000021: fuse_request_send: connection 41 req 4 opcode 15 (FUSE_READ) len 80 ",
            "  dcd-fuse-low-2-22027   [001] ..... 100.000025: fuse_request_end: connection 40 req 4 len 32 error 0",
            " pool-5-thread-1-22734   [001] ...2. 100.000100: fuse_request_send: connection 40 req 6 opcode 15 (FUSE_READ) len 80 ",
            " pool-5-thread-1-22734   [001] ...2. 100.000110: fuse_request_send: connection 40 req 8 opcode 15 (FUSE_READ) len 80 ",
            "  dcd-fuse-low-1-22026   [001] ..... 100.000140: fuse_request_end: connection 40 req 6 len 131088 error 0",
            "  dcd-fuse-low-3-22028   [001] ..... 100.000150: fuse_request_end: connection 40 req 8 len 4112 error 0");

    @Test
    void countsOneConnectionsRequestsTheirRoundTripsAndTheTimeNoneWasOutstanding() {
        FuseTrace.Summary s = FuseTrace.Summary.parse(TRACE, 40);
        assertEquals(1, s.counts().get("LOOKUP"));
        assertEquals(1, s.counts().get("OPEN"));
        assertEquals(2, s.counts().get("READ"), "connection 41's READ is another mount's");
        assertEquals(80_000, s.nanos().get("READ"), "40 us each, overlapping");
        assertEquals(1, s.readKiB().get(128L));
        assertEquals(1, s.readKiB().get(4L));
        assertEquals(150_000, s.spanNanos());
        assertEquals(10_000 + 75_000, s.idleNanos(), "10-20 us and 25-100 us had nothing outstanding");
        assertFalse(s.lost());
        assertEquals("LOOKUP 1 (1.0/file, 10.0 us), OPEN 1 (1.0/file, 5.0 us), READ 2 (2.0/file, 40.0 us, 66 KiB avg,"
                + " largest 128 KiB); span 0.2 ms, no request outstanding 0.1 ms", s.describe(1));
    }

    @Test
    void anOverflowedBufferIsReported() {
        FuseTrace.Summary s = FuseTrace.Summary.parse(List.of("# entries-in-buffer/entries-written: 9/12   #P:2"), 40);
        assertTrue(s.lost());
        assertTrue(s.describe(1).contains("OVERFLOWED"));
    }
}
