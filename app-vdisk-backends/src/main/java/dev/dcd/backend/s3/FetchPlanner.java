package dev.dcd.backend.s3;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntPredicate;

/**
 * Decides which ranged GETs serve a read, in units of checksum chunks (the smallest thing that can be verified).
 *
 * <p>Chunks already buffered or in flight are not fetched again (that is how concurrent readers of adjacent
 * chunks share one GET). A small read is widened to its aligned fetch unit, because one round trip costs far
 * more than the extra bytes and the neighbours are likely next. A large run is cut into near-equal pieces
 * that are fetched in parallel.
 */
final class FetchPlanner {
    private FetchPlanner() {
    }

    /** Chunks {@code [first, end)} fetched by one ranged GET. */
    record Piece(int first, int end) {
        Piece {
            if (first < 0 || end <= first) {
                throw new IllegalArgumentException("empty piece [" + first + ", " + end + ")");
            }
        }

        int count() {
            return end - first;
        }
    }

    /**
     * @param first       first chunk the read touches
     * @param last        last chunk the read touches (inclusive)
     * @param available   whether a chunk is buffered or already being fetched
     * @param unitChunks  a fetch is widened to this aligned unit, as far as the neighbours are not available
     * @param pieceChunks largest piece; longer runs are split into near-equal pieces no longer than this
     * @param chunkCount  chunks in the object's data region
     */
    static List<Piece> plan(int first, int last, IntPredicate available, int unitChunks, int pieceChunks, int chunkCount) {
        if (first < 0 || last < first || last >= chunkCount || unitChunks < 1 || pieceChunks < unitChunks) {
            throw new IllegalArgumentException("bad fetch plan request [" + first + ", " + last + "] of " + chunkCount
                    + " chunks, unit " + unitChunks + ", piece " + pieceChunks);
        }
        List<int[]> runs = new ArrayList<>();
        int c = first;
        while (c <= last) {
            if (available.test(c)) {
                c++;
                continue;
            }
            int start = c;
            while (c <= last && !available.test(c)) {
                c++;
            }
            int end = c;
            int unitStart = (start / unitChunks) * unitChunks;
            while (start > unitStart && !available.test(start - 1)) {
                start--;
            }
            int unitEnd = Math.min(((end - 1) / unitChunks + 1) * unitChunks, chunkCount);
            while (end < unitEnd && !available.test(end)) {
                end++;
            }
            if (!runs.isEmpty() && runs.get(runs.size() - 1)[1] >= start) {
                runs.get(runs.size() - 1)[1] = Math.max(runs.get(runs.size() - 1)[1], end);
            } else {
                runs.add(new int[] {start, end});
            }
            c = Math.max(c, end);
        }
        List<Piece> pieces = new ArrayList<>();
        for (int[] run : runs) {
            split(run[0], run[1], pieceChunks, pieces);
        }
        return pieces;
    }

    /** Cuts {@code [start, end)} into the fewest pieces of at most {@code max} chunks, sizes differing by one at most. */
    static void split(int start, int end, int max, List<Piece> into) {
        int n = end - start;
        int count = (n + max - 1) / max;
        int base = n / count;
        int extra = n % count;
        int at = start;
        for (int i = 0; i < count; i++) {
            int len = base + (i < extra ? 1 : 0);
            into.add(new Piece(at, at + len));
            at += len;
        }
    }
}
