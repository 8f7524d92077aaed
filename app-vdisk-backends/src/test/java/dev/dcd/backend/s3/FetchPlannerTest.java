package dev.dcd.backend.s3;

import dev.dcd.backend.s3.FetchPlanner.Piece;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

class FetchPlannerTest {
    @Test
    void aSmallReadIsWidenedToItsAlignedFetchUnit() {
        assertEquals(List.of(new Piece(4, 8)), FetchPlanner.plan(5, 5, c -> false, 4, 32, 100));
        assertEquals(List.of(new Piece(4, 12)), FetchPlanner.plan(6, 9, c -> false, 4, 32, 100));
    }

    @Test
    void wideningStopsAtTheEndOfTheObject() {
        assertEquals(List.of(new Piece(8, 10)), FetchPlanner.plan(9, 9, c -> false, 4, 32, 10));
    }

    @Test
    void wideningStopsAtChunksAlreadyBufferedOrInFlight() {
        Set<Integer> have = Set.of(4, 7);
        assertEquals(List.of(new Piece(5, 7)), FetchPlanner.plan(5, 5, have::contains, 4, 32, 100));
    }

    @Test
    void chunksAlreadyAvailableSplitTheReadIntoSeparateFetches() {
        Set<Integer> have = Set.of(10, 11);
        assertEquals(List.of(new Piece(8, 10), new Piece(12, 16)),
                FetchPlanner.plan(9, 13, have::contains, 4, 32, 100));
    }

    @Test
    void aFullyAvailableReadFetchesNothing() {
        assertEquals(List.of(), FetchPlanner.plan(3, 7, c -> true, 4, 32, 100));
    }

    @Test
    void aLargeReadIsSplitIntoNearEqualPiecesNoLargerThanThePieceSize() {
        List<Piece> pieces = FetchPlanner.plan(0, 99, c -> false, 4, 32, 100);
        assertEquals(List.of(new Piece(0, 25), new Piece(25, 50), new Piece(50, 75), new Piece(75, 100)), pieces);
        List<Piece> uneven = new ArrayList<>();
        FetchPlanner.split(0, 70, 32, uneven);
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
            int piece = unit + random.nextInt(40);
            boolean[] covered = new boolean[count];
            for (Piece p : FetchPlanner.plan(first, last, c -> have[c], unit, piece, count)) {
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
