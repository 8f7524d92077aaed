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

    /**
     * How reads become GETs, in chunks: a small read is widened to an aligned {@code unit}; a run is cut into
     * as many pieces as keeps {@code parallelism} GETs busy, as long as a piece stays at least {@code minPiece},
     * and always into pieces of at most {@code maxPiece}.
     */
    record Shape(int unit, int minPiece, int maxPiece, int parallelism) {
        Shape {
            if (unit < 1 || minPiece < unit || maxPiece < minPiece || parallelism < 1) {
                throw new IllegalArgumentException("bad fetch shape: unit " + unit + ", pieces " + minPiece + ".."
                        + maxPiece + ", parallelism " + parallelism);
            }
        }
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
     * @param shape       widening unit, piece sizes and parallelism, in chunks
     * @param chunkCount  chunks in the object's data region
     */
    static List<Piece> plan(int first, int last, IntPredicate available, Shape shape, int chunkCount) {
        if (first < 0 || last < first || last >= chunkCount) {
            throw new IllegalArgumentException("bad fetch plan request [" + first + ", " + last + "] of " + chunkCount + " chunks");
        }
        int unitChunks = shape.unit();
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
            split(run[0], run[1], shape, pieces);
        }
        return pieces;
    }

    /**
     * Cuts {@code [start, end)} into near-equal pieces (sizes differ by one chunk at most): enough to keep
     * {@code parallelism} GETs busy while each stays at least {@code minPiece}, and never longer than
     * {@code maxPiece}.
     */
    static void split(int start, int end, Shape shape, List<Piece> into) {
        int n = end - start;
        int count = Math.max(1, Math.max((n + shape.maxPiece() - 1) / shape.maxPiece(),
                Math.min(shape.parallelism(), n / shape.minPiece())));
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
