package dev.dcd.filter;

import dev.dcd.synth.RegionMap;
import dev.dcd.synth.RegionMapBuilder;
import dev.dcd.vdisk.ContentId;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class StatsFilterTest {
    private static final ContentId A = ContentId.of(new byte[32]);
    private static final ContentId B;

    static {
        byte[] b = new byte[32];
        b[0] = 1;
        B = ContentId.of(b);
    }

    private static final RegionMap MAP = new RegionMapBuilder(1 << 20, List.of(A, B))
            .metadata(0, 4096)
            .appData(4096, 8192, 0, 4096)
            .appData(12288, 4096, 1, 4096)
            .build();

    @Test
    void statsForwardsEveryCallbackAndCapabilityUnchanged() throws IOException {
        FilterTest.Recorder bottom = new FilterTest.Recorder();
        StatsFilter stats = new StatsFilter(bottom, "vm", MAP, List.of(), () -> 0);
        stats.read(1, ByteBuffer.allocate(2));
        stats.write(3, ByteBuffer.allocate(4));
        stats.flush();
        stats.trim(5, 6);
        stats.zero(7, 8);
        stats.extents(9, 10);
        stats.close();
        assertEquals(List.of("read 1 2", "write 3 4", "flush", "trim 5 6", "zero 7 8", "extents 9 10", "close"),
                bottom.calls);
        assertEquals(bottom.capabilities(), stats.capabilities());
    }

    @Test
    void aReadSpanningTwoAppsCountsForEachAndTheirBackends() throws IOException {
        FilterTest.Recorder bottom = new FilterTest.Recorder();
        StatsFilter stats = new StatsFilter(bottom, "vm", MAP,
                List.of(new VdiskLabel("a@1", "s3"), new VdiskLabel("b@2", "s3")), () -> 0);
        stats.read(0, ByteBuffer.allocate(16384)); // 4K metadata, 8K of a, 4K of b
        StatsSnapshot s = stats.snapshot();
        assertEquals(List.of(new StatsSnapshot.GroupStats("a@1", 1, 8192, s.apps().get(0).p50Nanos(),
                        s.apps().get(0).p99Nanos()),
                new StatsSnapshot.GroupStats("b@2", 1, 4096, s.apps().get(1).p50Nanos(), s.apps().get(1).p99Nanos())),
                s.apps());
        assertEquals(1, s.backends().size());
        assertEquals(2, s.backends().get(0).reads());
        assertEquals(12288, s.backends().get(0).bytes());
    }

    @Test
    void failedRequestsCountAsErrorsWithoutBytes() {
        FilterTest.Recorder bottom = new FilterTest.Recorder() {
            @Override
            public void flush() {
                throw new IllegalStateException("boom");
            }
        };
        StatsFilter stats = new StatsFilter(bottom, "vm", MAP, List.of(), () -> 0);
        assertThrows(IllegalStateException.class, stats::flush);
        assertEquals(1, stats.snapshot().op("flush").errors());
    }

    @Test
    void percentilesAreBucketUpperBounds() {
        long[] counts = new long[LatencyHistogram.BUCKETS];
        counts[LatencyHistogram.bucketOf(1000)] = 98;    // 1 us
        counts[LatencyHistogram.bucketOf(1_000_000)] = 2; // 1 ms
        assertEquals(1024, LatencyHistogram.percentile(counts, 0.50));
        assertEquals(1L << 20, LatencyHistogram.percentile(counts, 0.99));
        assertEquals(0, LatencyHistogram.percentile(new long[LatencyHistogram.BUCKETS], 0.5));
    }
}
