package dev.dcd.backend.s3;

import dev.dcd.backend.s3.FetchPlanner.Piece;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

class FetchPlannerTest {
    /** Pieces of exactly one size limit, whatever the parallelism. */
    private static FetchPlanner.Shape fixed(int unit, int piece) {
        return new FetchPlanner.Shape(unit, piece, piece, 8);
    }

    @Test
    void aMediumReadIsSpreadOverTheParallelGetsButNoPieceGoesBelowTheMinimum() {
        FetchPlanner.Shape shape = new FetchPlanner.Shape(4, 16, 64, 8);
        List<Piece> four = new ArrayList<>();
        FetchPlanner.split(0, 64, shape, four);
        assertEquals(List.of(new Piece(0, 16), new Piece(16, 32), new Piece(32, 48), new Piece(48, 64)), four);
        List<Piece> eight = new ArrayList<>();
        FetchPlanner.split(0, 512, shape, eight);
        assertEquals(8, eight.size());
        assertTrue(eight.stream().allMatch(p -> p.count() == 64));
        List<Piece> sixteen = new ArrayList<>();
        FetchPlanner.split(0, 1024, shape, sixteen);
        assertEquals(16, sixteen.size(), "never longer than the maximum piece");
        List<Piece> one = new ArrayList<>();
        FetchPlanner.split(0, 8, shape, one);
        assertEquals(List.of(new Piece(0, 8)), one);
    }

    @Test
    void aSmallReadIsWidenedToItsAlignedFetchUnit() {
        assertEquals(List.of(new Piece(4, 8)), FetchPlanner.plan(5, 5, c -> false, fixed(4, 32), 100));
        assertEquals(List.of(new Piece(4, 12)), FetchPlanner.plan(6, 9, c -> false, fixed(4, 32), 100));
    }

    @Test
    void wideningStopsAtTheEndOfTheObject() {
        assertEquals(List.of(new Piece(8, 10)), FetchPlanner.plan(9, 9, c -> false, fixed(4, 32), 10));
    }

    @Test
    void wideningStopsAtChunksAlreadyBufferedOrInFlight() {
        Set<Integer> have = Set.of(4, 7);
        assertEquals(List.of(new Piece(5, 7)), FetchPlanner.plan(5, 5, have::contains, fixed(4, 32), 100));
    }

    @Test
    void chunksAlreadyAvailableSplitTheReadIntoSeparateFetches() {
        Set<Integer> have = Set.of(10, 11);
        assertEquals(List.of(new Piece(8, 10), new Piece(12, 16)),
                FetchPlanner.plan(9, 13, have::contains, fixed(4, 32), 100));
    }

    @Test
    void aFullyAvailableReadFetchesNothing() {
        assertEquals(List.of(), FetchPlanner.plan(3, 7, c -> true, fixed(4, 32), 100));
    }

    @Test
    void aLargeReadIsSplitIntoNearEqualPiecesNoLargerThanThePieceSize() {
        List<Piece> pieces = FetchPlanner.plan(0, 99, c -> false, fixed(4, 32), 100);
        assertEquals(List.of(new Piece(0, 25), new Piece(25, 50), new Piece(50, 75), new Piece(75, 100)), pieces);
        List<Piece> uneven = new ArrayList<>();
        FetchPlanner.split(0, 70, fixed(1, 32), uneven);
        assertEquals(List.of(new Piece(0, 24), new Piece(24, 47), new Piece(47, 70)), uneven);
    }

    @Test
    void piecesCoverExactlyTheMissingChunksAndNeverOverlap() {
        java.util.Random random = new java.util.Random(3);
        for (int round = 0; round < 500; round++) {
            int count = 1 + random.nextInt(200);
            int first = random.nextInt(count);
            int last = first + random.nextInt(count - first);
            boolean[] have = new boolean[count];
            for (int i = 0; i < count; i++) {
                have[i] = random.nextInt(4) == 0;
            }
            int unit = 1 + random.nextInt(8);
            int minPiece = unit + random.nextInt(20);
            int piece = minPiece + random.nextInt(40);
            FetchPlanner.Shape shape = new FetchPlanner.Shape(unit, minPiece, piece, 1 + random.nextInt(16));
            boolean[] covered = new boolean[count];
            for (Piece p : FetchPlanner.plan(first, last, c -> have[c], shape, count)) {
                assertTrue(p.count() <= piece);
                for (int c = p.first(); c < p.end(); c++) {
                    assertFalse(covered[c], "overlap at " + c);
                    assertFalse(have[c], "refetches available chunk " + c);
                    covered[c] = true;
                    if (c < first) {
                        assertEquals(first / unit, c / unit, "widened left beyond the first chunk's unit");
                    }
                    if (c > last) {
                        assertEquals(last / unit, c / unit, "widened right beyond the last chunk's unit");
                    }
                }
            }
            for (int c = first; c <= last; c++) {
                assertEquals(!have[c], covered[c], "chunk " + c);
            }
        }
    }
}
