package dev.dcd.shell;

import java.io.PrintWriter;
import java.io.Writer;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntSupplier;

/**
 * Renders text tables: left-aligned columns, numeric columns right-aligned, two spaces between columns.
 * When the output is a terminal (a {@link TerminalWriter}), rows are fitted to its width by shortening the
 * widest text columns and ending cut cells with an ellipsis; numbers are never cut. Pipes and files get
 * full rows, so {@code grep} and scripts see every character.
 */
public final class Table {
    static final String ELLIPSIS = "…";
    /** A text column is never squeezed below this many characters (or its natural width, if smaller). */
    static final int MIN_COLUMN = 6;
    /** When even that does not fit: one character and the ellipsis. */
    static final int LAST_RESORT_COLUMN = 2;
    static final String GAP = "  ";

    private Table() {
    }

    /** The width rows must fit in, or 0 when unlimited (not a terminal). */
    public static int width(PrintWriter out) {
        if (out instanceof TerminalWriter terminal) {
            int width = terminal.width();
            return Math.max(width, 0);
        }
        return 0;
    }

    /** Lines of the table, header first, each fitting {@code width} characters when {@code width > 0}. */
    public static List<String> render(String[] header, boolean[] right, List<String[]> rows, int width) {
        int n = header.length;
        int[] natural = new int[n];
        for (int i = 0; i < n; i++) {
            natural[i] = length(header[i]);
            for (String[] row : rows) {
                natural[i] = Math.max(natural[i], length(row[i]));
            }
        }
        int[] w = natural.clone();
        if (width > 0) {
            // One column short of the edge: a line exactly as wide as the terminal wraps on some terminals.
            int overflow = total(w) - (width - 1);
            overflow = shrink(w, natural, right, overflow, MIN_COLUMN);
            shrink(w, natural, right, overflow, LAST_RESORT_COLUMN);
        }
        List<String> lines = new ArrayList<>(rows.size() + 1);
        lines.add(line(header, right, w));
        for (String[] row : rows) {
            lines.add(line(row, right, w));
        }
        return lines;
    }

    public static void print(PrintWriter out, String[] header, boolean[] right, List<String[]> rows) {
        for (String line : render(header, right, rows, width(out))) {
            out.println(line);
        }
        out.flush();
    }

    /** Takes one character at a time from the widest text column; returns what is still too wide. */
    private static int shrink(int[] w, int[] natural, boolean[] right, int overflow, int floor) {
        while (overflow > 0) {
            int widest = -1;
            for (int i = 0; i < w.length; i++) {
                if (!right[i] && w[i] > Math.min(floor, natural[i]) && (widest < 0 || w[i] > w[widest])) {
                    widest = i;
                }
            }
            if (widest < 0) {
                return overflow; // only numbers left: the terminal wraps the rest
            }
            w[widest]--;
            overflow--;
        }
        return 0;
    }

    private static int total(int[] w) {
        int sum = GAP.length() * (w.length - 1);
        for (int x : w) {
            sum += x;
        }
        return sum;
    }

    private static String line(String[] cells, boolean[] right, int[] w) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < cells.length; i++) {
            boolean last = i == cells.length - 1;
            String cell = fit(cells[i], w[i]);
            int pad = w[i] - length(cell);
            if (right[i]) {
                b.append(" ".repeat(pad)).append(cell);
            } else {
                b.append(cell);
                if (!last) {
                    b.append(" ".repeat(pad));
                }
            }
            if (!last) {
                b.append(GAP);
            }
        }
        return b.toString().stripTrailing();
    }

    static String fit(String cell, int width) {
        if (length(cell) <= width) {
            return cell;
        }
        int keep = Math.max(0, width - 1);
        return cell.substring(0, cell.offsetByCodePoints(0, keep)) + ELLIPSIS;
    }

    private static int length(String s) {
        return s.codePointCount(0, s.length());
    }

    /** A writer that knows the width of the terminal behind it; the interactive shell hands these to commands. */
    public static class TerminalWriter extends PrintWriter {
        private final IntSupplier width;

        public TerminalWriter(Writer target, IntSupplier width) {
            super(target, true);
            this.width = width;
        }

        public int width() {
            return width.getAsInt();
        }
    }
}
