package dev.dcd.backend.nfs;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** How a read is cut into pieces for the workers (each piece read with its READs pipelined on one connection), and how many workers read. */
class NfsDevicePiecesTest {
    private static final int MIB_CHUNKS = NfsDevice.PIECE_CHUNKS;

    @Test
    void aReadaheadWindowIsSpreadOverEveryWorker() {
        assertEquals(2 * MIB_CHUNKS, NfsDevice.pieceChunks(16 * MIB_CHUNKS, 8), "16 MiB on 8 workers: 2 MiB each");
        assertEquals(4 * MIB_CHUNKS, NfsDevice.pieceChunks(8 * MIB_CHUNKS, 2), "8 MiB on 2 workers: 4 MiB each");
    }

    @Test
    void aPieceIsNeverLessThanOneReadNorMoreThanOneWorkerPipelines() {
        assertEquals(MIB_CHUNKS, NfsDevice.pieceChunks(2, 8), "a 128 KiB read is one piece of at most one READ");
        assertEquals(MIB_CHUNKS, NfsDevice.pieceChunks(4 * MIB_CHUNKS, 8), "4 MiB on 8 workers: 1 MiB pieces");
        assertEquals(NfsDevice.MAX_PIECE_CHUNKS, NfsDevice.pieceChunks(64 * MIB_CHUNKS, 8), "capped at the pipeline");
        assertEquals(NfsSession.MAX_READS_IN_FLIGHT * MIB_CHUNKS, NfsDevice.MAX_PIECE_CHUNKS);
    }

    @Test
    void theNaiveSingleWorkerLoopOfOneMibReadsStaysOneReadAtATime() {
        assertEquals(MIB_CHUNKS, NfsDevice.pieceChunks(MIB_CHUNKS, 1));
    }

    @Test
    void withoutReadParallelismTheWorkerCountFollowsTheLinksLatency() {
        NfsConfig auto = NfsConfig.parse(java.net.URI.create("nfs://filer/srv/apps"));
        long fast = NfsBackend.FAST_LINK_NANOS - 1;
        long slow = NfsBackend.FAST_LINK_NANOS;
        assertEquals(NfsBackend.FAST_LINK_WORKERS, NfsBackend.workersFor(auto, fast), "a server close by: few workers");
        assertEquals(8, NfsBackend.workersFor(auto, slow), "requests that take long: the most workers");
        NfsConfig given = NfsConfig.parse(java.net.URI.create("nfs://filer/srv/apps?read-parallelism=5"));
        assertEquals(5, NfsBackend.workersFor(given, fast), "a count the URI names is kept");
        assertEquals(5, NfsBackend.workersFor(given, slow));
    }
}
