package dev.dcd.backend.nfs;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** How a read is cut into pieces for the workers, each piece read with its READs pipelined on one connection. */
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
}
